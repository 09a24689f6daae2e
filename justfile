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

# Train an SAE on a corpus (ingests/embeds first; cached embeddings are reused): just train astro [--model.k 64 ...]
train corpus *args: (data corpus)
    {{python}} -m trainer train "$@"

# Train the k x n grid of conf/sweep.yaml on a corpus: just sweep astro [--grid F]
sweep corpus *args: (data corpus)
    {{python}} -m trainer sweep "$@"

# Run a benchmark and print its table: just bench write | train  (trainer/bench/, evals/bench/)
bench name *args:
    #!/usr/bin/env bash
    set -euo pipefail
    case "{{name}}" in
      write) module=trainer.bench.write_activations ;;
      train) module=trainer.bench.train_step ;;
      *) for pkg in trainer evals dashboard; do
           if [ -f "$pkg/bench/{{name}}.py" ]; then module="$pkg.bench.{{name}}"; fi
         done ;;
    esac
    if [ -z "${module:-}" ]; then echo "no benchmark named {{name}}" >&2; exit 2; fi
    shift
    exec {{python}} -m "$module" "$@"
