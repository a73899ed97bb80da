"""Sample-data generator: realistic, messy agency files for a kab/kota or a province, plus a
ground-truth manifest so tests can check that the pipeline recovers the truth (see docs/sample.md)."""

from gudang.sample.orchestrate import generate

__all__ = ["generate"]
