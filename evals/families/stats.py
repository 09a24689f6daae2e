"""Family statistics (the paper's ``family_stats``), stored in ``eval_summaries`` (eval='families').

All co-occurrence values here are ``C_ij / min(C_ii, C_jj)`` without smoothing, as in the paper,
and diagonals are left out: they are 1 by construction and would only inflate the in-family means.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from evals.families.graph import Family


def size_distribution(families: list[Family]) -> dict:
    """Count, mean, median, min, max and a histogram {children: families} of family sizes."""
    sizes = np.array([len(f.children) for f in families], dtype=np.int64)
    if sizes.size == 0:
        return {"families": 0}
    values, counts = np.unique(sizes, return_counts=True)
    return {
        "families": int(sizes.size),
        "mean_children": float(sizes.mean()),
        "median_children": float(np.median(sizes)),
        "min_children": int(sizes.min()),
        "max_children": int(sizes.max()),
        "histogram": {str(int(v)): int(c) for v, c in zip(values, counts, strict=False)},
        "by_pass": {
            str(p): int(sum(f.pass_index == p for f in families)) for p in sorted({f.pass_index for f in families})
        },
    }


def min_normalised_dense(counts: sp.csr_array, latents: list[int]) -> np.ndarray:
    """``C_ij / min(C_ii, C_jj)`` among ``latents`` as a dense matrix (diagonal 1)."""
    index = np.asarray(latents, dtype=np.int64)
    block = sp.csr_array(counts[index][:, index]).toarray().astype(np.float64)
    density = counts.diagonal()[index].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return block / np.minimum.outer(density, density)


def parent_child_ratio(counts: sp.csr_array, families: list[Family]) -> dict:
    """Per family: mean(root to children) / mean(child to child, off-diagonal); mean over families.

    Above 1 means children co-occur with their root more than with each other: a hierarchy rather
    than a clique.
    """
    ratios = []
    for family in families:
        children = sorted(family.children)
        if len(children) < 2:
            continue
        matrix = min_normalised_dense(counts, [family.root] + children)
        root_to_children = matrix[0, 1:].mean()
        child_block = matrix[1:, 1:]
        off_diagonal = child_block[~np.eye(len(children), dtype=bool)].mean()
        ratio = root_to_children / off_diagonal if off_diagonal > 0 else np.inf
        if np.isfinite(ratio):
            ratios.append(ratio)
    if not ratios:
        return {"families_used": 0}
    return {"families_used": len(ratios), "mean": float(np.mean(ratios)), "median": float(np.median(ratios))}


def block_diagonal_ratio(counts: sp.csr_array, families: list[Family], random_baselines: int, seed: int) -> dict:
    """In-family vs out-of-family co-occurrence, against random groupings of the same block sizes.

    Every latent that belongs to a family is assigned to the first family (by order) that holds
    it. Ratio = mean weight of pairs inside a block / mean weight of pairs across blocks. The
    baseline shuffles the assignment (same latents, same block sizes); the reported ``lift`` is
    ratio / baseline, so 1 means the families group latents no better than chance.
    """
    group: dict[int, int] = {}
    for index, family in enumerate(families):
        for member in family.members:
            group.setdefault(member.latent, index)
    if len(set(group.values())) < 2:
        return {"latents": len(group)}
    latents = np.array(sorted(group), dtype=np.int64)
    labels = np.array([group[int(latent)] for latent in latents])
    coo = sp.coo_array(sp.triu(sp.csr_array(counts[latents][:, latents]), k=1))
    density = counts.diagonal()[latents].astype(np.float64)
    values = coo.data / np.minimum(density[coo.row], density[coo.col])

    def ratio(assignment: np.ndarray) -> float:
        sizes = np.bincount(assignment)
        inside_pairs = float((sizes * (sizes - 1) // 2).sum())
        all_pairs = latents.size * (latents.size - 1) / 2
        inside = assignment[coo.row] == assignment[coo.col]
        inside_mean = values[inside].sum() / inside_pairs if inside_pairs else 0.0
        across_mean = values[~inside].sum() / (all_pairs - inside_pairs)
        return inside_mean / across_mean if across_mean > 0 else float("inf")

    dense_labels = np.unique(labels, return_inverse=True)[1]
    observed = ratio(dense_labels)
    rng = np.random.default_rng(seed)
    baseline = [ratio(rng.permutation(dense_labels)) for _ in range(random_baselines)]
    baseline_mean = float(np.mean(baseline))
    return {
        "latents": int(latents.size),
        "blocks": int(dense_labels.max() + 1),
        "ratio": float(observed),
        "random_baseline": baseline_mean,
        "random_baseline_std": float(np.std(baseline)),
        "lift": float(observed / baseline_mean) if baseline_mean > 0 else None,
    }


def family_statistics(counts: sp.csr_array, families: list[Family], random_baselines: int, seed: int) -> dict:
    """Everything stored in ``eval_summaries`` for one SAE (eval='families')."""
    return {
        "size_distribution": size_distribution(families),
        "parent_child_ratio": parent_child_ratio(counts, families),
        "block_diagonal": block_diagonal_ratio(counts, families, random_baselines, seed),
    }


def children_in_later_prefix(con, sae_id: int) -> float | None:
    """Matryoshka vs families: the share of family children whose latent sits in a later (finer) prefix than
    their parent's (``latents.level``); None for an SAE with one level or no families."""
    share, levels = con.execute(
        """
        SELECT avg(CASE WHEN c.level > p.level THEN 1.0 ELSE 0.0 END),
               (SELECT max(level) FROM latents WHERE sae_id = ?)
        FROM family_members m
        JOIN latents c ON c.sae_id = m.sae_id AND c.latent = m.latent
        JOIN latents p ON p.sae_id = m.sae_id AND p.latent = m.parent_latent
        WHERE m.sae_id = ?
        """,
        [sae_id, sae_id],
    ).fetchall()[0]
    return None if not levels or share is None else float(share)
