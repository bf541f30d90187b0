"""Prometheus text exposition of request counts, latency and cache use (no client library needed)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from itertools import accumulate

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        # Per endpoint, the observations that fell in each bucket alone (the last: above every bound);
        # the exposition's cumulative counts are summed when rendered, not on every request.
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1
            self.buckets[endpoint][bisect.bisect_left(BUCKETS, seconds)] += 1  # le: bound >= seconds
            self.sums[endpoint] += seconds
            self.counts[endpoint] += 1

    def render(self, cache_stats, sync_runs: dict[str, int]) -> str:
        lines = [
            "# HELP alx_http_requests_total API requests by endpoint and HTTP status.",
            "# TYPE alx_http_requests_total counter",
        ]
        with self._lock:
            for (endpoint, status), n in sorted(self.requests.items()):
                lines.append(f'alx_http_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
            lines += [
                "# HELP alx_http_request_duration_seconds Time to answer API requests.",
                "# TYPE alx_http_request_duration_seconds histogram",
            ]
            for endpoint in sorted(self.counts):
                cumulative = list(accumulate(self.buckets[endpoint]))[: len(BUCKETS)]
                for bound, n in zip(BUCKETS, cumulative, strict=True):
                    lines.append(
                        f'alx_http_request_duration_seconds_bucket{{endpoint="{endpoint}",le="{bound}"}} {n}'
                    )
                lines.append(
                    f'alx_http_request_duration_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} '
                    f"{self.counts[endpoint]}"
                )
                lines.append(
                    f'alx_http_request_duration_seconds_sum{{endpoint="{endpoint}"}} {self.sums[endpoint]:.6f}'
                )
                lines.append(
                    f'alx_http_request_duration_seconds_count{{endpoint="{endpoint}"}} {self.counts[endpoint]}'
                )
        lines += [
            "# HELP alx_cache_hits_total Response cache hits.",
            "# TYPE alx_cache_hits_total counter",
            f"alx_cache_hits_total {cache_stats.hits}",
            "# HELP alx_cache_misses_total Response cache misses.",
            "# TYPE alx_cache_misses_total counter",
            f"alx_cache_misses_total {cache_stats.misses}",
            "# HELP alx_cache_entries Entries in this process's response cache.",
            "# TYPE alx_cache_entries gauge",
            f"alx_cache_entries {cache_stats.entries}",
            "# HELP alx_cache_bytes Bytes of pages in this process's response cache (bounded by cache_max_mb).",
            "# TYPE alx_cache_bytes gauge",
            f"alx_cache_bytes {cache_stats.bytes}",
            "# HELP alx_sync_runs_total Sync runs recorded in the database, by status.",
            "# TYPE alx_sync_runs_total counter",
        ]
        for status, n in sorted(sync_runs.items()):
            lines.append(f'alx_sync_runs_total{{status="{status}"}} {n}')
        return "\n".join(lines) + "\n"
