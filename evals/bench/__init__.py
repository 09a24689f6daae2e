"""Benchmarks (`just bench <name>`): a workload, the hardware, and ratios against a baseline."""
