"""``python -m trainer train <corpus> [LightningCLI flags]`` and ``python -m trainer sweep <corpus>``."""

from __future__ import annotations

import sys

from rich.console import Console

from data.commands import entry_point

USAGE = """usage:
  python -m trainer train <corpus> [--warehouse F] [--model.k 64 --trainer.max_steps 500 ...]
  python -m trainer sweep <corpus> [--warehouse F] [--config grid.yaml] [--max_steps N]
  (train reads conf/train.yaml, sweep conf/sweep.yaml; `python -m trainer train astro --help` lists every option)"""


@entry_point
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in ("train", "sweep"):
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    from trainer.cli import AtlasCLI, train
    from trainer.sweep import run_sweep

    console = Console(stderr=True)
    try:
        if command == "sweep":
            run_sweep(rest)
            return 0
        sae_id = train(AtlasCLI(args=rest))
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    if sae_id is not None:
        console.print(f"[green]SAE {sae_id} complete[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
