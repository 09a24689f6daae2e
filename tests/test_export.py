"""Exports: sparsify safetensors, a sentence-transformers SparseEncoder folder, parquet; each read back by its tool."""

from __future__ import annotations

import json
import shutil

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from data.embeddings import load_embeddings
from evals.export.common import UnsupportedSAE
from evals.export.pipeline import export_sae
from evals.saes import UnknownSAE
from tests.dashboard_support import sql
from trainer.checkpoint import load_sae_from_warehouse


def _label_latent_zero(path, label="weak lensing by clusters"):
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO interpretations "
            "(sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, auroc, status, created_at) "
            "SELECT sae_id, 0, 'test', 'test', false, ?, 0.9, 0.8, 0.95, 'complete', now() FROM saes",
            [label],
        )


def _ours(path, sae_id, x: torch.Tensor) -> torch.Tensor:
    with duckdb.connect(str(path), read_only=True) as con:
        sae = load_sae_from_warehouse(con, sae_id)
    with torch.no_grad():
        values, indices = sae.encode(x)
    return torch.zeros(len(x), sae.n_latents).scatter_(1, indices, values)


def _encode_from_export(folder, x: torch.Tensor) -> torch.Tensor:
    """The encoder that the exported files state, from those files only: sparsify's
    TopK(ReLU(W_enc (x - b_dec) + b_enc)), or a BatchTopK SAE's pre * (pre > threshold)."""
    tensors = load_file(str(folder / "sae.safetensors"))
    cfg = json.loads((folder / "cfg.json").read_text())
    pre = torch.nn.functional.linear(x - tensors["b_dec"], tensors["encoder.weight"], tensors["encoder.bias"])
    if "threshold" in cfg:
        return torch.where(pre > cfg["threshold"], pre, torch.zeros_like(pre))
    values, indices = pre.relu().topk(cfg["k"], dim=-1)
    return torch.zeros_like(pre).scatter_(1, indices, values)


@pytest.fixture(scope="module")
def batchtopk_astro(trained_astro, tmp_path_factory):
    """A copy of ``trained_astro`` plus a small Matryoshka BatchTopK SAE (the default architecture)."""
    from trainer.api import train_sae

    path = tmp_path_factory.mktemp("batchtopk") / "astro.duckdb"
    shutil.copy(trained_astro.path, path)
    sae_id = train_sae(
        path,
        "astro",
        n_latents=256,
        k=16,
        batch_topk=True,
        matryoshka=[0.25],
        max_steps=60,
        batch_size=512,
        lr=1e-3,
        enable_progress_bar=False,
        logger=False,
    )
    _label_latent_zero(path)
    return path, sae_id


def _texts_and_our_codes(path, sae_id, n=50):
    from data.embed.local import LocalEmbedder
    from data.text import embedding_text

    rows = sql(path, "SELECT title, abstract FROM docs ORDER BY doc_id LIMIT ?", [n])
    texts = [embedding_text(title, abstract) for title, abstract in rows]
    return texts, _ours(path, sae_id, torch.from_numpy(LocalEmbedder().embed(texts)))


