"""`just trends <corpus> [--sae-id N]`: which concepts rise and fall over the months of a corpus."""

from __future__ import annotations

import sys

from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, entry_point, warehouse_of
from data.corpus import load_corpus_config
from evals.saes import UnknownSAE
from evals.trends.config import TrendsConfig
from evals.trends.pipeline import TrendFeature, TrendsReport, run_trends


def build_parser() -> ArgumentParser:
    parser = command_parser("just trends", __doc__, sae_id="one", config=TrendsConfig)
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    console = Console(width=160)
    try:
        load_corpus_config(args.corpus)
        config = config_from(parser, args, TrendsConfig)
        report = run_trends(warehouse_of(args), args.corpus, args.sae_id, config)
    except (UnknownSAE, ValueError, FileNotFoundError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    _print(console, report, config)
    return 0


def _print(console: Console, report: TrendsReport, config: TrendsConfig) -> None:
    m = report.months
    months = Table(title=f"documents per month (SAE {report.sae.sae_id}, {report.sae.corpus})")
    for column in ("month", "documents", "tested", "period"):
        months.add_column(column)
    for month, count, reason, period in zip(m.months, m.n_docs, m.excluded, m.period, strict=False):
        months.add_row(month.strftime("%Y-%m"), str(count), f"no: {reason}" if reason else "yes", period or "")
    console.print(months)
    if report.undated_docs:
        console.print(f"{report.undated_docs} documents have no date and are left out.")
    s, d = report.statistics, report.direction
    console.print(
        f"{int(s.tested.sum())} of {len(d)} features tested (>= {config.min_active} active documents); "
        f"FDR {config.alpha}: {int((d == 'rising').sum())} rising, {int((d == 'falling').sum())} falling; "
        f"effect = share in the last {m.window} tested months / the {m.window} before; {report.seconds:.1f} s"
    )
    eligible = [month.strftime("%y-%m") for month, ok in zip(m.months, m.eligible, strict=False) if ok]
    for title, features in (("rising", report.rising), ("falling", report.falling)):
        console.print(
            _feature_table(f"top {title} features (monthly counts: {eligible[0]} .. {eligible[-1]})", features)
        )


def _feature_table(title: str, features: list[TrendFeature]) -> Table:
    table = Table(title=title, show_lines=True)
    for column in ("latent", "label", "ratio", "q", "significant", "active documents per month", "example"):
        table.add_column(column, overflow="fold")
    for f in features:
        table.add_row(
            str(f.latent),
            f.label or "(no label)",
            f"{f.ratio:.2f}",
            f"{f.q_value:.1e}",
            "yes" if f.direction in ("rising", "falling") else "no",
            " ".join(str(c) for c in f.monthly_counts),
            f.examples[0] if f.examples else "",
        )
    if not features:
        table.add_row("-", "no tested feature trends this way", "", "", "", "", "")
    return table


if __name__ == "__main__":
    sys.exit(main())
