"""The parts of the steering benchmark that make it able to fail: relevance-chosen up feature,
drift-matched control, decoder matching of the judge SAE, per-query paired comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wilcoxon

from evals.steering.concept_judge import match_decoders
from evals.steering.config import SteeringBenchConfig
from evals.steering.control import control_latent, turned_towards
from evals.steering.features import FeatureCatalog, FeatureChoice, choose_features
from evals.steering.paired import at_cos, paired_summary, signed_rank_p

CONFIG = SteeringBenchConfig(up_strengths=[0.5, 1.0], down_strengths=[-1.0], paired_path=[[0.5, -1.0], [1.0, -1.0]])


def neighbourhood(
    counts: dict[int, int], in_results: dict[int, int] | None = None, size: int = 100
) -> list[np.ndarray]:
    """``size`` ranked documents' active latents: latent l on counts[l] documents after the top 10 and
    on in_results[l] of the top 10."""
    in_results = in_results or {}
    return [
        np.asarray(
            [
                latent
                for latent, count in (in_results if doc < 10 else counts).items()
                if (doc if doc < 10 else doc - 10) < count
            ],
            dtype=np.int64,
        )
        for doc in range(size)
    ]


def test_the_up_feature_is_the_most_enriched_in_the_neighbourhood_and_absent_from_the_query():
    density = np.full(20, 0.01)
    density[[5, 9, 6]] = [0.05, 0.15, 0.5]
    catalog = FeatureCatalog(density=density, labels={})

    def judgeable(latent: int) -> bool:
        return latent != 10

    query = np.asarray([3, 7, 2])
    hood = neighbourhood({5: 30, 9: 20, 6: 60, 7: 50, 8: 3, 10: 40, 3: 90, 11: 50}, in_results={3: 10, 11: 1})
    # 6 is too dense, 7 and 3 are the query's own, 8 is on too few documents, 10 has no judge counterpart,
    # 11 is already in the results; 5 (30 of 90 docs where 4.5 are expected) beats 9 (20 where 13.5 are)
    assert choose_features(query, hood, catalog, CONFIG, judgeable) == FeatureChoice(up=5, down=3)
    assert choose_features(query, hood, catalog, CONFIG, judgeable) == choose_features(
        query, hood, catalog, CONFIG, judgeable
    )
    # labelled latents come first when labels exist
    labelled = FeatureCatalog(density=density, labels={9: "galaxy clusters", 2: "lensing"})
    assert choose_features(query, hood, labelled, CONFIG, judgeable) == FeatureChoice(up=9, down=2)
    lenient = SteeringBenchConfig(**{**CONFIG.__dict__, "up_max_in_results": 1})
    assert choose_features(query, hood, catalog, lenient, judgeable) == FeatureChoice(up=11, down=3)
    # a latent less common among the neighbours than in the corpus is never "relevant"
    assert (
        choose_features(query, neighbourhood({9: 12}), catalog, CONFIG, judgeable)
        == "no judgeable latent enriched in the query's neighbourhood (up)"
    )
    assert "down" in choose_features(np.asarray([10]), hood, catalog, CONFIG, judgeable)


def test_the_control_turns_the_query_to_exactly_the_same_cosine():
    rng = np.random.default_rng(0)
    q, direction = rng.standard_normal((2, 384))
    for cos in (0.99, 0.8, 0.3, 0.0, -0.5):
        turned = turned_towards(3.0 * q, direction, cos)
        assert turned @ q / np.linalg.norm(q) == pytest.approx(cos, abs=1e-6)
        assert np.linalg.norm(turned) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="parallel"):
        turned_towards(q, 2 * q, 0.5)
    picks = {control_latent(6, {0, 1, 2}, rng) for _ in range(50)}
    assert picks == {3, 4, 5}


def test_judge_latents_are_matched_by_decoder_cosine():
    rng = np.random.default_rng(1)
    steering = torch.from_numpy(rng.standard_normal((300, 64)).astype(np.float32))
    order = rng.permutation(300)
    judge = 2.0 * steering[order] + 0.05 * torch.randn(300, 64)  # another scale, a little noise, shuffled
    counterpart, cos = match_decoders(steering, judge, chunk=128)
    np.testing.assert_array_equal(order[counterpart], np.arange(300))
    assert cos.min() > 0.99
    _, unrelated = match_decoders(steering, torch.randn(300, 64))
    assert np.median(unrelated) < 0.5


def rows_for(query: str, path: dict, rewrite: tuple | None, down=None, control_up=0.1) -> list[dict]:
    """Benchmark rows of one query: ``path`` maps (u, d) -> (cos, up); ``rewrite`` = (cos, up, down)."""

    def row(method, u, d, cos, up, down_success):
        return {
            "query": query,
            "method": method,
            "u": u,
            "d": d,
            "cos_qq": cos,
            "up_success": up,
            "up_success_self": min(1.0, up + 0.3),
            "down_success": down_success,
        }

    rows = [row("none", 0.0, 0.0, 1.0, 0.0, None if down is None else 0.0)]
    for (u, d), (cos, up) in path.items():
        rows += [
            row("sae", u, d, cos, up, down),
            row("control:sae", u, d, cos, control_up, None if down is None else 0.2),
        ]
    if rewrite:
        rows += [
            row("rewrite-offline", None, None, rewrite[0], rewrite[1], rewrite[2]),
            row(
                "control:rewrite-offline", None, None, rewrite[0], control_up, rewrite[2] if rewrite[2] is None else 0.2
            ),
        ]
    return rows


def test_the_comparison_is_paired_per_query_at_the_rewrites_cosine():
    # The SAE point nearest the rewrite's *mean* cos (u = 0.5: cos 0.95, up 0.1) loses to the rewrite (0.2);
    # at each query's own cos 0.9 the SAE curve (0.95 -> 0.1, 0.8 -> 0.5) reads 0.233..: it wins.
    rows = []
    sae_up, rewrite_up = [], []
    for i in range(12):
        shift = 0.01 * i
        rows += rows_for(
            f"q{i}", {(0.5, -1.0): (0.95, 0.1), (1.0, -1.0): (0.8, 0.5 + shift)}, (0.9, 0.2, 0.5), down=0.9
        )
        sae_up.append(at_cos([(1.0, 0.0), (0.95, 0.1), (0.8, 0.5 + shift)], 0.9))
        rewrite_up.append(0.2)
    rows += rows_for("no rewrite", {(0.5, -1.0): (0.95, 0.1), (1.0, -1.0): (0.8, 0.5)}, None)
    summary = paired_summary(rows, CONFIG, "rewrite-offline")
    assert sae_up[0] == pytest.approx(0.1 + (0.5 - 0.1) * (0.95 - 0.9) / (0.95 - 0.8))
    assert summary["n_queries"] == 13 and summary["n_paired"] == 12 and summary["matched_cos"] == pytest.approx(0.9)
    assert summary["up_success_sae_paired"] == pytest.approx(np.mean(sae_up))
    assert summary["up_success_rewrite"] == pytest.approx(0.2)
    assert (summary["queries_better"], summary["queries_worse"], summary["queries_tied"]) == (12, 0, 0)
    assert summary["wilcoxon_p"] == pytest.approx(wilcoxon(np.subtract(sae_up, rewrite_up)).pvalue)
    assert summary["sae_beats_rewrite"] is True
    # down net of the control (0.2 at every point): SAE 0.9 - 0.2 = 0.7 along the path, 0 at cos 1
    assert summary["down_success_net_sae"] == pytest.approx(at_cos([(1.0, 0.0), (0.95, 0.7), (0.8, 0.7)], 0.9))
    assert summary["down_success_net_rewrite"] == pytest.approx(0.3)
    # the control reads 0.1 at cos 0.9 (and at compare_cos 0.8 for the query without a rewrite)
    assert summary["up_success_control"] == pytest.approx(0.1)
    assert summary["sae_beats_control"] is True


def test_no_difference_is_no_success():
    rows = []
    for i in range(10):
        rows += rows_for(f"q{i}", {(0.5, -1.0): (0.9, 0.3), (1.0, -1.0): (0.7, 0.3)}, (0.8, 0.3, None), control_up=0.3)
    summary = paired_summary(rows, CONFIG, "rewrite-offline")
    assert summary["wilcoxon_p"] == 1.0 and summary["queries_tied"] == 10
    assert summary["sae_beats_rewrite"] is False and summary["sae_beats_control"] is False
    assert summary["down_success_net_sae"] is None and summary["n_down"] == 0
    assert signed_rank_p([], []) is None
