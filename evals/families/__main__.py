"""`just families <corpus>`: feature families of every complete SAE of a corpus (or some, --sae-id).

Settings: conf/families.yaml, or --config FILE, or any field as a flag (e.g. --clean_only true);
labels use the example counts and models of conf/interp.yaml.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, entry_point, warehouse_of
from data.corpus import load_corpus_config
from data.warehouse import open_reader
from evals.families.config import DEFAULT_PATH, FamiliesConfig
from evals.families.labels import FamilyLabeller
from evals.families.pipeline import run_families
from evals.families.stats import children_in_later_prefix
from evals.interp.config import load_interp_config
from evals.llm import add_llm_arguments, use_llm
from evals.saes import UnknownSAE, complete_sae_ids


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("just families", __doc__, sae_id="many", config=FamiliesConfig, config_file=DEFAULT_PATH)
    add_llm_arguments(parser)
    args = parser.parse_args(argv)
    console = Console()
    try:
        load_corpus_config(args.corpus)
        config = config_from(parser, args, FamiliesConfig)
        warehouse = warehouse_of(args)
        with open_reader(warehouse) as con:
            sae_ids = args.sae_id or complete_sae_ids(con, args.corpus)
        labeller = FamilyLabeller(
            load_interp_config(), config.family_activation, use_llm(args.llm), args.corpus, args.llm_base_url
        )
        table = Table(title=f"Feature families ({args.corpus})")
        for column in (
            "SAE",
            "families",
            "mean children",
            "max",
            "parent/child ratio",
            "block ratio lift",
            "labelled",
            "mean F1",
            "mean AUROC",
            "child in later prefix",
            "seconds",
        ):
            table.add_column(column, justify="right")
        for sae_id in sae_ids:
            run = run_families(warehouse, sae_id, config, labeller)
            with open_reader(warehouse) as con:
                later_prefix = children_in_later_prefix(con, sae_id)
            s = run.summary
            sizes, ratio, block, labels = (
                s["size_distribution"],
                s["parent_child_ratio"],
                s["block_diagonal"],
                s["labels"],
            )
            table.add_row(
                str(sae_id),
                str(sizes["families"]),
                _num(sizes.get("mean_children")),
                str(sizes.get("max_children", "-")),
                _num(ratio.get("mean")),
                _num(block.get("lift")),
                str(labels["labelled"]),
                _num(labels.get("mean_f1")),
                _num(labels.get("mean_auroc")),
                _num(later_prefix),
                _num(s["seconds"]),
            )
        console.print(table)
        console.print(
            f"labels: {labels['path']}"
            + ("" if labeller.use_llm else " (offline path: set OPENAI_API_KEY for LLM names)")
            + f"; family activation = {config.family_activation} over members; scores on held-out abstracts"
            + "; child in later prefix = share of family children in a finer Matryoshka prefix than their parent"
        )
    except (UnknownSAE, ValueError, FileNotFoundError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    return 0


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
