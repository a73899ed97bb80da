"""Great Expectations suites and the quality gates (per file before load, on the marts before publish)."""
