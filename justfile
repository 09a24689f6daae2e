# SAE Atlas recipes. `just --list` shows them all.
set positional-arguments

python := env_var_or_default("PYTHON", "python3")

default:
    @just --list

# Ingest a corpus (astro | cslg) and cache its embeddings: just data astro [--jsonl F] [--embeddings F] [--strict]
data corpus *args:
    {{python}} -m data ingest "$@"

# Open a corpus warehouse in the DuckDB shell (read-only): just sql astro ["SELECT ..."]
sql corpus *query:
    #!/usr/bin/env bash
    db="${SAE_ATLAS_ARTIFACTS:-artifacts}/$1.duckdb"; shift
    if [ $# -gt 0 ]; then exec duckdb -readonly "$db" -c "$*"; else exec duckdb -readonly "$db"; fi

# Run the test suite (the default, CPU-only; needs the shared data, see README)
test *args:
    {{python}} -m pytest "$@"