def test_safetensors_export_uses_sparsify_names_and_reproduces_our_activations(trained_astro_copy, tmp_path):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[1]
    _label_latent_zero(path)
    report = export_sae(path, "astro", "safetensors", sae_id, tmp_path / "sparsify")
    folder = report.folder
    tensors = load_file(str(folder / "sae.safetensors"))
    cfg = json.loads((folder / "cfg.json").read_text())
    n, d, k = sql(path, "SELECT n_latents, d, k FROM saes WHERE sae_id = ?", [sae_id])[0]
    assert {name: tuple(t.shape) for name, t in tensors.items()} == {
        "encoder.weight": (n, d),
        "encoder.bias": (n,),
        "W_dec": (n, d),
        "b_dec": (d,),
    }
    assert (
        cfg["num_latents"] == n
        and cfg["k"] == k
        and cfg["d_in"] == d
        and cfg["activation"] == "topk"
        and not cfg["transcode"]
    )
    assert json.loads((folder / "atlas.json").read_text())["key_mapping"]["b_pre"] == "b_dec"
    labels = json.loads((folder / "labels.json").read_text())
    assert len(labels["features"]) == n and labels["features"][0]["label"] == "weak lensing by clusters"
    assert labels["features"][1]["label"] is None and report.labelled == 1

    # sparsify's encoder, from the exported files only: TopK(ReLU(W_enc (x - b_dec) + b_enc)).
    with duckdb.connect(str(path), read_only=True) as con:
        doc_ids, matrix = load_embeddings(con, "all-MiniLM-L6-v2")
        stored = con.execute(
            "SELECT doc_id, latent, value FROM activations WHERE sae_id = ? AND doc_id < 500", [sae_id]
        ).fetchnumpy()
    x = torch.from_numpy(matrix[:500])
    theirs = _encode_from_export(folder, x)
    values, indices = theirs.topk(cfg["k"], dim=-1)
    assert torch.equal(theirs, _ours(path, sae_id, x))  # exactly our encoder
    as_stored = np.zeros((500, n), np.float32)
    as_stored[np.searchsorted(doc_ids, stored["doc_id"]), stored["latent"]] = stored["value"]
    assert np.array_equal(as_stored > 0, theirs.numpy() > 0) and np.abs(as_stored - theirs.numpy()).max() < 1e-5
    decoded = theirs[:5] @ tensors["W_dec"] + tensors["b_dec"]
    with duckdb.connect(str(path), read_only=True) as con:
        sae = load_sae_from_warehouse(con, sae_id)
    assert torch.allclose(decoded, sae.decode(values[:5], indices[:5]).detach(), atol=1e-5)


def test_sentence_transformers_folder_loads_offline_and_encodes_like_our_encoder(
    trained_astro_copy, tmp_path, monkeypatch
):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    _label_latent_zero(path)
    folder = export_sae(path, "astro", "sentence-transformers", sae_id, tmp_path / "st").folder
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SparseEncoder

    model = SparseEncoder(str(folder), device="cpu", local_files_only=True)
    texts, ours = _texts_and_our_codes(path, sae_id)
    theirs = model.encode(texts, convert_to_tensor=True).to_dense()
    assert theirs.shape == ours.shape == (50, model.get_embedding_dimension())
    assert torch.equal(theirs > 0, ours > 0)  # the same active features in every abstract
    assert (theirs - ours).abs().max().item() < 1e-5
    labels = json.loads((folder / "labels.json").read_text())
    assert labels["features"][0]["label"] == "weak lensing by clusters"
    assert (folder / "sae_atlas" / "sae.safetensors").exists()  # the untied decoder travels along
    # Sparse retrieval in the library: an abstract finds itself first.
    scores = model.similarity(
        model.encode(texts[:3], convert_to_tensor=True), model.encode(texts, convert_to_tensor=True)
    )
    assert scores.argmax(dim=1).tolist() == [0, 1, 2]


def test_parquet_export_holds_activations_features_and_labels(trained_astro_copy, tmp_path, capsys):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    _label_latent_zero(path)
    folder = export_sae(path, "astro", "parquet", sae_id, tmp_path / "pq").folder
    assert "export parquet" in (bar := capsys.readouterr().err) and "2/2" in bar  # its phases, on stderr
    activations = pq.read_table(folder / "activations.parquet")
    assert activations.num_rows == sql(path, "SELECT count(*) FROM activations WHERE sae_id = ?", [sae_id])[0][0]
    assert activations.column_names == ["doc_id", "arxiv_id", "latent", "value"]
    features = pq.read_table(folder / "features.parquet").to_pandas()
    assert len(features) == sql(path, "SELECT n_latents FROM saes WHERE sae_id = ?", [sae_id])[0][0]
    assert features.loc[0, "label"] == "weak lensing by clusters" and features.loc[0, "auroc"] == pytest.approx(0.95)
    assert features["density"].to_numpy() == pytest.approx(
        [r[0] for r in sql(path, "SELECT density FROM latents WHERE sae_id = ? ORDER BY latent", [sae_id])]
    )
    docs = pq.read_table(folder / "docs.parquet").to_pandas()
    assert set(docs["split"]) == {"train", "test"} and len(docs) == len(activations.column("doc_id").unique())


