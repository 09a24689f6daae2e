"""Families that hold together: coherent, bounded in size, and each feature a child of one family.

The spanning-forest extraction (``graph.find_families``) yields nested, overlapping candidates:
one feature can sit in a dozen families, and a dense hub's family can hold hundreds of children.
Here the candidates are kept or turned down, most coherent first:
- a family's *co-occurrence lift* is the mean, over its members' distinct pairs, of
  ``C_ij N / (C_ii C_jj)``: how many times more often the two fire together than if independent;
- a candidate whose lift is below ``min_cooccurrence_lift`` is dropped (its nested candidates,
  the "split" of it, compete on their own);
- a child already claimed by a kept family leaves the candidate (its own children move up to its
  nearest remaining ancestor), so a feature is a child of at most one family (a root may still be
  a child of another family: that is how families nest);
- a family has at most ``max_children(n_latents)`` children; a larger candidate is dropped for
  its nested candidates, as is one left with fewer than ``min_family_children``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from evals.families.config import FamiliesConfig
from evals.families.graph import Family, Member


def mean_pair_lift(counts: sp.csr_array, n_docs: int, latents: list[int]) -> float:
    """Mean of ``C_ij N / (C_ii C_jj)`` over the distinct pairs of ``latents`` (NaN for fewer than 2)."""
    index = np.asarray(latents, dtype=np.int64)
    if index.size < 2:
        return float("nan")
    block = sp.csr_array(counts[index][:, index]).toarray().astype(np.float64)
    density = np.maximum(counts.diagonal()[index].astype(np.float64), 1.0)
    lift = block * n_docs / np.outer(density, density)
    return float(lift[np.triu_indices(index.size, k=1)].mean())


def max_children(config: FamiliesConfig, n_latents: int) -> int:
    """The size bound: ``max_family_share`` of the SAE's latents, but never below ``min_family_children``."""
    return max(config.min_family_children, int(config.max_family_share * n_latents))


def partition(
    candidates: list[Family], counts: sp.csr_array, n_docs: int, config: FamiliesConfig
) -> tuple[list[Family], list[float]]:
    """The kept families (most coherent first) and their co-occurrence lifts."""
    bound = max_children(config, counts.shape[0])
    scored = [(mean_pair_lift(counts, n_docs, [m.latent for m in f.members]), f) for f in candidates]
    scored = [(lift, f) for lift, f in scored if np.isfinite(lift) and lift >= config.min_cooccurrence_lift]
    scored.sort(key=lambda item: (-item[0], item[1].pass_index, item[1].root))
    claimed: set[int] = set()
    roots: set[int] = set()
    kept: list[Family] = []
    lifts: list[float] = []
    for lift, family in scored:
        if family.root in roots:
            continue  # this root already leads a kept (more coherent) family
        trimmed = _without(family, claimed)
        n_children = len(trimmed.members) - 1
        if n_children < config.min_family_children or n_children > bound:
            continue
        if len(trimmed.members) != len(family.members):
            lift = mean_pair_lift(counts, n_docs, [m.latent for m in trimmed.members])
            if not lift >= config.min_cooccurrence_lift:
                continue
        claimed |= trimmed.children
        roots.add(family.root)
        kept.append(trimmed)
        lifts.append(lift)
    return kept, lifts


def _without(family: Family, claimed: set[int]) -> Family:
    """``family`` without the children in ``claimed``; their children move up to the nearest kept ancestor."""
    parent_of = {m.latent: m.parent for m in family.members[1:] if m.parent is not None}  # the root has none
    gone = {m.latent for m in family.members[1:] if m.latent in claimed}
    if not gone:
        return family

    def kept_ancestor(latent: int) -> int:
        parent = parent_of[latent]
        while parent in gone:
            parent = parent_of[parent]
        return parent

    depth = {family.root: 0}
    members = [family.members[0]]
    for member in family.members[1:]:  # depth-first order: an ancestor comes before its descendants
        if member.latent in gone:
            continue
        parent = kept_ancestor(member.latent)
        depth[member.latent] = depth[parent] + 1
        members.append(Member(member.latent, parent, depth[member.latent]))
    return Family(family.root, family.pass_index, tuple(members))


def random_group_lift(
    counts: sp.csr_array, n_docs: int, pool: np.ndarray, sizes: list[int], draws: int, seed: int
) -> float:
    """Median co-occurrence lift of random groups of latents from ``pool`` with the families' sizes."""
    rng = np.random.default_rng(seed)
    values = [
        mean_pair_lift(counts, n_docs, rng.choice(pool, size, replace=False).tolist())
        for _ in range(draws)
        for size in sizes
        if size <= len(pool)
    ]
    return float(np.median(values)) if values else float("nan")
