"""Benchmarks, outside the product packages: `just bench <module>` runs `python -m bench.<module>`.

Each prints a table with the workload, the hardware (data.machine) and ratios against a baseline run in
the same process. `paper_recipe` (the paper's training step, a baseline) and `synthetic` (a paper-scale
warehouse, also the dashboard tests' fixture) are helpers, not benchmarks. Optional packages they need
(eai-sparsify, playwright) come from the `bench` and `dev` extras.
"""
