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
    from trainer.cli import AtlasCLI, train
    from trainer.quiet import quiet_lightning
    from trainer.summary import training_summary
    from trainer.sweep import run_sweep

    console = Console(stderr=True)
    quiet_lightning()
    try:
        if command == "sweep":
            run_sweep(rest)
            return 0
        cli = AtlasCLI(args=rest)
        sae_id = train(cli)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    if sae_id is not None:
        print(training_summary(cli.datamodule.warehouse, sae_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
