"""The trained_astro fixture: three complete SAEs with every output table written."""

from __future__ import annotations

import json

import numpy as np

from data.warehouse import open_reader
from trainer.checkpoint import load_sae_from_warehouse


def test_trained_astro_has_three_complete_saes(trained_astro):
    with open_reader(trained_astro.path) as con:
        saes = con.execute("SELECT sae_id, n_latents, k, status, metrics FROM saes ORDER BY sae_id").fetchall()
        n_docs = con.execute("SELECT count(*) FROM docs").fetchall()[0][0]
        assert [row[0] for row in saes] == trained_astro.sae_ids
        assert [row[1] for row in saes] == [768, 1536, 3072]
        for sae_id, n_latents, k, status, metrics in saes:
            assert status == "complete" and k == 32
            metrics = json.loads(metrics)
            assert 0 < metrics["val_fvu"] < 1
            count, docs, max_latent = con.execute(
                "SELECT count(*), count(DISTINCT doc_id), max(latent) FROM activations WHERE sae_id = ?", [sae_id]
            ).fetchall()[0]
            assert docs == n_docs and count <= n_docs * k and max_latent < n_latents
            assert con.execute("SELECT count(*) FROM latents WHERE sae_id = ?", [sae_id]).fetchall()[0][0] == n_latents
            neighbors = con.execute(
                "SELECT kind, count(*) FROM latent_neighbors WHERE sae_id = ? GROUP BY kind ORDER BY kind", [sae_id]
            ).fetchall()
            assert neighbors == [("farthest", 10 * n_latents), ("nearest", 10 * n_latents)]


def test_activations_are_stored_in_latent_order_and_match_the_checkpoint(trained_astro):
    sae_id = trained_astro.sae_ids[0]
    with open_reader(trained_astro.path) as con:
        rows = con.execute("SELECT latent, value, doc_id FROM activations WHERE sae_id = ?", [sae_id]).fetchnumpy()
        sae = load_sae_from_warehouse(con, sae_id)
        doc_id = int(rows["doc_id"][0])
        from data.embeddings import load_embeddings

        doc_ids, matrix = load_embeddings(con, "all-MiniLM-L6-v2")
    latents, values = rows["latent"], rows["value"]
    # physical order: latent ascending, value descending inside a latent
    assert np.all(np.diff(latents) >= 0)
    same = np.diff(latents) == 0
    assert np.all(np.diff(values)[same] <= 0)
    import torch

    code_values, code_latents = sae.encode(torch.from_numpy(matrix[doc_ids == doc_id]))
    stored = {
        int(latent): float(v) for latent, v, d in zip(latents, values, rows["doc_id"], strict=False) if d == doc_id
    }
    expected = {int(latent): float(v) for latent, v in zip(code_latents[0], code_values[0], strict=False) if v > 0}
    assert stored.keys() == expected.keys()
    assert np.allclose([stored[latent] for latent in expected], list(expected.values()), atol=1e-5)


def test_sort_for_latent_reads_packed_and_fallback_paths_match_lexsort():
    from trainer.outputs import sort_for_latent_reads

    rng = np.random.default_rng(0)
    for n_latents, n_rows in ((300, 5_000), (2**21, 2**21)):  # fits in one uint64 key / does not
        latents = rng.integers(0, n_latents, 20_000).astype(np.int32)
        values = (rng.random(20_000, dtype=np.float32) + np.float32(1e-6)).round(3)  # ties on purpose
        rows = rng.integers(0, n_rows, 20_000)
        got_latents, got_values, got_rows = sort_for_latent_reads(latents, values, rows)
        order = np.lexsort((-values, latents))
        assert np.array_equal(got_latents, latents[order]) and np.array_equal(got_values, values[order])
        assert sorted(zip(got_latents, got_values, got_rows, strict=False)) == sorted(
            zip(latents, values, rows, strict=False)
        )


def test_batchtopk_matryoshka_sae_stores_varying_counts_per_document_and_latent_levels(astro_warehouse):
    """A BatchTopK threshold gives each document its own number of rows; writers and readers must not assume k."""
    import torch

    from data.embeddings import load_embeddings
    from evals.cooccurrence import cooccurrence_counts
    from trainer.api import train_sae

    sae_id = train_sae(
        astro_warehouse,
        "astro",
        n_latents=256,
        k=8,
        batch_topk=True,
        matryoshka=[0.0625, 0.25],
        max_steps=30,
        batch_size=512,
        lr=1e-3,
        enable_progress_bar=False,
        logger=False,
    )
    with open_reader(astro_warehouse) as con:
        sae = load_sae_from_warehouse(con, sae_id)
        per_doc = con.execute(
            "SELECT doc_id, count(*) AS n FROM activations WHERE sae_id = ? GROUP BY doc_id ORDER BY doc_id", [sae_id]
        ).fetchnumpy()
        rows = con.execute("SELECT doc_id, latent, value FROM activations WHERE sae_id = ?", [sae_id]).fetchnumpy()
        levels = con.execute(
            "SELECT level, count(*) FROM latents WHERE sae_id = ? GROUP BY level ORDER BY level", [sae_id]
        ).fetchall()
        density = con.execute("SELECT density FROM latents WHERE sae_id = ? ORDER BY latent", [sae_id]).fetchnumpy()[
            "density"
        ]
        n_docs = con.execute("SELECT count(*) FROM docs").fetchall()[0][0]
        counts = cooccurrence_counts(con, sae_id)
        doc_ids, matrix = load_embeddings(con, "all-MiniLM-L6-v2")
    assert sae.batch_topk and float(sae.threshold) > 0 and sae.prefixes == (16, 64)
    assert levels == [(0, 16), (1, 48), (2, 192)]
    assert per_doc["n"].min() < per_doc["n"].max(), "every document got the same count: the threshold did nothing"
    assert 1 <= per_doc["n"].mean() <= 64
    # every document's stored rows are its thresholded code
    with torch.no_grad():
        values, latents = sae.encode(torch.from_numpy(np.array(matrix)))
    expected = {
        (int(d), int(latent)): float(v)
        for d, vs, ls in zip(doc_ids, values, latents, strict=False)
        for v, latent in zip(vs, ls, strict=False)
        if v > 0
    }
    stored = {
        (int(d), int(latent)): float(v)
        for d, latent, v in zip(rows["doc_id"], rows["latent"], rows["value"], strict=False)
    }
    assert stored.keys() == expected.keys()
    assert np.allclose([stored[key] for key in expected], list(expected.values()), atol=1e-5)
    # readers: co-occurrence's diagonal and the stored density count the same documents per latent
    np.testing.assert_allclose(counts.diagonal() / n_docs, density)
