"""LightningCLI + one YAML (``conf/train.yaml``) -> a registered run -> a fit -> outputs in the warehouse.

``python -m trainer train astro [--warehouse F] [--model.k 64 --trainer.max_steps 500 ...]`` and
``trainer.api.train_sae`` both parse with :class:`AtlasCLI` and run :func:`train`, which is three
separate steps: :func:`register_run` (the ``saes`` row), :func:`fit_run` (Lightning) and
:func:`publish_run` (metrics, weights, activations). Under DDP every rank runs this module; only
rank 0 touches DuckDB. Only LightningCLI's documented hooks are used (``add_arguments_to_parser``,
``instantiate_trainer``); parsing and instantiating the model and data writes nothing.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_only

from data.commands import add_shared_arguments
from data.saes import PURPOSES, SaePurpose
from data.settings import CONF_DIR
from trainer.callbacks import NaNGuard, StepProgressBar, Throughput
from trainer.checkpoint import export_sae
from trainer.datamodule import EmbeddingDataModule
from trainer.logs import FlushLogsWithCheckpoints, ResumableCSVLogger
from trainer.module import SparseAutoencoderModule
from trainer.outputs import split_metrics, write_outputs
from trainer.runs import RunRecord, begin_run, mark_failed
from trainer.sizes import default_size

TRAIN_CONFIG = CONF_DIR / "train.yaml"
"""The one training config; the corpus is an argument, ``--config FILE`` adds values on top."""

PURPOSE_HELP = (
    "reconstruction (default) or atlas: the sparse SAE a researcher reads, 2x the latents at k = d/24, "
    "and the default of every command once trained (README 'The atlas SAE')"
)

RUN_ENV = "SAE_ATLAS_RUN"
"""Rank 0 hands its run record to the DDP ranks it launches through this environment variable."""


class AtlasCLI(LightningCLI):
    """The training command's parser: ``corpus``, ``--warehouse``, ``--name``, ``--checkpoint_every``, ``--purpose``,
    then Lightning's ``--model.*``, ``--data.*``, ``--trainer.*`` (defaults from ``conf/train.yaml``)."""

    def __init__(self, args: list[str] | None = None) -> None:
        with warnings.catch_warnings():  # `args` are the whole command line here, by design
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            super().__init__(
                SparseAutoencoderModule,
                EmbeddingDataModule,
                run=False,
                args=args,
                save_config_callback=None,
                seed_everything_default=0,
                parser_kwargs={
                    "prog": "python -m trainer train",
                    "default_env": False,
                    "default_config_files": [str(TRAIN_CONFIG)],
                },
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        add_shared_arguments(parser)
        parser.link_arguments("corpus", "data.corpus", apply_on="parse")
        parser.link_arguments("warehouse", "data.warehouse", compute_fn=_optional_str, apply_on="parse")
        parser.add_argument(
            "--name", type=str | None, default=None, help="run name (default <corpus>-<architecture>-n<n>-k<k>)"
        )
        parser.add_argument(
            "--checkpoint_every", type=int, default=200, help="save a resumable checkpoint every N steps"
        )
        parser.add_argument("--purpose", type=str, default=SaePurpose.RECONSTRUCTION.value, help=PURPOSE_HELP)
        parser.link_arguments("data.dim", "model.d", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        """The size rule (trainer.sizes) fills n_latents and k where the command line and YAML leave them null."""
        model, purpose = self.config["model"], self.config["purpose"]
        if purpose not in PURPOSES:
            raise ValueError(f"--purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
        if model.n_latents is None or model.k is None:
            data = EmbeddingDataModule(**self.config["data"].as_dict())
            size = default_size(data.planned_train_size(), data.dim, model.n_latents, model.k, purpose)
            model.n_latents, model.k = size.n_latents, size.k

    def run_config(self) -> dict:
        """What identifies a run (the warehouse path and device count do not)."""
        data = {key: value for key, value in self.config["data"].items() if key != "warehouse"}
        data["embed_model"] = self.datamodule.embed_model
        model = dict(self.config["model"])
        model["d"] = self.model.hparams.d
        model["k_aux"] = self.model.sae.k_aux
        return {
            "model": model,
            "data": data,
            "max_steps": self.config["trainer"]["max_steps"],
            "seed": self.config["seed_everything"],
            "purpose": self.config["purpose"],
        }


def _optional_str(value: Path | None) -> str | None:
    return None if value is None else str(value)


def register_run(cli: AtlasCLI) -> RunRecord:
    """Rank 0: resume or register the ``saes`` row and hand it to the DDP ranks; other ranks: take it."""
    rank = rank_zero_only.rank  # type: ignore[attr-defined]  # Lightning sets rank at run time
    if rank != 0:
        if RUN_ENV not in os.environ:
            raise RuntimeError(
                f"rank {rank} started without rank 0's run record ({RUN_ENV}); launch DDP through "
                "Lightning (`--trainer.devices N --trainer.strategy ddp`), not torchrun, "
                "so rank 0 registers the run first"
            )
        payload = json.loads(os.environ[RUN_ENV])
        return RunRecord(payload["sae_id"], payload["name"], Path(payload["run_dir"]))
    sae, data = cli.model.sae, cli.datamodule
    atlas = "-atlas" if cli.config["purpose"] == SaePurpose.ATLAS else ""
    name = cli.config["name"] or f"{data.corpus}{atlas}-{sae.architecture}-n{sae.n_latents}-k{sae.k}"
    record = begin_run(
        data.warehouse, name, data.corpus, data.embed_model, sae.d, sae.n_latents, sae.k, sae.k_aux, cli.run_config()
    )
    os.environ[RUN_ENV] = json.dumps({"sae_id": record.sae_id, "name": record.name, "run_dir": str(record.run_dir)})
    return record


def run_trainer(cli: AtlasCLI, record: RunRecord) -> Trainer:
    """The configured Trainer, writing its checkpoints and logs into the run folder."""
    config = cli.config_init["trainer"]
    callbacks = list(config.get("callbacks") or [])
    callbacks += [
        ModelCheckpoint(
            dirpath=record.run_dir, save_top_k=0, save_last=True, every_n_train_steps=cli.config["checkpoint_every"]
        ),
        NaNGuard(),
        Throughput(),
        FlushLogsWithCheckpoints(),
    ]
    if config.get("enable_progress_bar") is not False:
        callbacks.append(StepProgressBar())
    logger = ResumableCSVLogger(record.run_dir, name="logs", version="") if config.get("logger") is not False else False
    return cli.instantiate_trainer(default_root_dir=str(record.run_dir), callbacks=callbacks, logger=logger)


def fit_run(cli: AtlasCLI, record: RunRecord) -> Trainer:
    """Fit, resuming an unfinished attempt; the row is marked failed (rank 0) when the fit raises."""
    trainer = run_trainer(cli, record)
    resume_from = record.resume_from()
    if resume_from is not None and trainer.is_global_zero:  # Lightning's own "Restored ..." line is silenced
        print(f"SAE {record.sae_id}: resuming the unfinished run from {resume_from}", flush=True)
    try:
        # Ctrl+C / a kill leaves the row 'training' (Lightning exits on KeyboardInterrupt): rerunning resumes it.
        with warnings.catch_warnings():
            # we want the post-step state in checkpoints (it matches global_step); Lightning warns about it
            warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
            trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=resume_from)
        trainer.save_checkpoint(record.last_checkpoint)  # the final state, so a killed write can resume
    except Exception as error:
        if trainer.is_global_zero:
            mark_failed(cli.datamodule.warehouse, record.sae_id, f"{type(error).__name__}: {error}")
        raise
    return trainer


def publish_run(cli: AtlasCLI, record: RunRecord, trainer: Trainer) -> int | None:
    """Rank 0: final metrics per split, the exported weights and every output row; returns the sae_id."""
    if not trainer.is_global_zero:
        return None
    model, datamodule = cli.model, cli.datamodule
    sae = model.sae.cpu().eval()
    metrics = {}
    for split, rows in (("val", datamodule.val_rows), ("train", datamodule.train_rows), ("test", datamodule.test_rows)):
        if len(rows):
            metrics.update(
                {f"{split}_{name}": value for name, value in split_metrics(sae, datamodule.matrix[rows]).items()}
            )
    metrics.update(
        steps=trainer.global_step,
        dead_fraction=float(model.dead_mask().float().mean()),
        train_docs=datamodule.train_size,
        val_docs=len(datamodule.val_rows),
        test_docs=len(datamodule.test_rows),
        world_size=trainer.world_size,
    )
    weights = export_sae(sae, record.weights)
    write_outputs(datamodule.warehouse, record.sae_id, sae, datamodule.doc_ids, datamodule.matrix, metrics, weights)
    return record.sae_id


def train(cli: AtlasCLI) -> int | None:
    """Register, fit, publish. Returns the sae_id on rank 0, None on the other DDP ranks."""
    record = register_run(cli)
    return publish_run(cli, record, fit_run(cli, record))
