"""Families from the co-occurrence graph: maximum spanning forest, density orientation, extraction.

The steps follow the paper (section 3 of docs/PAPER): threshold the symmetric edge weights, take
the maximum spanning forest, orient every tree edge from the denser latent to the sparser one,
call a latent without a parent and with more than two children a root, its descendants its
family, and repeat inside each family without its root (nested families). Several passes each
leave out the roots found before. Small families are dropped, near-duplicates merged into the
larger one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import minimum_spanning_tree

from evals.families.config import FamiliesConfig


@dataclass(frozen=True)
class Member:
    """One latent of a family: its parent in the family's tree (None for the root) and depth."""

    latent: int
    parent: int | None
    depth: int


@dataclass(frozen=True)
class Family:
    """A root latent and its descendants in the oriented spanning forest of one pass."""

    root: int
    pass_index: int
    members: tuple[Member, ...]
    """The root first (depth 0), then its descendants in depth-first order."""

    @property
    def children(self) -> frozenset[int]:
        """Every descendant of the root (the paper's "children", at any depth)."""
        return frozenset(m.latent for m in self.members[1:])


def spanning_forest(weights: sp.csr_array, nodes: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(u, v)`` (latent ids) of the maximum spanning forest among ``nodes``.

    Only edges with weight >= ``threshold`` exist. scipy finds *minimum* spanning trees and treats
    a zero as a missing edge, so each weight w in (0, 1] becomes the cost 2 - w in [1, 2): every
    spanning forest of a graph has the same number of edges, so the cheapest one is the heaviest.
    """
    sub = sp.csr_array(weights[nodes][:, nodes])
    sub.data[sub.data < threshold] = 0.0
    sub.eliminate_zeros()
    cost = sp.triu(sub, k=1, format="csr")
    cost.data = 2.0 - cost.data
    tree = minimum_spanning_tree(cost).tocoo()
    return nodes[tree.row], nodes[tree.col]


def orient(u: np.ndarray, v: np.ndarray, density: np.ndarray) -> dict[int, list[int]]:
    """Children of each latent: every edge points from the denser latent (ties: lower id)."""
    u_is_parent = (density[u] > density[v]) | ((density[u] == density[v]) & (u < v))
    children: dict[int, list[int]] = defaultdict(list)
    for parent, child in zip(np.where(u_is_parent, u, v).tolist(), np.where(u_is_parent, v, u).tolist(), strict=False):
        children[parent].append(child)
    return children


def extract_families(children: dict[int, list[int]], min_root_children: int, pass_index: int) -> list[Family]:
    """Roots (no parent, >= ``min_root_children`` children), their families, and nested families.

    A family of more than two latents is searched again without its root, so a child that has
    enough children of its own becomes the root of a nested family.
    """
    found: dict[tuple[int, frozenset[int]], Family] = {}
    all_nodes = set(children) | {c for kids in children.values() for c in kids}
    pending = [frozenset(all_nodes)]
    while pending:
        node_set = pending.pop()
        has_parent = {c for p in node_set for c in children.get(p, ()) if c in node_set}
        for root in sorted(node_set - has_parent):
            if sum(c in node_set for c in children.get(root, ())) < min_root_children:
                continue
            family = Family(root, pass_index, _descendants(root, children, node_set))
            key = (root, family.children)
            if key in found:
                continue
            found[key] = family
            if len(family.members) > 2:
                pending.append(family.children)
    return list(found.values())


def _descendants(root: int, children: dict[int, list[int]], node_set: frozenset[int]) -> tuple[Member, ...]:
    """Depth-first walk from ``root`` inside ``node_set``; a latent reached twice keeps its first parent."""
    members, seen = [], {root}
    stack: list[tuple[int, int | None, int]] = [(root, None, 0)]
    while stack:
        latent, parent, depth = stack.pop()
        members.append(Member(latent, parent, depth))
        for child in sorted(children.get(latent, ()), reverse=True):
            if child in node_set and child not in seen:
                seen.add(child)
                stack.append((child, latent, depth + 1))
    return tuple(members)


def drop_near_duplicates(families: list[Family], max_jaccard: float) -> list[Family]:
    """Largest first; a family whose children overlap a kept one's by Jaccard > ``max_jaccard`` goes."""
    ordered = sorted(families, key=lambda f: (-len(f.children), f.pass_index, f.root))
    kept: list[Family] = []
    kept_with_child: dict[int, list[int]] = defaultdict(list)  # latent -> indices into kept
    for family in ordered:
        children = family.children
        overlapping = {i for c in children for i in kept_with_child.get(c, ())}
        if any(_jaccard(children, kept[i].children) > max_jaccard for i in overlapping):
            continue
        for c in children:
            kept_with_child[c].append(len(kept))
        kept.append(family)
    return kept


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def find_families(
    weights: sp.csr_array, density: np.ndarray, config: FamiliesConfig, allowed: np.ndarray | None = None
) -> list[Family]:
    """All passes over one SAE's weight matrix; families ordered by pass, then size (largest first).

    ``allowed`` (latent ids) restricts the graph further, e.g. to the clean latents.
    """
    candidates = np.flatnonzero(density >= config.min_latent_docs)
    if allowed is not None:
        candidates = np.intersect1d(candidates, allowed)
    roots_so_far: set[int] = set()
    families: list[Family] = []
    for pass_index, threshold in enumerate(config.thresholds, start=1):
        nodes = np.array(sorted(set(candidates.tolist()) - roots_so_far), dtype=np.int64)
        if nodes.size < 2:
            break
        u, v = spanning_forest(weights, nodes, threshold)
        found = extract_families(orient(u, v, density), config.min_root_children, pass_index)
        roots_so_far |= {f.root for f in found}
        families += [f for f in found if len(f.children) >= config.min_family_children]
    kept = drop_near_duplicates(families, config.duplicate_jaccard)
    return sorted(kept, key=lambda f: (f.pass_index, -len(f.children), f.root))
