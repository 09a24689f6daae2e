"""LightningCLI + YAML (``conf/<corpus>.yaml``) -> a fit -> outputs in the warehouse.

``python -m trainer train astro [--model.k 64 --trainer.max_steps 500 ...]`` and
``trainer.api.train_sae`` both go through :class:`AtlasCLI` and :func:`run_pipeline`.
Under DDP every rank runs this module; only rank 0 touches DuckDB.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only

from trainer.callbacks import NaNGuard, Throughput
from trainer.checkpoint import export_sae
from trainer.datamodule import EmbeddingDataModule
from trainer.module import SparseAutoencoderModule
from trainer.outputs import split_metrics, write_outputs
from trainer.runs import RunRecord, begin_run, mark_failed

RUN_ENV = "SAE_ATLAS_RUN"
"""Rank 0 hands its run record to the DDP ranks it launches through this environment variable."""


class AtlasCLI(LightningCLI):
    """LightningCLI whose trainer writes into the run folder of a ``saes`` row."""

    def __init__(self, args: list[str] | None = None) -> None:
        with warnings.catch_warnings():  # `args` are the whole command line here, by design
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            self._init_cli(args)

    def _init_cli(self, args: list[str] | None) -> None:
        super().__init__(
            SparseAutoencoderModule,
            EmbeddingDataModule,
            run=False,
            args=args,
            save_config_callback=None,
            seed_everything_default=0,
            parser_kwargs={"default_env": False},
        )

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--name", type=str | None, default=None, help="run name (default <corpus>-n<n>-k<k>)")
        parser.add_argument("--checkpoint_every", type=int, default=200, help="save a resumable checkpoint every N steps")
        parser.link_arguments("data.dim", "model.d", apply_on="instantiate")

    def instantiate_classes(self) -> None:
        self.config_init = self.parser.instantiate_classes(self.config)
        self.datamodule = self._get(self.config_init, "data")
        self.model = self._get(self.config_init, "model")
        self.record = self._run_record()
        trainer_config = self._get(self.config_init, "trainer", default={})
        callbacks = list(trainer_config.get("callbacks") or [])
        callbacks += [
            ModelCheckpoint(dirpath=self.record.run_dir, save_top_k=0, save_last=True,
                            every_n_train_steps=self._get(self.config, "checkpoint_every")),
            NaNGuard(),
            Throughput(),
        ]
        if trainer_config.get("enable_progress_bar") is not False:
            callbacks.append(RichProgressBar())
        logger = CSVLogger(self.record.run_dir, name="logs", version="") if trainer_config.get("logger") is not False else False
        self.trainer = self.instantiate_trainer(default_root_dir=str(self.record.run_dir), callbacks=callbacks, logger=logger)

    def run_config(self) -> dict:
        """What identifies a run (the warehouse path and device count do not)."""
        data = {key: value for key, value in self._get(self.config, "data").items() if key != "warehouse"}
        data["embed_model"] = self.datamodule.embed_model
        model = dict(self._get(self.config, "model"))
        model["d"] = self.model.hparams.d
        model["k_aux"] = self.model.sae.k_aux
        trainer = self._get(self.config, "trainer")
        return {"model": model, "data": data, "max_steps": trainer["max_steps"], "seed": self._get(self.config, "seed_everything")}

    def _run_record(self) -> RunRecord:
        if rank_zero_only.rank != 0:
            if RUN_ENV not in os.environ:
                raise RuntimeError(
                    f"rank {rank_zero_only.rank} started without rank 0's run record ({RUN_ENV}); launch DDP through "
                    "Lightning (`--trainer.devices N --trainer.strategy ddp`), not torchrun, so rank 0 registers the run first"
                )
            payload = json.loads(os.environ[RUN_ENV])
            return RunRecord(payload["sae_id"], payload["name"], Path(payload["run_dir"]))
        sae = self.model.sae
        name = self._get(self.config, "name") or f"{self.datamodule.corpus}-n{sae.n_latents}-k{sae.k}"
        record = begin_run(
            self.datamodule.warehouse, name, self.datamodule.corpus, self.datamodule.embed_model,
            sae.d, sae.n_latents, sae.k, sae.k_aux, self.run_config(),
        )
        os.environ[RUN_ENV] = json.dumps({"sae_id": record.sae_id, "name": record.name, "run_dir": str(record.run_dir)})
        return record


def run_pipeline(cli: AtlasCLI) -> int | None:
    """Fit (resuming an unfinished attempt), then on rank 0 write the outputs. Returns the sae_id on rank 0."""
    trainer, model, datamodule, record = cli.trainer, cli.model, cli.datamodule, cli.record
    try:
        # Ctrl+C / a kill leaves the row 'training' (Lightning exits on KeyboardInterrupt): rerunning resumes it.
        with warnings.catch_warnings():
            # we want the post-step state in checkpoints (it matches global_step); Lightning warns about it
            warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
            trainer.fit(model, datamodule=datamodule, ckpt_path=record.resume_from())
        trainer.save_checkpoint(record.last_checkpoint)  # the final state, so a killed write can resume
    except Exception as error:
        if trainer.is_global_zero:
            mark_failed(datamodule.warehouse, record.sae_id, f"{type(error).__name__}: {error}")
        raise
    if not trainer.is_global_zero:
        return None
    sae = model.sae.cpu().eval()
    metrics = {}
    for split, rows in (("val", datamodule.val_rows), ("train", datamodule.train_rows), ("test", datamodule.test_rows)):
        if len(rows):
            metrics.update({f"{split}_{name}": value for name, value in split_metrics(sae, datamodule.matrix[rows]).items()})
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
