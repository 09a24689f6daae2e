# SAE Atlas recipes. `just --list` shows them all.
set positional-arguments

python := env_var_or_default("PYTHON", "python3")

default:
    @just --list

# Ingest a corpus (astro | cslg) and cache its embeddings: just data astro [--jsonl F] [--embeddings F] [--strict]
data corpus *args:
    {{python}} -m data ingest "$@"

# Run the test suite (the default, CPU-only; needs the shared data, see README)
test *args:
    {{python}} -m pytest "$@"

# Feature families of every complete SAE of a corpus: just families astro [--sae-id N] [--llm no]
families corpus *args:
    {{python}} -m evals.families "$@"

# Feature splitting across the corpus's SAE sizes: just splits astro [--sae-id N ...] [--bins 20]
splits corpus *args:
    {{python}} -m evals.splits "$@"

# Benchmarks (rich table: workload, hardware, ratio vs a baseline): just bench cooc [--docs N]
bench name *args:
    #!/usr/bin/env bash
    set -euo pipefail
    case "$1" in
        cooc) shift; {{python}} -m evals.bench.cooc "$@" ;;
        *) echo "unknown benchmark '$1'; known: cooc" >&2; exit 2 ;;
    esac
