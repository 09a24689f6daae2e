"""Full resume: a run killed mid-fit or mid-write is finished by running it again, exactly."""

from __future__ import annotations

import shutil

import lightning as L
import pytest
import torch

import trainer.outputs
from data.warehouse import open_reader
from trainer.api import train_sae
from trainer.checkpoint import load_sae, load_sae_from_warehouse

RUN = dict(
    n_latents=96,
    k=8,
    batch_size=128,
    max_steps=10,
    checkpoint_every=4,
    dead_after_samples=256,
    lr=1e-3,
    enable_progress_bar=False,
    logger=False,
)


class SimulatedKill(BaseException):
    """Not an Exception: like SIGKILL, nothing gets to mark the run failed."""


class KillAtStep(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise SimulatedKill(f"killed at step {self.step}")


def status_and_rows(path, sae_id):
    with open_reader(path) as con:
        return con.execute(
            "SELECT (SELECT status FROM saes WHERE sae_id = ?), (SELECT count(*) FROM activations WHERE sae_id = ?),"
            " (SELECT count(*) FROM latents WHERE sae_id = ?)",
            [sae_id, sae_id, sae_id],
        ).fetchall()[0]


def test_killed_fit_resumes_to_the_same_weights_as_an_uninterrupted_run(astro_warehouse, tmp_path):
    straight = tmp_path / "straight.duckdb"
    shutil.copy(astro_warehouse, straight)
    reference_id = train_sae(straight, "astro", **RUN)

    kill = {"class_path": "tests.test_trainer_resume.KillAtStep", "init_args": {"step": 7}}
    with pytest.raises(SimulatedKill):
        train_sae(astro_warehouse, "astro", callbacks=[kill], **RUN)
    assert status_and_rows(astro_warehouse, 1) == ("training", 0, 0)

    sae_id = train_sae(astro_warehouse, "astro", **RUN)  # resumes from the step-4 checkpoint
    assert sae_id == 1 and status_and_rows(astro_warehouse, 1)[0] == "complete"
    with open_reader(straight) as con:
        reference = load_sae_from_warehouse(con, reference_id)
    with open_reader(astro_warehouse) as con:
        resumed = load_sae_from_warehouse(con, sae_id)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=1e-6, msg=name)
    # the dead counters travelled with the checkpoint too
    straight_ckpt = torch.load(straight.parent / "straight_runs" / "sae_1" / "last.ckpt", weights_only=False)
    resumed_ckpt = torch.load(astro_warehouse.parent / "astro_runs" / "sae_1" / "last.ckpt", weights_only=False)
    assert resumed_ckpt["global_step"] == straight_ckpt["global_step"] == RUN["max_steps"]
    assert torch.equal(
        resumed_ckpt["state_dict"]["samples_since_fired"], straight_ckpt["state_dict"]["samples_since_fired"]
    )
    torch.testing.assert_close(
        resumed_ckpt["optimizer_states"][0]["state"][0]["exp_avg"],
        straight_ckpt["optimizer_states"][0]["state"][0]["exp_avg"],
    )


def test_killed_write_leaves_no_visible_rows_and_a_rerun_completes_it(astro_warehouse, monkeypatch):
    real_insert = trainer.outputs.insert_arrow

    def insert_then_die(con, table, rows, order_by=""):
        real_insert(con, table, rows, order_by)
        if table == "latents":
            raise SimulatedKill("killed between two inserts")

    monkeypatch.setattr(trainer.outputs, "insert_arrow", insert_then_die)
    with pytest.raises(SimulatedKill):
        train_sae(astro_warehouse, "astro", **{**RUN, "max_steps": 3})
    assert status_and_rows(astro_warehouse, 1) == ("training", 0, 0)

    monkeypatch.setattr(trainer.outputs, "insert_arrow", real_insert)
    assert train_sae(astro_warehouse, "astro", **{**RUN, "max_steps": 3}) == 1
    status, activations, latents = status_and_rows(astro_warehouse, 1)
    assert status == "complete" and activations > 0 and latents == RUN["n_latents"]
    with open_reader(astro_warehouse) as con:
        assert con.execute("SELECT count(*) FROM saes").fetchall()[0][0] == 1
        checkpoint = con.execute("SELECT checkpoint FROM saes").fetchall()[0][0]
    assert checkpoint == "astro_runs/sae_1/sae.pt"  # relative to the warehouse's folder: the two move together
    assert load_sae(astro_warehouse.parent / checkpoint).n_latents == RUN["n_latents"]
