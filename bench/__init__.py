"""The province-scale benchmark: ``python -m bench.run`` (``make bench``); see docs/benchmark.md."""