def test_exports_replace_whole_folders_and_keep_them_on_error(trained_astro, tmp_path):
    path, sae_id = trained_astro.path, trained_astro.sae_ids[0]
    out = tmp_path / "out"
    export_sae(path, "astro", "safetensors", sae_id, out)
    (out / "stray.txt").write_text("from an older export")
    export_sae(path, "astro", "safetensors", sae_id, out)
    assert not (out / "stray.txt").exists() and (out / "sae.safetensors").exists()
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir())
    with pytest.raises(UnknownSAE, match="unknown SAE id 999"):
        export_sae(path, "astro", "safetensors", 999, out)
    with pytest.raises(ValueError, match="unknown export format 'onnx'"):
        export_sae(path, "astro", "onnx", sae_id, out)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


def test_sentence_transformers_export_refuses_an_api_embedding_model(trained_astro_copy, tmp_path):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE saes SET embed_model = 'text-embedding-3-small' WHERE sae_id = ?", [sae_id])
    with pytest.raises(UnsupportedSAE, match="use --format safetensors"):
        export_sae(path, "astro", "sentence-transformers", sae_id, tmp_path / "st")
    assert not (tmp_path / "st").exists()


def test_batchtopk_safetensors_export_states_its_threshold_and_reproduces_our_activations(batchtopk_astro, tmp_path):
    path, sae_id = batchtopk_astro
    folder = export_sae(path, "astro", "safetensors", sae_id, tmp_path / "sparsify").folder
    cfg = json.loads((folder / "cfg.json").read_text())
    with duckdb.connect(str(path), read_only=True) as con:
        sae = load_sae_from_warehouse(con, sae_id)
        _, matrix = load_embeddings(con, "all-MiniLM-L6-v2")
    assert sae.batch_topk and cfg["threshold"] == float(sae.threshold) > 0
    assert "pre > threshold" in json.loads((folder / "atlas.json").read_text())["encode"]
    x = torch.from_numpy(matrix[:500])
    theirs, ours = _encode_from_export(folder, x), _ours(path, sae_id, x)
    assert torch.equal(theirs, ours)
    active = (ours > 0).sum(dim=1)
    assert active.min() < active.max()  # a threshold encoder: the number of active features varies per text


def test_batchtopk_sentence_transformers_folder_encodes_like_our_encoder(batchtopk_astro, tmp_path, monkeypatch):
    path, sae_id = batchtopk_astro
    folder = export_sae(path, "astro", "sentence-transformers", sae_id, tmp_path / "st").folder
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SparseEncoder

    with pytest.raises(ValueError, match="trust_remote_code"):  # the folder's one code file is never run unasked
        SparseEncoder(str(folder), device="cpu", local_files_only=True)
    model = SparseEncoder(str(folder), device="cpu", local_files_only=True, trust_remote_code=True)
    texts, ours = _texts_and_our_codes(path, sae_id)
    theirs = model.encode(texts, convert_to_tensor=True).to_dense()
    assert theirs.shape == ours.shape
    assert torch.equal(theirs > 0, ours > 0) and (theirs - ours).abs().max().item() < 1e-5
    assert (ours > 0).sum(dim=1).max() > 16  # more active features than k somewhere: nothing capped them
    assert json.loads((folder / "labels.json").read_text())["features"][0]["label"] == "weak lensing by clusters"
