"""Benchmarks (`make bench`): same machine, same run, ratios against a baseline measured in that run."""
