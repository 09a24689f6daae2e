"""Bad input: each a clear error, and nothing already stored is lost."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from data.embeddings import EmbeddingError
from data.warehouse import open_reader, open_writer
from trainer.api import train_sae
from trainer.callbacks import NonFiniteError
from trainer.checkpoint import CheckpointError, load_sae, load_sae_from_warehouse
from trainer.datamodule import EmbeddingDataModule
from trainer.outputs import encode_corpus

TINY = dict(n_latents=128, k=8, batch_size=128, max_steps=3, enable_progress_bar=False, logger=False)


def stored_state(path):
    with open_reader(path) as con:
        return con.execute(
            "SELECT (SELECT list(sae_id || ':' || status ORDER BY sae_id) FROM saes), "
            "(SELECT count(*) FROM activations), (SELECT count(*) FROM latents), "
            "(SELECT count(*) FROM latent_neighbors)"
        ).fetchall()[0]


@pytest.mark.parametrize(
    "overrides, message",
    [(dict(n_latents=64, k=64), "k must be in"), (dict(n_latents=64, k=8, k_aux=65), "k_aux must be in")],
)
def test_k_too_large_is_refused_before_anything_is_stored(trained_astro_copy, overrides, message):
    before = stored_state(trained_astro_copy.path)
    with pytest.raises(ValueError, match=message):
        train_sae(trained_astro_copy.path, "astro", **{**TINY, **overrides})
    assert stored_state(trained_astro_copy.path) == before


def test_corpus_without_embeddings_names_the_model_and_the_fix(trained_astro_copy):
    before = stored_state(trained_astro_copy.path)
    with pytest.raises(EmbeddingError, match=r"no embeddings for model 'text-embedding-3-small'.*just data astro"):
        train_sae(trained_astro_copy.path, "astro", embed_model="text-embedding-3-small", **TINY)
    assert stored_state(trained_astro_copy.path) == before


def test_a_stored_nan_vector_is_refused_naming_the_document_and_the_fix(trained_astro_copy):
    path = trained_astro_copy.path
    data = EmbeddingDataModule(corpus="astro", warehouse=str(path), batch_size=TINY["batch_size"])
    data.setup()
    _, first_batch_doc_ids = next(iter(data.train_dataloader()))
    poisoned = int(first_batch_doc_ids[5])
    with open_writer(path) as con:
        con.execute(
            "UPDATE embeddings SET vec = [CAST('nan' AS FLOAT)] || vec[2:] "
            "WHERE text_hash = (SELECT text_hash FROM docs WHERE doc_id = ?)",
            [poisoned],
        )
        arxiv_id = con.execute("SELECT arxiv_id FROM docs WHERE doc_id = ?", [poisoned]).fetchall()[0][0]
    before = stored_state(path)
    with pytest.raises(
        EmbeddingError,
        match=rf"1 stored .* vectors are zero or contain NaN/inf, e.g. documents \['{arxiv_id}'\]; `just data",
    ):
        train_sae(path, "astro", **TINY)
    saes, activations, latents, neighbors = stored_state(path)
    assert (activations, latents, neighbors) == before[1:]
    new_id = len(trained_astro_copy.sae_ids) + 1
    assert saes == before[0] + [f"{new_id}:failed"]
    with open_reader(path) as con:
        error = con.execute("SELECT metrics->>'error' FROM saes WHERE sae_id = ?", [new_id]).fetchall()[0][0]
    assert arxiv_id in error


def test_embedding_width_mismatch_with_a_checkpoint(trained_astro):
    with open_reader(trained_astro.path) as con:
        checkpoint = con.execute("SELECT checkpoint FROM saes WHERE sae_id = ?", [trained_astro.sae_ids[0]]).fetchall()[
            0
        ][0]
        with pytest.raises(CheckpointError, match="trained on 384-d vectors but the embeddings given has 1536-d"):
            load_sae_from_warehouse(con, trained_astro.sae_ids[0], expected_d=1536)
    sae = load_sae(trained_astro.path.parent / checkpoint)  # stored relative to the warehouse's folder
    wide = np.zeros((4, 1536), dtype=np.float32)
    with pytest.raises(CheckpointError, match="embedding width mismatch"):
        encode_corpus(sae, np.arange(4), wide)


class PoisonWeightsAtStep(L.Callback):
    """Turns weights to NaN before one step, as a diverging run would: the whole encoder, or the
    decoder row of one latent that no sample selects (its bias far below every other pre-activation)."""

    def __init__(self, step: int, part: str = "encoder") -> None:
        self.step, self.part = step, part

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                if self.part == "encoder":
                    pl_module.sae.encoder.weight.fill_(float("nan"))
                else:
                    pl_module.sae.encoder.bias[5] = -1e6
                    pl_module.sae.W_dec[5].fill_(float("nan"))


@pytest.mark.parametrize(
    "batch_topk, part, message",
    [
        (False, "encoder", r"step 2: the loss is not finite .* doc_ids \[\d+"),
        (True, "encoder", r"step 2: the loss is not finite .* doc_ids \[\d+"),
        # the sparse decoder never reads an unselected latent's row: the loss stays finite, the weights do not
        (False, "unselected_decoder_row", r"step 2: the weights \[.*'sae.W_dec'.*\] are not finite .* doc_ids \[\d+"),
        (True, "unselected_decoder_row", r"step 2: the weights \[.*'sae.W_dec'.*\] are not finite .* doc_ids \[\d+"),
    ],
)
def test_nan_loss_or_weights_stop_naming_step_and_docs_and_mark_the_run_failed(
    astro_warehouse, batch_topk, part, message
):
    poison = {"class_path": "tests.test_trainer_bad_input.PoisonWeightsAtStep", "init_args": {"step": 2, "part": part}}
    with pytest.raises(NonFiniteError, match=message):
        train_sae(astro_warehouse, "astro", callbacks=[poison], batch_topk=batch_topk, **TINY)
    saes, activations, _, _ = stored_state(astro_warehouse)
    assert saes == ["1:failed"] and activations == 0
