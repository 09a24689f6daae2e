"""Feature splitting: nearest-decoder matching, chains across three sizes, histograms, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data.warehouse import open_reader, open_writer, transaction
from evals.saes import StoredSAE, UnknownSAE
from evals.splits import PairMatch, load_decoder, match_decoders, run_splits, split_chains
from evals.splits import main as splits_main


def test_match_decoders_finds_the_nearest_direction_even_unnormalised():
    rng = np.random.default_rng(0)
    small = rng.standard_normal((50, 16))
    # Each large row is a small row (scaled, slightly perturbed): its match must be that row.
    parents = rng.integers(0, 50, 300)
    large = 3.0 * small[parents] + 0.05 * rng.standard_normal((300, 16))
    index, cosine = match_decoders(small, large, chunk=64)
    assert np.array_equal(index, parents)
    assert np.all(cosine > 0.95) and np.all(cosine <= 1.0 + 1e-6)

    # A brute-force check of the cosines on a random pair.
    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    full = unit(large) @ unit(small).T
    np.testing.assert_allclose(cosine, full.max(axis=1), rtol=1e-5)


def test_match_decoders_rejects_different_widths():
    with pytest.raises(ValueError, match="same d"):
        match_decoders(np.ones((3, 4)), np.ones((5, 6)))


def test_pair_summary_histogram_counts_every_large_latent():
    small, large = StoredSAE(1, "s", "c", "m", 2, 4, 8), StoredSAE(2, "l", "c", "m", 2, 6, 8)
    match = PairMatch(
        small, large, np.array([0, 0, 0, 1, 2, 2]), np.array([0.95, 0.91, 0.3, 0.99, 0.2, 0.5], np.float32)
    )
    summary = match.summary(bins=10)
    assert sum(summary["histogram"]["counts"]) == 6
    assert summary["fraction_above_0.9"] == pytest.approx(0.5)
    assert summary["max_children"] == 3 and summary["small_latents_matched"] == 3


def test_splits_on_three_trained_sizes(trained_astro_copy, capsys):
    path, sae_ids = trained_astro_copy
    assert splits_main(["astro", "--warehouse", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Feature splitting" in out and out.count("->") >= 3  # three pairs, each with a histogram

    with open_reader(path) as con:
        n = dict(con.execute("SELECT sae_id, n_latents FROM saes").fetchall())
        rows = con.execute(
            "SELECT small_sae_id, large_sae_id, count(*), count(DISTINCT large_latent), "
            "max(small_latent), min(cosine), max(cosine) FROM splits GROUP BY ALL ORDER BY 1, 2"
        ).fetchall()
        assert [(small, large) for small, large, *_ in rows] == [
            (sae_ids[0], sae_ids[1]),
            (sae_ids[0], sae_ids[2]),
            (sae_ids[1], sae_ids[2]),
        ]
        for small, large, count, distinct, max_small, low, high in rows:
            assert count == distinct == n[large]  # every latent of the larger SAE matched once
            assert max_small < n[small] and -1 <= low <= high <= 1 + 1e-6
        # The stored match is the true nearest decoder (checked independently with numpy).
        small_dec, large_dec = load_decoder(con, sae_ids[0]), load_decoder(con, sae_ids[2])
        stored = np.array(
            con.execute(
                "SELECT small_latent FROM splits WHERE small_sae_id = ? AND large_sae_id = ? ORDER BY large_latent",
                [sae_ids[0], sae_ids[2]],
            ).fetchall()
        )[:, 0]
        assert np.array_equal(stored, np.argmax(large_dec @ small_dec.T, axis=1))
        summary = json.loads(
            con.execute(
                "SELECT summary FROM eval_summaries WHERE sae_id = ? AND eval = 'splits'", [sae_ids[2]]
            ).fetchall()[0][0]
        )
        assert {p["small_sae_id"] for p in summary["pairs"]} == set(sae_ids[:2])
        assert all(sum(p["histogram"]["counts"]) == n[sae_ids[2]] for p in summary["pairs"])

        # Chains: every chain is small -> middle -> large through the stored matches.
        latent = int(
            con.execute(
                "SELECT small_latent FROM splits WHERE small_sae_id = ? AND large_sae_id = ? "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
                [sae_ids[0], sae_ids[1]],
            ).fetchall()[0][0]
        )
        chains = split_chains(con, latent, tuple(sae_ids))
        assert chains.chains
        match = dict(
            con.execute(
                "SELECT large_latent, small_latent FROM splits WHERE small_sae_id = ? AND large_sae_id = ?",
                [sae_ids[1], sae_ids[2]],
            ).fetchall()
        )
        middles = {
            m
            for (m,) in con.execute(
                "SELECT large_latent FROM splits WHERE small_sae_id = ? AND large_sae_id = ? AND small_latent = ?",
                [sae_ids[0], sae_ids[1], latent],
            ).fetchall()
        }
        assert all(s == latent and m in middles and match[big] == m for s, m, big in chains.chains)
        assert 0.0 <= chains.consistency <= 1.0

        with pytest.raises(ValueError, match="out of range"):
            split_chains(con, 10**6, tuple(sae_ids))
        with pytest.raises(UnknownSAE, match="unknown SAE id 4242"):
            split_chains(con, 0, (sae_ids[0], sae_ids[1], 4242))

    # Re-running replaces, never duplicates.
    run_splits(path, "astro")
    with open_reader(path) as con:
        assert con.execute("SELECT count(*) FROM splits").fetchall()[0][0] == n[sae_ids[1]] + 2 * n[sae_ids[2]]


def test_splits_bad_input_is_a_clear_error_and_loses_nothing(trained_astro_copy, capsys):
    path, sae_ids = trained_astro_copy
    run_splits(path, "astro", sae_ids[:2])
    with open_reader(path) as con:
        before = con.execute("SELECT count(*) FROM splits").fetchall()
    assert splits_main(["astro", "--warehouse", str(path), "--sae-id", str(sae_ids[0]), "999"]) == 2
    assert "unknown SAE id 999" in capsys.readouterr().out
    assert splits_main(["astro", "--warehouse", str(path), "--sae-id", str(sae_ids[0])]) == 2
    assert "at least two" in capsys.readouterr().out
    assert splits_main(["nowhere", "--warehouse", str(path)]) == 2
    assert "unknown corpus 'nowhere'" in capsys.readouterr().out
    # A SAE trained on another embedding model cannot be compared: refused when named, skipped by default.
    with open_writer(path) as con, transaction(con):
        con.execute("UPDATE saes SET embed_model = 'text-embedding-3-small' WHERE sae_id = ?", [sae_ids[2]])
    with pytest.raises(ValueError, match="different embeddings"):
        run_splits(path, "astro", sae_ids)
    with open_reader(path) as con:
        assert con.execute("SELECT count(*) FROM splits").fetchall() == before
    assert [(m.small.sae_id, m.large.sae_id) for m in run_splits(path, "astro")] == [(sae_ids[0], sae_ids[1])]
