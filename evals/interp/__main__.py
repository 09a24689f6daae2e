"""`python -m evals.interp astro [--llm|--offline] [--llm-base-url URL] [--model M] [--max-features N] [--sae-id ID]`
(= `just interpret astro`)."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from data.settings import warehouse_path
from evals.interp.config import load_interp_config
from evals.interp.pipeline import RunReport, run_interpretation
from evals.interp.summary import METRICS
from evals.llm import llm_available


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="just interpret", description="Label and score the features of a stored SAE.")
    parser.add_argument("corpus", help="corpus name, e.g. astro (warehouse artifacts/<corpus>.duckdb)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--llm", action="store_true", help="force the LLM path (needs OPENAI_API_KEY)")
    mode.add_argument("--offline", action="store_true", help="force the offline phrase path (a proxy)")
    parser.add_argument("--max-features", type=int, default=None, help="interpret only latents 0..N-1 (those already done are skipped)")
    parser.add_argument("--llm-base-url", default=None,
                        help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama (no key needed)")
    parser.add_argument("--model", default=None, help="chat model for both explainer and predictor (e.g. qwen2.5:7b)")
    parser.add_argument("--sae-id", type=int, default=None, help="which SAE (default: the corpus's default SAE, the one with the most latents)")
    return parser.parse_args(argv)


def print_report(report: RunReport, console: Console) -> None:
    kind = "offline PROXY (phrases, not an LLM)" if report.is_proxy else "LLM"
    console.print(f"SAE {report.sae_id}: {kind} labels by [bold]{report.explainer}[/], scored by {report.predictor}: "
                  f"{report.interpreted} interpreted, {report.not_interpretable} too rarely/often active, {report.errors} errors, "
                  f"{report.skipped_done} already done; {report.wall_s:.1f} s")
    table = Table(title=f"held-out scores over all {report.summary['scored']} scored features (q25 / median / q75)")
    table.add_column("metric")
    table.add_column("label")
    table.add_column("random-label baseline")
    fmt = lambda q: " / ".join("-" if q[k] is None else f"{q[k]:.3f}" for k in ("q25", "median", "q75"))  # noqa: E731
    for name in METRICS:
        table.add_row(name, fmt(report.summary[name]), fmt(report.summary[f"random_{name}"]))
    table.add_row("clean fraction", f"{report.summary['clean_fraction']:.3f}", f"{report.summary['random_clean_fraction']:.3f}")
    console.print(table)
    if report.usage:
        usage = Table(title="LLM usage (this run)")
        for column in ("role", "model", "calls", "cache hits", "failures", "prompt tokens", "completion tokens", "est. USD"):
            usage.add_column(column)
        for role, model, calls, hits, failures, prompt, completion, cost in report.usage:
            usage.add_row(role, model, str(calls), str(hits), str(failures), str(prompt), str(completion), f"{cost:.4f}")
        console.print(usage)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    console = Console(width=None if sys.stdout.isatty() else 140)  # logs and CI: no truncated columns
    try:
        config = load_interp_config()
    except ValueError as error:
        console.print(f"[red]{error}[/]")
        return 2
    if args.model:
        config.llm.explainer_model = config.llm.predictor_model = args.model
    base_url = args.llm_base_url or config.llm.base_url
    if args.llm and not llm_available(base_url):
        console.print("[red]--llm needs OPENAI_API_KEY, or a local OpenAI-compatible server: --llm-base-url URL "
                      "(or llm.base_url in conf/interp.yaml)[/]")
        return 2
    use_llm = True if args.llm else False if args.offline else None
    try:
        report = run_interpretation(warehouse_path(args.corpus), args.corpus, sae_id=args.sae_id, use_llm=use_llm,
                                    max_features=args.max_features, config=config, llm_base_url=base_url)
    except (ValueError, FileNotFoundError) as error:
        console.print(f"[red]{error}[/]")
        return 2
    print_report(report, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
