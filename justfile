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

# Label and score the features of a stored SAE: just interpret astro [--llm|--offline] [--max-features N] [--sae-id ID]
interpret corpus *args:
    {{python}} -m evals.interp "$@"

# Benchmarks (rich tables: workload, hardware, ratios vs a same-process baseline): just bench interp | search
bench name *args:
    shift; {{python}} -m evals.bench.{{name}} "$@"

# Steering benchmark: SAE intervention vs query rewriting over a (u, d) grid -> steering_results, Pareto plot
steer-bench corpus *args:
    {{python}} -m evals.steering bench "$@"

# Retrieval fidelity of every SAE of a corpus (recall@10, nDCG@10 of search over reconstructions) -> fidelity
fidelity corpus *args:
    {{python}} -m evals.fidelity "$@"
