"""`just contrast <corpus> --target <expression> [--sae-id N] [--method l1|correlation] [--n_features 20]`.

Which features separate documents by a target: selected on the training split, tested on the test split.
"""

from __future__ import annotations

import sys

from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, entry_point, warehouse_of
from data.corpus import load_corpus_config
from evals.contrast.pipeline import ContrastConfig, ContrastReport, run_contrast
from evals.saes import UnknownSAE


def build_parser() -> ArgumentParser:
    parser = command_parser("just contrast", __doc__, sae_id="one", config=ContrastConfig)
    parser.add_argument(
        "--target",
        type=str,
        required=True,
        help="category=astro-ph.GA | published>=2026-01-01 | <docs column><op><value> | a bare numeric column",
    )
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    console = Console(width=160)
    try:
        load_corpus_config(args.corpus)
        config = config_from(parser, args, ContrastConfig)
        report = run_contrast(warehouse_of(args), args.corpus, args.target, args.sae_id, config)
    except (UnknownSAE, ValueError, FileNotFoundError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    _print(console, report)
    return 0


def _print(console: Console, report: ContrastReport) -> None:
    binary = report.target.kind == "binary"
    mean = "share of positives" if binary else "mean target"
    table = Table(
        title=f"{report.target.expression}: {len(report.latents)} features selected by {report.config.method} on "
        f"{report.n_train} training documents; effects on {report.n_test} test documents (SAE {report.sae.sae_id})"
    )
    for column in (
        "rank",
        "latent",
        "label",
        "train score",
        "test docs with",
        f"{mean} with",
        "without",
        "effect",
        "q",
    ):
        table.add_column(column, overflow="fold")
    e = report.effects
    for rank, latent in enumerate(report.latents):
        table.add_row(
            str(rank + 1),
            str(latent),
            report.labels.get(int(latent), "(no label)"),
            f"{report.train_scores[rank]:+.3f}",
            str(e.n_with[rank]),
            _num(e.mean_with[rank]),
            _num(e.mean_without[rank]),
            _num(e.effect[rank], "+.3f"),
            _num(e.q_value[rank], ".1e"),
        )
    console.print(table)
    metric = "AUC" if binary else "R²"
    console.print(
        f"test split ({mean} {report.test_mean:.3f}): {metric} of the {len(report.latents)} features "
        f"[bold]{report.features_score:.3f}[/bold] vs {metric} of the same model "
        f"on the raw {report.sae.d}-d embeddings [bold]{report.embedding_score:.3f}[/bold] "
        f"({'logistic' if binary else 'ridge'} regression fit on the training split); "
        f"{report.seconds:.1f} s ("
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.phases.items())
        + ")"
    )


def _num(value: float, spec: str = ".3f") -> str:
    return "-" if value != value else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
