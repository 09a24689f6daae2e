"""`just trends <corpus> [--sae-id N]`: which concepts rise and fall over the months of a corpus."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from data.corpus import load_corpus_config
from data.settings import warehouse_path
from evals.saes import UnknownSAE
from evals.trends.config import TrendsConfig
from evals.trends.pipeline import TrendFeature, TrendsReport, run_trends


def main(argv: list[str] | None = None) -> int:
    defaults = TrendsConfig()
    parser = argparse.ArgumentParser(prog="just trends", description=__doc__)
    parser.add_argument("corpus", help="corpus name (conf/corpus/<name>.yaml), e.g. astro")
    parser.add_argument("--sae-id", type=int, help="default: the corpus's default SAE (the most latents)")
    parser.add_argument("--warehouse", type=Path, help="DuckDB file (default artifacts/<corpus>.duckdb)")
    parser.add_argument(
        "--min-docs-per-month",
        type=int,
        default=defaults.min_docs_per_month,
        help="months with fewer documents are left out of the test (shown as gaps)",
    )
    parser.add_argument(
        "--max-composition-shift",
        type=float,
        default=defaults.max_composition_shift,
        help="months whose category mix differs more from the median month are left out (1 = off)",
    )
    parser.add_argument("--window", type=int, default=defaults.window, help="months per effect-size period")
    parser.add_argument("--min-active", type=int, default=defaults.min_active, help="rarer features are not tested")
    parser.add_argument("--alpha", type=float, default=defaults.alpha, help="false-discovery rate (Benjamini-Hochberg)")
    parser.add_argument("--top", type=int, default=defaults.top, help="rising and falling features listed")
    args = parser.parse_args(argv)
    console = Console(width=160)
    try:
        load_corpus_config(args.corpus)
        config = TrendsConfig(
            min_docs_per_month=args.min_docs_per_month,
            max_composition_shift=args.max_composition_shift,
            window=args.window,
            min_active=args.min_active,
            alpha=args.alpha,
            top=args.top,
        )
        report = run_trends(args.warehouse or warehouse_path(args.corpus), args.corpus, args.sae_id, config)
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
