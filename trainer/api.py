"""Python entry point: ``train_sae(warehouse_path, corpus_name, **overrides) -> sae_id``."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

from data.settings import CONF_DIR
from trainer.datamodule import EmbeddingDataModule
from trainer.module import SparseAutoencoderModule

_TOP_LEVEL = {"name", "seed_everything", "checkpoint_every"}


def _section(key: str) -> str:
    """Which part of the config a flat override belongs to (model, data, trainer or top level)."""
    if key in _TOP_LEVEL:
        return ""
    if key in inspect.signature(SparseAutoencoderModule.__init__).parameters:
        return "model."
    if key in inspect.signature(EmbeddingDataModule.__init__).parameters:
        return "data."
    return "trainer."


def training_config(corpus_name: str) -> Path:
    """``conf/<corpus>.yaml`` if there is one, else ``conf/astro.yaml``: every field of it but
    ``data.corpus`` (which ``cli_args`` sets) fits any corpus, so a new corpus needs no file of its own."""
    own = CONF_DIR / f"{corpus_name}.yaml"
    return own if own.exists() else CONF_DIR / "astro.yaml"


def cli_args(warehouse_path: str | Path | None, corpus_name: str, config: str | Path | None = None, **overrides) -> list[str]:
    """The LightningCLI arguments for one run: the corpus YAML, then the overrides (flat names)."""
    config = Path(config) if config else training_config(corpus_name)
    if not config.exists():
        raise FileNotFoundError(f"no training config {config}; create it (see conf/astro.yaml) or pass config=")
    args = ["--config", str(config), "--data.corpus", corpus_name]
    if warehouse_path is not None:
        args += ["--data.warehouse", str(warehouse_path)]
    for key, value in overrides.items():
        args += [f"--{_section(key)}{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def train_sae(warehouse_path: str | Path, corpus_name: str, config: str | Path | None = None, **overrides) -> int:
    """Train one SAE on a corpus's stored embeddings and write its outputs; returns its ``sae_id``.

    Overrides use flat names: model fields (``n_latents``, ``k``, ``lr`` ...), data fields
    (``batch_size``, ``seed`` ...), ``name``, or Trainer arguments (``max_steps``, ``devices`` ...).
    Training the same configuration again after a crash resumes and completes the unfinished run.
    """
    from trainer.cli import AtlasCLI, run_pipeline

    cli = AtlasCLI(args=cli_args(warehouse_path, corpus_name, config, **overrides))
    return run_pipeline(cli)
