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

# Label and score the features of a stored SAE: just interpret astro [--llm|--offline] [--max-features N] [--sae-id ID]
interpret corpus *args:
    {{python}} -m evals.interp "$@"

# Train an SAE on a corpus (ingests/embeds first; cached embeddings are reused): just train astro [--model.k 64 ...]
train corpus *args: (data corpus)
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m trainer train "$@"

# Train the k x n grid of conf/sweep.yaml on a corpus: just sweep astro [--grid F]
sweep corpus *args: (data corpus)
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" {{python}} -m trainer sweep "$@"

# OMP_WAIT_POLICY=PASSIVE: on a shared, oversubscribed CPU, spinning OpenMP workers stall every small op.
# Benchmarks (rich tables; see README): just bench train [--shape sae64|minilm] | quality [--steps N] | write | interp [--sae-id ID] | search
bench name *args:
    #!/usr/bin/env bash
    set -euo pipefail
    export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
    shift
    case "{{name}}" in
      train) exec {{python}} -m trainer.bench.train_step "$@" ;;
      quality) exec {{python}} -m trainer.bench.quality "$@" ;;
      write) exec {{python}} -m trainer.bench.write_activations "$@" ;;
      interp) exec {{python}} -m evals.bench.interp "$@" ;;
      search) exec {{python}} -m evals.bench.search "$@" ;;
      *) echo "unknown benchmark '{{name}}': use train, quality, write, interp or search" >&2; exit 2 ;;
    esac

# Steering benchmark: SAE intervention vs query rewriting over a (u, d) grid -> steering_results, Pareto plot
steer-bench corpus *args:
    {{python}} -m evals.steering bench "$@"

# Retrieval fidelity of every SAE of a corpus (recall@10, nDCG@10 of search over reconstructions) -> fidelity
fidelity corpus *args:
    {{python}} -m evals.fidelity "$@"
