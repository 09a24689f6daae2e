"""``just atlas <corpus>``: the readable atlas in one command.

1. trains the *atlas SAE* (``--purpose atlas``, trainer/sizes.py: twice the latents at k = d / 24, so a
   feature fires on ~3% of the abstracts instead of ~25%: what labels and families need);
2. labels its features (``just interpret``), 3. groups them into families (``just families``) and
4. prints its quality card (``just report``), each on that SAE.

Once trained, the atlas SAE is the default of every command and dashboard page (``data.saes``); the
reconstruction SAE of ``just train`` stays one ``--sae-id`` away. Training options (``--model.k 8``,
``--trainer.max_steps 300`` ...) go to the trainer; ``--llm`` to labelling and families.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rich.console import Console

from data.commands import CORPUS_HELP, WAREHOUSE_HELP, entry_point
from data.saes import SaePurpose


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="just atlas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any other option is a training option: python -m trainer train --help lists them.",
    )
    parser.add_argument("corpus", help=CORPUS_HELP)
    parser.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    parser.add_argument("--llm", choices=("auto", "yes", "no"), default="auto", help="labels and family names by LLM")
    parser.add_argument("--llm-base-url", default=None, help="an OpenAI-compatible endpoint (README, LLM path)")
    args, train_options = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if any(option.split("=")[0] == "--purpose" for option in train_options):
        parser.error("just atlas always trains with --purpose atlas; train another purpose with just train")
    console = Console(stderr=True)
    warehouse = ["--warehouse", args.warehouse] if args.warehouse else []

    from trainer.__main__ import TRAINING_ERRORS, train_and_summarise
    from trainer.quiet import quiet_lightning

    steps = _steps_after_training()
    _announce(console, args.corpus, 1, len(steps) + 1, "train")
    quiet_lightning()
    try:
        sae_id = train_and_summarise([args.corpus, *warehouse, "--purpose", SaePurpose.ATLAS.value, *train_options])
    except TRAINING_ERRORS as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    if sae_id is None:  # a DDP rank other than 0: rank 0 carries on alone
        return 0
    on_it = [args.corpus, *warehouse, "--sae-id", str(sae_id)]
    llm = ["--llm", args.llm, *(["--llm-base-url", args.llm_base_url] if args.llm_base_url else [])]
    for number, (step, command) in enumerate(steps, start=2):
        _announce(console, args.corpus, number, len(steps) + 1, step)
        code = command([*on_it, *(llm if step != "report" else [])])
        if code:
            console.print(f"[red]atlas {args.corpus}: `just {step}` failed (exit {code}); SAE {sae_id} is kept[/red]")
            return code
    console.print(f"atlas {args.corpus}: SAE {sae_id} is the atlas, and the default of every command and page")
    return 0


def _steps_after_training() -> list[tuple[str, Callable[[list[str]], int]]]:
    """(name, the command's main) of each step run on the trained SAE, in order."""
    from evals.families.__main__ import main as families
    from evals.interp.__main__ import main as interpret
    from evals.report.__main__ import main as report

    return [("interpret", interpret), ("families", families), ("report", report)]


def _announce(console: Console, corpus: str, number: int, total: int, step: str) -> None:
    console.print(f"[bold]atlas {corpus}: step {number} of {total}, {step}[/bold]")


if __name__ == "__main__":
    sys.exit(main())
