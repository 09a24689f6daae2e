"""``python -m trainer train <corpus> [LightningCLI flags]`` and ``python -m trainer sweep <corpus>``."""

from __future__ import annotations

import sys

from rich.console import Console

from data.commands import entry_point

USAGE = """usage:
  python -m trainer train <corpus> [--warehouse F] [--model.k 64 --trainer.max_steps 500 ...]
  python -m trainer sweep <corpus> [--warehouse F] [--config grid.yaml] [--max_steps N]
  (train reads conf/train.yaml, sweep conf/sweep.yaml; `python -m trainer train astro --help` lists the options)"""


@entry_point
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("train", "sweep") or argv == ["sweep"]:
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "train" and (not rest or {"-h", "--help"} & set(rest)):
        from trainer.help import short_help  # no Lightning import: the short page is instant

        print(short_help())
        return 0 if rest else 2
    rest = ["--help" if arg == "--help-all" else arg for arg in rest]
    from trainer.quiet import quiet_lightning
    from trainer.sweep import run_sweep

    quiet_lightning()
    try:
        if command == "sweep":
            run_sweep(rest)
        else:
            train_and_summarise(rest)
    except TRAINING_ERRORS as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}")
        return 2
    return 0


TRAINING_ERRORS = (ValueError, FileNotFoundError, FloatingPointError)
"""What a bad option, a missing file or a diverging run raises: one red line and exit 2, no traceback."""


def train_and_summarise(args: list[str]) -> int | None:
    """Train one SAE from ``train``'s command line and print its summary; its ``sae_id`` (None on the
    other ranks of a DDP run)."""
    from trainer.cli import AtlasCLI, train
    from trainer.summary import training_summary

    cli = AtlasCLI(args=args)
    sae_id = train(cli)
    if sae_id is not None:
        print(training_summary(cli.datamodule.warehouse, sae_id))
    return sae_id


if __name__ == "__main__":
    sys.exit(main())
