"""Demo and test support: the real Moodle/IOMAD schema and a deterministic data generator."""
