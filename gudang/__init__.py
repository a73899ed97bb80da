"""gudang: a planning data warehouse for Indonesian regional governments."""

__version__ = "0.1.0"
