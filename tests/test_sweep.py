"""`just sweep`: the architecture x n x k grid (trainer.sweep), judged on held-out numbers (evals.sweep)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml

from data.commands import load_config
from data.embeddings import load_embeddings
from data.warehouse import open_reader
from evals.coherence import feature_coherence
from evals.sweep import Health, SaeQuality, main, mark_pareto_and_recommended, recommended_sae
from trainer.sweep import SweepGrid

FAST = {"max_steps": 3, "val_check_interval": 1, "batch_size": 128, "enable_progress_bar": False, "logger": False}


def test_sweep_trains_every_cell_judges_it_and_stores_one_recommendation(astro_warehouse, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "architectures": {
                    "topk": {"batch_topk": False},
                    "batchtopk": {"batch_topk": True},
                    "matryoshka": {"matryoshka": [0.25], "batch_topk": False},
                },
                "expansion": [0.25],
                "k": [4, 8],
                "overrides": FAST,
            },
            sort_keys=False,
        )
    )
    assert main(["astro", "--config", str(grid), "--warehouse", str(astro_warehouse)]) == 0
    printed, progress = capsys.readouterr()
    assert "sweep astro: SAE 1 of 6 (topk, n 96, k 4)\n" in progress
    assert re.search(r"SAE 6 of 6 \(matryoshka, n 96, k 8\); 5 done in \d+ s, about \d+ s left", progress), progress
    with open_reader(astro_warehouse) as con:
        saes = con.execute("SELECT sae_id, name, n_latents, k, status, config FROM saes ORDER BY sae_id").fetchall()
        stored = {
            row[0]: json.loads(row[1])
            for row in con.execute(
                "SELECT sae_id, summary FROM eval_summaries WHERE eval = 'sweep' ORDER BY sae_id"
            ).fetchall()
        }
        recommended = recommended_sae(con, "astro")
        levels = con.execute("SELECT max(level) FROM latents WHERE sae_id = ?", [saes[4][0]]).fetchall()[0][0]
    assert [(name, n, k, status) for _, name, n, k, status, _ in saes] == [
        (f"astro-{arch}-n96-k{k}", 96, k, "complete") for arch in ("topk", "batchtopk", "matryoshka") for k in (4, 8)
    ]
    assert json.loads(saes[2][5])["model"]["batch_topk"] and json.loads(saes[4][5])["model"]["matryoshka"] == [0.25]
    assert levels == 1
    assert sorted(stored) == [row[0] for row in saes]
    assert [s["architecture"] for s in stored.values()] == ["topk"] * 2 + ["batchtopk"] * 2 + ["matryoshka"] * 2
    assert sum(s["recommended"] for s in stored.values()) == 1 and stored[recommended]["recommended"]
    for summary in stored.values():
        assert summary["test_fvu"] > 0 and summary["train_fvu"] > 0 and 0 <= summary["dead_fraction"] <= 1
        assert -1 <= summary["coherence"] <= 1
    assert len(stored[saes[4][0]]["coherence_by_level"]) == 2
    assert ">>" in printed and "matryoshka" in printed


def test_pareto_front_and_recommendation_follow_their_definitions():
    def quality(sae_id, test_fvu, l0, coherence, gap=0.03, dead=0.0):
        return SaeQuality(sae_id, f"s{sae_id}", "topk", 512, 64, test_fvu, test_fvu - gap, gap, l0, coherence, [], dead)

    rows = [
        quality(1, 0.25, 64, 0.22),  # dominated by 5 (and 4), but the best healthy score: -0.03
        quality(2, 0.30, 64, 0.20),  # dominated by 1
        quality(3, 0.35, 32, 0.30),  # front (lowest L0); score -0.05
        quality(4, 0.20, 64, 0.26, gap=0.15),  # front and best score, but overfits: not recommended
        quality(5, 0.24, 64, 0.25, dead=0.05),  # dominated by 4; 5% dead
    ]
    mark_pareto_and_recommended(rows, Health())
    assert [row.sae_id for row in rows if row.pareto] == [3, 4]
    assert [row.sae_id for row in rows if row.recommended] == [1]
    mark_pareto_and_recommended(rows[3:4], Health())  # nothing healthy: the best of all
    assert rows[3].recommended

    # An SAE trained before the train FVU was recorded has no gap: judged, never counted healthy (was a TypeError).
    no_gap = SaeQuality(6, "s6", "topk", 512, 64, 0.19, None, None, 64, 0.40, [], 0.0)
    untested = SaeQuality(7, "s7", "topk", 512, 64, None, None, None, 64, 0.90, [], 0.0)
    fresh = [quality(1, 0.25, 64, 0.22), no_gap, untested]
    mark_pareto_and_recommended(fresh, Health())
    assert [row.sae_id for row in fresh if row.pareto] == [6]
    assert [row.sae_id for row in fresh if row.recommended] == [1]


def test_feature_coherence_matches_a_direct_computation(trained_astro):
    sae_id = trained_astro.sae_ids[0]
    with open_reader(trained_astro.path) as con:
        coherence = feature_coherence(con, sae_id, "all-MiniLM-L6-v2", 768)
        acts = con.execute("SELECT latent, doc_id, value FROM activations WHERE sae_id = ?", [sae_id]).fetchnumpy()
        doc_ids, matrix = load_embeddings(con, "all-MiniLM-L6-v2")
    centred = matrix - matrix.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    checked = 0
    for latent in np.unique(acts["latent"])[:25]:
        mine = acts["latent"] == latent
        order = np.lexsort((acts["doc_id"][mine], -acts["value"][mine]))[:10]
        vectors = centred[np.searchsorted(doc_ids, acts["doc_id"][mine][order])]
        if len(vectors) < 2:
            assert np.isnan(coherence[latent])
            continue
        gram = vectors @ vectors.T
        expected = (gram.sum() - np.trace(gram)) / (len(vectors) * (len(vectors) - 1))
        assert coherence[latent] == pytest.approx(expected, abs=1e-5)
        checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"k": [8]}, "n_latents or expansion must be a non-empty list"),  # a grid without sizes
        ({"k": [8], "n_latents": [64], "sizes": [1]}, r"unknown key\(s\) \['sizes'\]"),
        ({"k": [0], "n_latents": [64]}, "positive numbers"),
        ({"k": [8], "n_latents": [64], "architectures": {"btk": True}}, "architectures"),
    ],
)
def test_bad_grids_are_clear_errors(tmp_path, grid, message):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    with pytest.raises(ValueError, match=message):
        load_config(SweepGrid, path)


def test_share_of_family_children_in_a_later_matryoshka_prefix(tmp_path):
    from data.warehouse import open_writer
    from evals.families.stats import children_in_later_prefix

    with open_writer(tmp_path / "w.duckdb") as con:
        # latents 0-1 level 0, 2-5 level 1, 6-9 level 2
        for latent in range(10):
            con.execute(
                "INSERT INTO latents VALUES (1, ?, 0.1, 1, 1, 0.9, ?)",
                [latent, 0 if latent < 2 else 1 if latent < 6 else 2],
            )
            con.execute("INSERT INTO latents VALUES (2, ?, 0.1, 1, 1, 0.9, 0)", [latent])
        members = [
            (0, None, 0),
            (2, 0, 1),
            (7, 0, 1),
            (1, 0, 1),
            (3, None, 0),
            (4, 3, 1),
            (8, 3, 1),
        ]  # children: 2, 7, 1 | 4, 8
        for sae_id in (1, 2):
            for latent, parent, depth in members:
                con.execute("INSERT INTO family_members VALUES (?, 1, ?, ?, ?)", [sae_id, latent, parent, depth])
        assert children_in_later_prefix(con, 1) == pytest.approx(3 / 5)  # 2 and 7 under 0; 8 under 3
        assert children_in_later_prefix(con, 2) is None  # one level: nothing to compare
        assert children_in_later_prefix(con, 3) is None
