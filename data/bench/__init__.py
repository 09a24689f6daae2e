"""Benchmarks of the data layer (`just bench data-ingest`)."""
