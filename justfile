# SAE Atlas recipes. `just --list` shows them all.
set positional-arguments

python := env_var_or_default("PYTHON", "python3")

default:
    @just --list

# Ingest a corpus and cache its embeddings: just data astro [--all] [--jsonl F ...] [--embeddings F ...] [--strict]; any collection: just data NAME --csv F --text-column C
data corpus *args:
    {{python}} -m data ingest "$@"

# Bring a warehouse written by an older SAE Atlas to this schema (the dashboard cannot): just migrate astro [--warehouse F]
migrate corpus *args:
    {{python}} -m data migrate "$@"

# Open a corpus warehouse in the DuckDB shell (read-only): just sql astro ["SELECT ..."]
sql corpus *query:
    #!/usr/bin/env bash
    db="${SAE_ATLAS_ARTIFACTS:-artifacts}/$1.duckdb"; shift
    if [ $# -gt 0 ]; then exec duckdb -readonly "$db" -c "$*"; else exec duckdb -readonly "$db"; fi

# Static checks: lint, formatting, types (data/, trainer/, evals/, dashboard/, bench/, tests/), layering (dashboard -> evals -> trainer -> data)
lint:
    ruff check .
    ruff format --check .
    mypy
    lint-imports

# Run the test suite (the default, CPU-only; needs the shared data, see README)
test *args:
    {{python}} -m pytest "$@"

# Train an SAE (conf/train.yaml) on a corpus (ingests/embeds first; cached embeddings are reused): just train astro [--model.k 64 ...]
train corpus *args: (data corpus)
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m trainer train "$@"

# The readable atlas in one command: train the sparse atlas SAE (--purpose atlas), label it, group families, print its card: just atlas astro [--llm no] [train options]
atlas corpus *args: (data corpus)
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m evals.atlas "$@"

# Train the architecture x n x k grid of conf/sweep.yaml, print the held-out Pareto table, mark the recommended SAE: just sweep astro [--config grid.yaml] [--no-train]
sweep corpus *args: (data corpus)
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m evals.sweep "$@"

# OMP_WAIT_POLICY=PASSIVE: on a shared, oversubscribed CPU, spinning OpenMP workers stall every small op.
# Benchmarks, one module each in bench/: just bench <name> [args]  (ingest, embed, train, quality, write, dashboard, cooc, interp, report, search, instruments)
bench name *args:
    #!/usr/bin/env bash
    set -euo pipefail
    export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
    name="$1"; shift
    helpers="__init__ paper_recipe synthetic"
    if [ -f "bench/$name.py" ] && [[ " $helpers " != *" $name "* ]]; then exec {{python}} -m "bench.$name" "$@"; fi
    echo "unknown benchmark '$name'; known: $(ls bench | sed -n 's/\.py$//p' | grep -vxF -e __init__ -e paper_recipe -e synthetic | paste -sd, -)" >&2
    exit 2

# Feature families of every complete SAE of a corpus: just families astro [--sae-id N] [--llm no]
families corpus *args:
    {{python}} -m evals.families "$@"

# Feature splitting across the corpus's SAE sizes: just splits astro [--sae-id N M ...] [--bins 20]
splits corpus *args:
    {{python}} -m evals.splits "$@"

# Label and score the features of a stored SAE: just interpret astro [--llm auto|yes|no] [--max-features N] [--sae-id ID]
interpret corpus *args:
    {{python}} -m evals.interp "$@"

# Explore runs, features, families and steer search in the browser: just dashboard [astro] [streamlit args]
dashboard corpus="astro" *args:
    #!/usr/bin/env bash
    export SAE_ATLAS_WAREHOUSE="${SAE_ATLAS_WAREHOUSE:-${SAE_ATLAS_ARTIFACTS:-artifacts}/$1.duckdb}"; shift || true
    exec {{python}} -m streamlit run dashboard/app.py "$@"

# Steering benchmark: SAE intervention vs query rewriting over a (u, d) grid -> steering_results, Pareto plot
steer-bench corpus *args:
    {{python}} -m evals.steering bench "$@"

# The quality card of one SAE, every number on the test split: just report astro [--sae-id N] [--json]
report corpus *args:
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m evals.report "$@"

# Retrieval fidelity of every SAE of a corpus (test documents as queries; recall@10, nDCG@10 over reconstructions) -> fidelity
fidelity corpus *args:
    {{python}} -m evals.fidelity "$@"

# Concept trends: monthly prevalence of every feature, trend test with FDR control -> trends, trend_months
trends corpus *args:
    {{python}} -m evals.trends "$@"

# Features that separate documents by a target (train split), tested on the test split: just contrast astro --target category=astro-ph.GA
contrast corpus *args:
    {{python}} -m evals.contrast "$@"

# Export an SAE for other tools: just export astro [--sae-id N] --format safetensors|sentence-transformers|parquet [--out DIR]
export corpus *args:
    {{python}} -m evals.export "$@"
