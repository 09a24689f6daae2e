"""Python entry point: ``train_sae(warehouse_path, corpus_name, **overrides) -> sae_id``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from trainer.datamodule import EmbeddingDataModule
from trainer.module import SparseAutoencoderModule

_TOP_LEVEL = {"name", "seed_everything", "checkpoint_every", "purpose"}


def _section(key: str) -> str:
    """Which part of the config a flat override belongs to (model, data, trainer or top level)."""
    if key in _TOP_LEVEL:
        return ""
    if key in inspect.signature(SparseAutoencoderModule.__init__).parameters:
        return "model."
    if key in inspect.signature(EmbeddingDataModule.__init__).parameters:
        return "data."
    return "trainer."


def cli_args(
    warehouse_path: str | Path | None, corpus_name: str, config: str | Path | None = None, **overrides
) -> list[str]:
    """The training command line of one run: the corpus, then ``config`` (on top of conf/train.yaml), then the
    overrides (flat names)."""
    args = [corpus_name]
    if config is not None:
        if not Path(config).exists():
            raise FileNotFoundError(f"no training config {config}; start from conf/train.yaml")
        args += ["--config", str(config)]
    if warehouse_path is not None:
        args += ["--warehouse", str(warehouse_path)]
    for key, value in overrides.items():
        args += [f"--{_section(key)}{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def train_sae(
    warehouse_path: str | Path, corpus_name: str, config: str | Path | None = None, **overrides
) -> int | None:
    """Train one SAE on a corpus's stored embeddings and write its outputs; returns its ``sae_id`` (None on
    the other ranks of a DDP run).

    Overrides use flat names: model fields (``n_latents``, ``k``, ``lr`` ...), data fields
    (``batch_size``, ``seed`` ...), ``name``, or Trainer arguments (``max_steps``, ``devices`` ...).
    Training the same configuration again after a crash resumes and completes the unfinished run.
    """
    from trainer.cli import AtlasCLI, train

    return train(AtlasCLI(args=cli_args(warehouse_path, corpus_name, config, **overrides)))
