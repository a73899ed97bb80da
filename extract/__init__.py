"""Extraction: agency spreadsheets -> typed raw tables in DuckDB, with lineage and rejects."""
