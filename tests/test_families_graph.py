"""Co-occurrence counts and the family algorithm on synthetic activations with a planted hierarchy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from evals.cooccurrence import cooccurrence_from_pairs, pair_weights, top_cooccurring
from evals.families.activation import family_activation
from evals.families.config import FamiliesConfig, load_families_config
from evals.families.graph import (
    Family,
    Member,
    drop_near_duplicates,
    extract_families,
    find_families,
    orient,
    spanning_forest,
)
from evals.families.stats import block_diagonal_ratio, parent_child_ratio, size_distribution


def scipy_reference(doc_ids, latents, n_latents):
    a = sp.csr_array((np.ones(latents.size, np.int64), (doc_ids, latents)), shape=(doc_ids.max() + 1, n_latents))
    return (a.T @ a).toarray()


@pytest.mark.parametrize("order", ["by_document", "by_latent", "shuffled"])
@pytest.mark.parametrize("options", [{}, {"latents_per_task": 7, "docs_per_bincount": 50, "workers": 2}])
def test_counts_equal_scipy_product(options, order):
    rng = np.random.default_rng(1)
    n_docs, k, n_latents = 3000, 8, 120
    rows = np.stack([rng.choice(n_latents, k, replace=False, p=_power_law(n_latents)) for _ in range(n_docs)])
    doc_ids = np.repeat(np.arange(n_docs) * 2 + 5, k)  # gaps in the ids
    latents = rows.ravel()
    keep = rng.random(latents.size) > 0.15  # some documents have fewer than k entries
    permutation = {
        "by_document": np.arange(latents.size),
        "by_latent": np.argsort(latents, kind="stable"),
        "shuffled": rng.permutation(latents.size),
    }[order]
    doc_ids, latents, keep = doc_ids[permutation], latents[permutation], keep[permutation]
    counts = cooccurrence_from_pairs(doc_ids[keep], latents[keep], n_latents, **options)
    assert counts.dtype == np.int32
    np.testing.assert_array_equal(counts.toarray(), scipy_reference(doc_ids[keep], latents[keep], n_latents))


def test_counts_renumber_very_sparse_doc_ids():
    doc_ids = np.array([10**9, 10**9, 7, 7, 7])
    latents = np.array([0, 2, 0, 1, 2])
    counts = cooccurrence_from_pairs(doc_ids, latents, 3).toarray()
    np.testing.assert_array_equal(counts, [[2, 1, 2], [1, 1, 1], [2, 1, 2]])


def test_counts_reject_latents_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cooccurrence_from_pairs(np.array([0, 0]), np.array([1, 3]), 3)


def test_pair_weight_is_symmetric_one_for_nesting_zero_for_independence():
    # 100 docs: latent 0 in 50, latent 1 in 10 (always with 0), latent 2 in 20 (10 with 0: independent).
    counts = sp.csr_array(np.array([[50, 10, 10], [10, 10, 2], [10, 2, 20]]))
    weights = pair_weights(counts, n_docs=100, smoothing=0.0).toarray()
    np.testing.assert_allclose(weights, weights.T)
    assert weights[0, 1] == pytest.approx(1.0)  # perfectly nested: 1 whatever the densities
    assert weights[0, 2] == 0.0  # independent pairs get no edge
    assert weights[1, 2] == pytest.approx((2 - 2) / (10 - 2))
    assert np.all(np.diag(weights) == 0)
    smoothed = pair_weights(counts, n_docs=100, smoothing=1.0).toarray()
    assert smoothed[0, 1] == pytest.approx((10 - 5) / (11 - 5))


def test_top_cooccurring_ranks_partners_by_weight_then_count():
    counts = sp.csr_array(np.array([[10, 4, 2, 0], [4, 4, 1, 0], [2, 1, 2, 0], [0, 0, 0, 3]]))
    top = top_cooccurring(counts, n_docs=1000, top=2, smoothing=0.0)
    first = top["latent"] == 0
    assert top["other"][first].tolist() == [1, 2]  # both nested in latent 0 (H = 1); latent 1 has more docs
    assert top["count"][first].tolist() == [4, 2]
    assert top["weight"][first] == pytest.approx([1.0, 1.0])
    assert 3 not in top["latent"].tolist()  # a latent that co-occurs with nothing has no partners


def planted_documents(seed: int = 0, n_docs: int = 6000):
    """Two parents (0, 1) with six children each (2-7, 8-13), a grandchild level under child 2,
    and background noise latents 20..59. Each document picks one parent, one or two of its
    children, and three noise latents."""
    rng = np.random.default_rng(seed)
    children = {0: list(range(2, 8)), 1: list(range(8, 14))}
    grandchildren = {2: [14, 15, 16]}
    doc_ids, latents = [], []
    for doc in range(n_docs):
        parent = int(rng.integers(2))
        active = {parent, *rng.choice(children[parent], size=int(rng.integers(1, 3)), replace=False).tolist()}
        if 2 in active and rng.random() < 0.6:
            active.add(int(rng.choice(grandchildren[2])))
        active |= set(rng.choice(np.arange(20, 60), size=3, replace=False).tolist())
        doc_ids += [doc] * len(active)
        latents += sorted(active)
    return np.array(doc_ids), np.array(latents), 60


def test_planted_hierarchy_is_recovered_with_parents_as_roots():
    doc_ids, latents, n_latents = planted_documents()
    counts = cooccurrence_from_pairs(doc_ids, latents, n_latents)
    config = FamiliesConfig(thresholds=(0.3, 0.2), min_family_children=3)
    families = find_families(pair_weights(counts, doc_ids.max() + 1, config.smoothing), counts.diagonal(), config)
    by_root = {f.root: f for f in families}
    assert set(by_root[0].children) == set(range(2, 8)) | {14, 15, 16}
    assert set(by_root[1].children) == set(range(8, 14))
    # The grandchildren hang under child 2, one level deeper, and form a nested family of child 2.
    depth = {m.latent: (m.parent, m.depth) for m in by_root[0].members}
    assert all(depth[g] == (2, 2) for g in (14, 15, 16))
    assert set(by_root[2].children) == {14, 15, 16}
    # Noise latents join no family: their weight to anything stays below the threshold.
    assert not any(member >= 20 for f in families for member in f.children | {f.root})
    stats_ratio = parent_child_ratio(counts, families)
    assert stats_ratio["mean"] > 2  # children co-occur with their parent far more than with each other
    block = block_diagonal_ratio(counts, families, random_baselines=10, seed=0)
    assert block["lift"] > 1.5 and block["ratio"] > block["random_baseline"]


def test_allowed_latents_restrict_the_graph():
    doc_ids, latents, n_latents = planted_documents()
    counts = cooccurrence_from_pairs(doc_ids, latents, n_latents)
    config = FamiliesConfig(thresholds=(0.3, 0.2), min_family_children=3)
    weights = pair_weights(counts, doc_ids.max() + 1, config.smoothing)
    families = find_families(weights, counts.diagonal(), config, allowed=np.arange(1, 60))  # parent 0 left out
    assert 0 not in {m.latent for f in families for m in f.members}
    assert {f.root: f.children for f in families}[1] == frozenset(range(8, 14))


def test_orientation_points_from_denser_to_sparser():
    density = np.array([100, 5, 50, 5])
    children = orient(np.array([0, 1, 3]), np.array([2, 2, 2]), density)
    assert children == {0: [2], 2: [1, 3]}


def test_spanning_forest_keeps_heaviest_edges_above_threshold():
    weights = sp.csr_array(np.array([[0, 0.9, 0.5, 0], [0.9, 0, 0.8, 0], [0.5, 0.8, 0, 0.05], [0, 0, 0.05, 0]]))
    u, v = spanning_forest(weights, np.arange(4), threshold=0.1)
    assert sorted(zip(u.tolist(), v.tolist(), strict=False)) == [
        (0, 1),
        (1, 2),
    ]  # 0-2 (0.5) loses to 0-1-2; 2-3 under threshold


def test_extraction_finds_nested_families_and_needs_three_children():
    children = {0: [1, 2, 3], 1: [4, 5, 6], 2: [7, 8], 9: [10, 11]}
    families = {f.root: f for f in extract_families(children, min_root_children=3, pass_index=1)}
    assert set(families) == {0, 1}  # 2 and 9 have only two children
    assert families[0].children == frozenset(range(1, 9))
    assert families[1].children == frozenset({4, 5, 6})
    assert families[0].members[0] == Member(0, None, 0)


def test_later_passes_find_families_under_a_removed_root():
    # Latent 0 fires in groups A and B; heads 1 (A) and 2 (B) fire in 90% of their group's docs,
    # children 3..6 (A) and 7..10 (B) in every doc of their group. Children are nested in 0 more
    # tightly than in their head, so pass 1 hangs everything directly under 0 (one family, no
    # nested ones). Pass 2 leaves 0 out and the heads adopt their children.
    rng = np.random.default_rng(3)
    doc_ids, latents = [], []
    for doc in range(6000):
        group = doc % 3
        if group == 2:
            active = [11]
        else:
            active = [0, *rng.choice(np.arange(3, 7) + 4 * group, size=2, replace=False).tolist()]
            if rng.random() < 0.9:
                active.append(1 + group)
        doc_ids += [doc] * len(active)
        latents += active
    counts = cooccurrence_from_pairs(np.array(doc_ids), np.array(latents), 12)
    weights = pair_weights(counts, 6000, 1.0)
    one_pass = find_families(weights, counts.diagonal(), FamiliesConfig(thresholds=(0.1,), min_family_children=4))
    two_passes = find_families(
        weights, counts.diagonal(), FamiliesConfig(thresholds=(0.1, 0.07), min_family_children=4)
    )
    assert [(f.root, len(f.children)) for f in one_pass] == [(0, 10)]
    second = {f.root: f.children for f in two_passes if f.pass_index == 2}
    assert second == {1: frozenset(range(3, 7)), 2: frozenset(range(7, 11))}


def test_near_duplicates_merge_into_the_larger_family():
    def family(root, children, pass_index=1):
        return Family(root, pass_index, (Member(root, None, 0), *[Member(c, root, 1) for c in children]))

    big, near, other = family(0, range(1, 11)), family(20, range(1, 9), 2), family(30, range(1, 6))
    kept = drop_near_duplicates([near, other, big], max_jaccard=0.6)
    assert [f.root for f in kept] == [0, 30]  # 8/10 = 0.8 overlaps; 5/10 = 0.5 does not


def test_size_distribution_counts_families():
    families = [Family(0, 1, tuple(Member(i, None, 0) for i in range(n + 1))) for n in (4, 4, 7)]
    sizes = size_distribution(families)
    assert sizes["families"] == 3 and sizes["histogram"] == {"4": 2, "7": 1}
    assert sizes["mean_children"] == pytest.approx(5.0)


def test_family_activation_max_and_sum():
    doc_ids = np.array([0, 0, 1, 2, 2])
    latents = np.array([1, 2, 1, 2, 3])
    values = np.array([1.0, 3.0, 2.0, 0.5, 9.0], np.float32)
    docs, act = family_activation(doc_ids, latents, values, [1, 2], "max")
    assert docs.tolist() == [0, 1, 2] and act.tolist() == [3.0, 2.0, 0.5]
    _, total = family_activation(doc_ids, latents, values, [1, 2], "sum")
    assert total.tolist() == [4.0, 2.0, 0.5]


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    path = tmp_path / "families.yaml"
    path.write_text("thresholds: [0.1]\nthreshhold: 3\n")
    with pytest.raises(ValueError, match="threshhold"):
        load_families_config(path)
    with pytest.raises(ValueError, match="family_activation"):
        FamiliesConfig(family_activation="mean")
    with pytest.raises(ValueError, match="thresholds"):
        FamiliesConfig(thresholds=(0.1, 1.5))
    default = load_families_config()
    assert default.thresholds == (0.1, 0.07, 0.07, 0.07)
    assert dataclasses.replace(default, seed=3).seed == 3


def _power_law(n):
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def _planted_counts(groups: list[list[int]], n_latents: int, noise: list[int], n_docs: int = 4000, seed: int = 3):
    """Documents where one group fires together (plus one noise latent): each group is a real family."""
    rng = np.random.default_rng(seed)
    doc_ids, latents = [], []
    for doc in range(n_docs):
        group = groups[doc % 4] if doc % 4 < len(groups) else []  # half the documents hold no group
        chosen = set(rng.choice(group, size=len(group) // 2, replace=False).tolist()) if group else set()
        chosen |= set(rng.choice(noise, size=2, replace=False).tolist())
        doc_ids += [doc] * len(chosen)
        latents += sorted(chosen)
    return cooccurrence_from_pairs(np.array(doc_ids), np.array(latents), n_latents), n_docs


def _family(root: int, children: list[int]) -> Family:
    return Family(root, 1, (Member(root, None, 0), *[Member(c, root, 1) for c in children]))


def test_partition_keeps_coherent_families_once_and_bounds_their_size():
    from evals.families.partition import max_children, mean_pair_lift, partition

    groups = [[0, 1, 2, 3, 4, 5], [10, 11, 12, 13, 14, 15]]
    counts, n_docs = _planted_counts(groups, 60, noise=list(range(20, 60)))
    tight = _family(0, [1, 2, 3, 4, 5])
    overlapping = _family(10, [11, 12, 13, 14, 15, 1])  # latent 1 is already a child of the tight family
    loose = _family(20, [21, 22, 23, 24, 25])  # noise latents: they rarely fire together
    config = FamiliesConfig(min_family_children=4, max_family_share=0.2, min_cooccurrence_lift=2.0)
    assert mean_pair_lift(counts, n_docs, [20, 21, 22, 23, 24, 25]) < 2.0 < mean_pair_lift(counts, n_docs, groups[0])
    kept, lifts = partition([loose, overlapping, tight], counts, n_docs, config)
    assert {f.root for f in kept} == {0, 10}  # the loose family is dropped
    children = [c for f in kept for c in f.children]
    assert len(children) == len(set(children))  # every feature is a child of at most one family
    assert next(f for f in kept if f.root == 10).children == frozenset({11, 12, 13, 14, 15})
    assert all(lift >= 2.0 for lift in lifts)
    # the size bound: with at most 4 children allowed, both 5-child families are dropped
    small = dataclasses.replace(config, max_family_share=4 / 60)
    assert max_children(small, 60) == 4 and partition([tight, overlapping], counts, n_docs, small)[0] == []


def test_a_removed_child_hands_its_children_to_its_nearest_kept_ancestor():
    from evals.families.partition import _without

    family = Family(0, 1, (Member(0, None, 0), Member(1, 0, 1), Member(2, 1, 2), Member(3, 2, 3), Member(4, 0, 1)))
    trimmed = _without(family, {1, 2})
    assert [(m.latent, m.parent, m.depth) for m in trimmed.members] == [(0, None, 0), (3, 0, 1), (4, 0, 1)]
