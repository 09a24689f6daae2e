"""`python -m evals.report astro [--sae-id N] [--json]` (= `just report astro`): the quality card of one SAE."""

from __future__ import annotations

import json
import sys

from data.commands import command_parser, entry_point, warehouse_of
from evals.report.card import REQUIRED_KEYS, build_report
from evals.report.text import format_card


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("just report", __doc__, sae_id="one")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the card")
    args = parser.parse_args(argv)
    try:
        report = build_report(warehouse_of(args), args.corpus, args.sae_id)
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
