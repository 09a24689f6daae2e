"""The latest stored steering benchmark of an SAE, digested for the card (never recomputed here)."""

from __future__ import annotations

import json

import duckdb

MAX_LINES = 32


def steering_digest(con: duckdb.DuckDBPyConnection, sae_id: int) -> dict | None:
    """{"created_at", "lines": [(name, value)]} of the newest ``eval_summaries`` steering row, or None."""
    rows = con.execute(
        "SELECT summary, created_at FROM eval_summaries WHERE sae_id = ? AND eval = 'steering' "
        "ORDER BY created_at DESC LIMIT 1",
        [sae_id],
    ).fetchall()
    if not rows:
        return None
    summary = json.loads(rows[0][0])
    # A 'headline' of scalars, when the benchmark writes one, says best what it measured.
    return {"created_at": str(rows[0][1]), "lines": digest_lines(summary)}


def digest_lines(summary: dict) -> list[tuple[str, str]]:
    """(name, value) lines of a steering summary: its 'headline' of scalars when the benchmark writes one."""
    source = summary["headline"] if isinstance(summary.get("headline"), dict) else summary
    return _flatten(source)[:MAX_LINES]


def _flatten(value, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Scalars first as (dotted name, text); short lists of objects by index; long lists by length."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: isinstance(item[1], (dict, list)))
        if depth >= 4:
            return []
        return [
            line for key, sub in items for line in _flatten(sub, f"{prefix}.{key}" if prefix else str(key), depth + 1)
        ]
    if isinstance(value, list):
        if len(value) <= 2 and all(isinstance(v, dict) for v in value):
            return [line for i, sub in enumerate(value) for line in _flatten(sub, f"{prefix}[{i}]", depth + 1)]
        return [(prefix, f"({len(value)} entries)")]
    text = f"{value:.3g}" if isinstance(value, float) else "-" if value is None else str(value)
    return [(prefix, text)]
