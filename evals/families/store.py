"""Writing one SAE's families atomically: a re-run replaces every row it wrote before."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from data.warehouse import insert_arrow, transaction
from evals.families.graph import Family


@dataclass(frozen=True)
class FamilyLabel:
    """A family's name and how well it predicts the family activation on held-out documents."""

    label: str | None
    is_proxy: bool
    """True for the offline keyword label (no LLM)."""
    pearson: float | None = None
    f1: float | None = None
    auroc: float | None = None
    clean: bool = False
    """interp's ``CleanConfig`` verdict on (pearson, f1, the family's density)."""


def write_families(
    con: duckdb.DuckDBPyConnection,
    sae_id: int,
    cooccurrence: dict[str, np.ndarray],
    families: list[Family],
    labels: list[FamilyLabel],
    summary: dict,
    lifts: list[float],
    coherence: list[float],
) -> None:
    """Replace this SAE's rows in cooccurrence, families, family_members and its families summary."""
    if not len(labels) == len(lifts) == len(coherence) == len(families):
        raise ValueError("one label, lift and coherence per family expected")
    family_rows = {
        "sae_id": pa.array([sae_id] * len(families), pa.int32()),
        "family_id": pa.array(range(len(families)), pa.int32()),
        "root_latent": pa.array([f.root for f in families], pa.int32()),
        "pass": pa.array([f.pass_index for f in families], pa.int32()),
        "n_children": pa.array([len(f.children) for f in families], pa.int32()),
        "label": pa.array([x.label for x in labels], pa.string()),
        "is_proxy": pa.array([x.is_proxy for x in labels], pa.bool_()),
        "pearson": pa.array([x.pearson for x in labels], pa.float64()),
        "f1": pa.array([x.f1 for x in labels], pa.float64()),
        "auroc": pa.array([x.auroc for x in labels], pa.float64()),
        "cooccurrence_lift": pa.array(lifts, pa.float64()),
        "coherence": pa.array([None if np.isnan(c) else c for c in coherence], pa.float64()),
        "clean": pa.array([x.clean for x in labels], pa.bool_()),
    }
    members = [(family_id, m) for family_id, f in enumerate(families) for m in f.members]
    member_rows = {
        "sae_id": pa.array([sae_id] * len(members), pa.int32()),
        "family_id": pa.array([family_id for family_id, _ in members], pa.int32()),
        "latent": pa.array([m.latent for _, m in members], pa.int32()),
        "parent_latent": pa.array([m.parent for _, m in members], pa.int32()),
        "depth": pa.array([m.depth for _, m in members], pa.int32()),
    }
    cooccurrence_rows = pa.table(
        {
            "sae_id": pa.array(np.full(cooccurrence["latent"].size, sae_id, np.int32)),
            **{name: pa.array(values) for name, values in cooccurrence.items()},
        }
    )
    with transaction(con):
        for table in ("cooccurrence", "families", "family_members"):
            con.execute(f"DELETE FROM {table} WHERE sae_id = ?", [sae_id])
        con.execute("DELETE FROM eval_summaries WHERE sae_id = ? AND eval = 'families'", [sae_id])
        insert_arrow(con, "cooccurrence", cooccurrence_rows, order_by="latent, weight DESC")
        insert_arrow(con, "families", pa.table(family_rows))
        insert_arrow(con, "family_members", pa.table(member_rows))
        con.execute(
            "INSERT INTO eval_summaries (sae_id, eval, summary, created_at) VALUES (?, 'families', ?, now())",
            [sae_id, json.dumps(summary)],
        )
