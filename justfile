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

# Label and score the features of a stored SAE: just interpret astro [--llm|--offline] [--max-features N] [--sae-id ID]
interpret corpus *args:
    {{python}} -m evals.interp "$@"

# Benchmarks (print a rich table): just bench interp [--corpus astro] [--sae-id ID] | just bench cooc [--docs N]
bench name *args:
    shift; {{python}} -m evals.bench.{{name}} "$@"
