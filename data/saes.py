"""The `saes` vocabulary every layer shares: its statuses, its purposes and which SAE a command uses when none is named.

``data`` owns the ``saes`` table, so it owns the status vocabulary and the default-SAE rule: the
trainer writes the statuses, every eval and the dashboard read them through here.
"""

from __future__ import annotations

from enum import Enum

import duckdb


class SaeStatus(str, Enum):
    """``saes.status``: readers trust a row (and its activations, latents, neighbors) only when COMPLETE."""

    TRAINING = "training"
    """Registered; its training may be running or have been killed (training again resumes it)."""
    COMPLETE = "complete"
    """Weights, activations, latents and latent_neighbors written in one transaction with this flip."""
    FAILED = "failed"
    """Stopped with an error (in ``saes.metrics.error``); earlier rows stay as they were."""

    def __str__(self) -> str:  # a bind parameter and f-strings give 'complete', not 'SaeStatus.COMPLETE'
        return self.value


class SaePurpose(str, Enum):
    """``saes.config.purpose`` (the trainer's ``--purpose``): what an SAE was trained for."""

    RECONSTRUCTION = "reconstruction"
    """Fidelity, steering and the FVU targets (`just train`)."""
    ATLAS = "atlas"
    """Sparse features to read: labels, families, the dashboard (`just atlas`); every command's default."""

    def __str__(self) -> str:
        return self.value


PURPOSES = tuple(purpose.value for purpose in SaePurpose)

JUDGE_MARK = "-judge-seed"
"""In the name of an SAE trained only to judge another (the steering benchmark's): never a default."""

DEFAULT_SAE_ORDER = "atlas DESC, recommended DESC, n_latents DESC, created_at DESC, sae_id DESC"
"""The default-SAE rule as an ORDER BY: an atlas SAE (trained with ``--purpose atlas`` to be read),
else the SAE `just sweep` recommended, else the most latents (the finest features), then the most
recently registered, then the highest id."""


def default_sae_id(con: duckdb.DuckDBPyConnection, corpus: str | None = None) -> int | None:
    """The SAE every command and the dashboard use when none is named; None without one.

    Rule: among the complete SAEs of ``corpus`` (of the whole warehouse when None) that have their
    per-latent rows and are not a steering judge, an atlas SAE (``config.purpose = 'atlas'``: the
    sparse SAE trained to be read, `just atlas`); else the one `just sweep` recommended
    (``eval_summaries`` eval='sweep', ``recommended`` true); else the one with the most latents;
    ties go to the newest (``created_at``), then to the highest ``sae_id``. (The trainer writes
    latents with the 'complete' flip; a row without them is a metrics-only record.)
    """
    where, params = ("AND s.corpus = ?", [corpus]) if corpus is not None else ("", [])
    row = con.execute(
        f"""
        SELECT s.sae_id FROM (
            SELECT s.*, coalesce((
                SELECT (e.summary->>'recommended')::BOOLEAN FROM eval_summaries e
                WHERE e.sae_id = s.sae_id AND e.eval = 'sweep'), false) AS recommended,
                coalesce(s.config->>'purpose' = ?, false) AS atlas
            FROM complete_saes s
        ) s
        WHERE EXISTS (SELECT 1 FROM latents l WHERE l.sae_id = s.sae_id) AND NOT contains(s.name, ?) {where}
        ORDER BY {DEFAULT_SAE_ORDER} LIMIT 1
        """,
        [SaePurpose.ATLAS.value, JUDGE_MARK, *params],
    ).fetchall()
    return int(row[0][0]) if row else None
