"""Benchmarks of the SAE trainer (`just bench train`, `just bench quality`); see README "Benchmarks"."""
