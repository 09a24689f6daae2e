"""`python -m evals.report astro [--sae-id N] [--json]` (= `just report astro`): the quality card of one SAE."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from data.settings import warehouse_path
from evals.report.card import REQUIRED_KEYS, build_report
from evals.report.text import format_card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just report", description=__doc__)
    parser.add_argument("corpus", help="corpus name, e.g. astro (warehouse artifacts/<corpus>.duckdb)")
    parser.add_argument("--sae-id", type=int, default=None, help="which SAE (default: the newest complete one of the corpus)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the card")
    parser.add_argument("--warehouse", type=Path, default=None, help="warehouse file (default: artifacts/<corpus>.duckdb)")
    args = parser.parse_args(argv)
    try:
        report = build_report(args.warehouse or warehouse_path(args.corpus), args.corpus, args.sae_id)
    except (ValueError, FileNotFoundError) as error:  # bad input: what and why, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report))
        for key in REQUIRED_KEYS:  # the reasons go to stderr so stdout stays one JSON object
            if report[key] is None:
                print(f"{key} is null: {report['reasons'].get(key, 'not computed')}", file=sys.stderr)
    else:
        print(format_card(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
