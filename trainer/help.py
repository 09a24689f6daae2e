"""The short ``python -m trainer train --help``: the project's own options, read from ``conf/train.yaml``.

LightningCLI's own ``--help`` lists ~600 lines (every Trainer argument) and takes seconds to import;
this page needs no Lightning import. ``--help-all`` still gives Lightning's full list.
"""

from __future__ import annotations

import re
from pathlib import Path

from data.commands import CORPUS_HELP, WAREHOUSE_HELP
from data.settings import CONF_DIR

TRAIN_YAML = CONF_DIR / "train.yaml"
_ENTRY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]+):\s*(?P<value>[^#]*?)\s*(?:#\s*(?P<comment>.*))?$")


def config_options(path: Path = TRAIN_YAML) -> list[tuple[str, str, str]]:
    """(flag, default, comment) for every leaf of the training YAML, e.g. ('--model.k', 'null', 'null = ...')."""
    options, section = [], ""
    for line in path.read_text().splitlines():
        match = _ENTRY.match(line)
        if match is None:
            continue
        key, value, comment = match["key"], match["value"], match["comment"] or ""
        if not match["indent"] and not value:
            section = f"{key}."  # a section: model, data, trainer
            continue
        options.append((f"--{section if match['indent'] else ''}{key}", value, comment))
    return options


def short_help() -> str:
    own = [
        ("corpus", "", CORPUS_HELP),
        ("--warehouse F", "", WAREHOUSE_HELP),
        ("--name NAME", "", "run name (default <corpus>-<architecture>-n<n>-k<k>)"),
        ("--checkpoint_every N", "200", "save a resumable checkpoint every N steps"),
        ("--purpose P", "reconstruction", "or atlas: the sparse SAE to read (2x latents, k = d/24)"),
        ("--config FILE", "", "a YAML read on top of conf/train.yaml"),
    ]
    width = max(len(flag) for flag, _, _ in own + config_options()) + 2
    value_width = max(len(value) for _, value, _ in own + config_options()) + 2

    def rows(options: list[tuple[str, str, str]]) -> list[str]:
        return [f"  {flag:<{width}}{value:<{value_width}}{comment}".rstrip() for flag, value, comment in options]

    return "\n".join(
        [
            "usage: python -m trainer train <corpus> [options]   (or: just train <corpus> [options])",
            "",
            "Train a sparse autoencoder on a corpus's stored embeddings; the SAE, its metrics and its",
            "activations go into the warehouse. A rerun of an unfinished configuration resumes it.",
            "",
            f"  {'option':<{width}}default".rstrip(),
            *rows(own),
            "",
            f"settings from {TRAIN_YAML.relative_to(TRAIN_YAML.parents[1])} (override any: --model.k 32):",
            *rows(config_options()),
            "",
            "  --help-all  every option, including all of Lightning's Trainer arguments (~600 lines)",
        ]
    )
