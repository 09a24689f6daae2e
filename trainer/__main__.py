"""``python -m trainer train <corpus> [LightningCLI flags]`` and ``python -m trainer sweep <corpus>``."""
from __future__ import annotations

import sys

from rich.console import Console

USAGE = """usage:
  python -m trainer train <corpus> [--model.k 64 --trainer.max_steps 500 --data.warehouse F ...]
  python -m trainer sweep <corpus> [--grid conf/sweep.yaml] [--max-steps N]
  (train uses conf/<corpus>.yaml, else conf/astro.yaml; `python -m trainer train astro --help` lists every option)"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in ("train", "sweep"):
        print(USAGE, file=sys.stderr)
        return 2
    command, corpus, rest = argv[0], argv[1], argv[2:]
    from trainer.sweep import run_sweep
    from trainer.api import cli_args
    from trainer.cli import AtlasCLI, run_pipeline

    console = Console(stderr=True)
    try:
        if command == "sweep":
            run_sweep(corpus, rest)
            return 0
        sae_id = run_pipeline(AtlasCLI(args=cli_args(None, corpus) + rest))
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    if sae_id is not None:
        console.print(f"[green]SAE {sae_id} complete[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
