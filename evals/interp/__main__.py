"""`python -m evals.interp astro [--llm auto|yes|no] [--max-features N] [--sae-id ID]` (= `just interpret astro`).

Label and score the features of a stored SAE. Settings: conf/interp.yaml, or --config FILE, or any
field as a flag (e.g. --offline.scorer terms). A local OpenAI-compatible server (Ollama, llama.cpp,
vLLM) needs no key: --llm yes --llm-base-url http://localhost:11434/v1 --llm_path.explainer_model
qwen2.5:7b --llm_path.predictor_model qwen2.5:7b.
"""

from __future__ import annotations

import sys

from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, entry_point, warehouse_of
from evals.interp.config import DEFAULT_PATH, InterpConfig
from evals.interp.pipeline import RunReport, run_interpretation
from evals.interp.summary import METRICS
from evals.llm import add_llm_arguments, use_llm


def build_parser() -> ArgumentParser:
    parser = command_parser("just interpret", __doc__, sae_id="one", config=InterpConfig, config_file=DEFAULT_PATH)
    add_llm_arguments(parser)
    parser.add_argument(
        "--max-features",
        type=int | None,
        default=None,
        help="interpret only latents 0..N-1 (those already done are skipped)",
    )
    return parser


def print_report(report: RunReport, console: Console) -> None:
    kind = "offline PROXY (phrases, not an LLM)" if report.is_proxy else "LLM"
    console.print(
        f"SAE {report.sae_id}: {kind} labels by [bold]{report.explainer}[/], scored by {report.predictor}: "
        f"{report.interpreted} interpreted, {report.not_interpretable} too rarely/often active, "
        f"{report.errors} errors, {report.skipped_done} already done; {report.wall_s:.1f} s"
    )
    latents = report.summary.get("latents", "all")
    scope = "of all latents" if latents == "all" else f"of latents {latents}"
    table = Table(
        title=f"held-out scores over the {report.summary['scored']} scored features {scope} (q25 / median / q75)"
    )
    table.add_column("metric")
    table.add_column("label")
    table.add_column("random-label baseline")

    def fmt(q: dict) -> str:
        return " / ".join("-" if q[k] is None else f"{q[k]:.3f}" for k in ("q25", "median", "q75"))

    for name in METRICS:
        table.add_row(name, fmt(report.summary[name]), fmt(report.summary[f"random_{name}"]))
    table.add_row(
        "clean fraction", f"{report.summary['clean_fraction']:.3f}", f"{report.summary['random_clean_fraction']:.3f}"
    )
    console.print(table)
    if report.usage:
        usage = Table(title="LLM usage (this run)")
        for column in (
            "role",
            "model",
            "calls",
            "cache hits",
            "failures",
            "prompt tokens",
            "completion tokens",
            "est. USD",
        ):
            usage.add_column(column)
        for role, model, calls, hits, failures, prompt, completion, cost in report.usage:
            usage.add_row(
                role, model, str(calls), str(hits), str(failures), str(prompt), str(completion), f"{cost:.4f}"
            )
        console.print(usage)


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    console = Console(width=None if sys.stdout.isatty() else 140)  # logs and CI: no truncated columns
    try:
        config = config_from(parser, args, InterpConfig)
        base_url = args.llm_base_url or config.llm_path.base_url
        report = run_interpretation(
            warehouse_of(args),
            args.corpus,
            sae_id=args.sae_id,
            use_llm=use_llm(args.llm, base_url),
            max_features=args.max_features,
            config=config,
            llm_base_url=base_url,
        )
    except (ValueError, FileNotFoundError) as error:
        console.print(f"[red]{error}[/]")
        return 2
    print_report(report, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
