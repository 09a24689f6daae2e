"""Corpus ingestion, embeddings and the DuckDB warehouse: the bottom layer of SAE Atlas."""
