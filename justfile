# SAE Atlas recipes. `just --list` shows them all.
set positional-arguments

python := env_var_or_default("PYTHON", "python3")

default:
    @just --list

# Ingest a corpus (astro | cslg) and cache its embeddings: just data astro [--jsonl F ...] [--embeddings F ...] [--strict]
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

# Run the test suite (the default, CPU-only; needs the shared data, see README)
test *args:
    {{python}} -m pytest "$@"

# Train an SAE (conf/train.yaml) on a corpus (ingests/embeds first; cached embeddings are reused): just train astro [--model.k 64 ...]
train corpus *args: (data corpus)
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m trainer train "$@"

# Train the k x n grid of conf/sweep.yaml on a corpus: just sweep astro [--config grid.yaml] [--k '[16, 32]']
sweep corpus *args: (data corpus)
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m trainer sweep "$@"

# OMP_WAIT_POLICY=PASSIVE: on a shared, oversubscribed CPU, spinning OpenMP workers stall every small op.
# Benchmarks: just bench <name> [args]  (data-ingest, dashboard, train [--shape sae64|minilm], quality [--steps N], write, or evals/bench/<name>.py)
bench name *args:
    #!/usr/bin/env bash
    set -euo pipefail
    export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
    case "$1" in
        data-ingest) shift; {{python}} -m data.bench.ingest "$@" ;;
        dashboard) shift; {{python}} -m dashboard.bench "$@" ;;
        train) shift; {{python}} -m trainer.bench.train_step "$@" ;;
        quality) shift; {{python}} -m trainer.bench.quality "$@" ;;
        write) shift; {{python}} -m trainer.bench.write_activations "$@" ;;
        *) if [ -f "evals/bench/$1.py" ]; then name="$1"; shift; {{python}} -m "evals.bench.$name" "$@"
           else echo "unknown benchmark '$1'; known: data-ingest, dashboard, train, quality, write, $(ls evals/bench | sed -n 's/\.py$//p' | grep -v __init__ | paste -sd, -)" >&2; exit 2; fi ;;
    esac

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

# Retrieval fidelity of every SAE of a corpus (recall@10, nDCG@10 of search over reconstructions) -> fidelity
fidelity corpus *args:
    {{python}} -m evals.fidelity "$@"
