"""Which stored SAEs an evaluation may read: complete ones only, with one clear error otherwise.

The trainer writes ``saes`` rows (``trainer.runs``); every eval and the steering API look them up here.
Statuses and the default-SAE rule belong to ``data.saes`` (the schema owner).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from data.saes import SaeStatus, default_sae_id


class UnknownSAE(LookupError, ValueError):
    """No complete SAE with this id (or none at all for a corpus) in the warehouse."""


@dataclass(frozen=True)
class StoredSAE:
    """The ``saes`` row fields the evaluations need."""

    sae_id: int
    name: str
    corpus: str
    embed_model: str
    d: int
    n_latents: int
    k: int


def complete_sae(con: duckdb.DuckDBPyConnection, sae_id: int) -> StoredSAE:
    """The complete SAE ``sae_id``, or ``UnknownSAE`` naming the complete ones that exist."""
    rows = con.execute(
        "SELECT sae_id, name, corpus, embed_model, d, n_latents, k, status FROM saes WHERE sae_id = ?", [int(sae_id)]
    ).fetchall()
    if rows and rows[0][-1] != SaeStatus.COMPLETE:
        raise UnknownSAE(
            f"SAE {sae_id} has status {rows[0][-1]!r}: no complete SAE with id {sae_id}; {_status_hint(con, rows[0])}"
        )
    if not rows:
        known = [r[0] for r in con.execute("SELECT sae_id FROM complete_saes ORDER BY sae_id").fetchall()]
        hint = (
            f"complete SAEs here: {known}"
            if known
            else "this warehouse has no complete SAE yet; train one with `just train <corpus>`"
        )
        raise UnknownSAE(f"unknown SAE id {sae_id}: no complete SAE with id {sae_id}; {hint}")
    return StoredSAE(*rows[0][:-1])


def complete_sae_ids(con: duckdb.DuckDBPyConnection, corpus: str) -> list[int]:
    """Ids of every complete SAE of ``corpus``, smallest first; ``UnknownSAE`` when there is none."""
    rows = con.execute(
        "SELECT sae_id FROM complete_saes WHERE corpus = ? ORDER BY n_latents, sae_id", [corpus]
    ).fetchall()
    if not rows:
        raise _none_of(corpus)
    return [row[0] for row in rows]


def pick_sae(con: duckdb.DuckDBPyConnection, corpus: str, sae_id: int | None) -> StoredSAE:
    """``sae_id`` if given, else the corpus's default SAE (``data.saes.default_sae_id``)."""
    if sae_id is not None:
        return complete_sae(con, sae_id)
    default = default_sae_id(con, corpus)
    if default is None:
        raise _none_of(corpus)
    return complete_sae(con, default)


def _status_hint(con: duckdb.DuckDBPyConnection, row: tuple) -> str:
    """What to do about an SAE that is not complete: a failed run says why; a training one may be running or killed."""
    sae_id, corpus, status = row[0], row[2], row[-1]
    if status == SaeStatus.FAILED:
        error = con.execute("SELECT metrics->>'error' FROM saes WHERE sae_id = ?", [sae_id]).fetchall()[0][0]
        return (
            f"its training failed ({error or 'no reason recorded'}); fix that and train it again "
            f"(`just train {corpus}` with the same options), or pick a complete SAE"
        )
    return (
        f"it is being trained, or its run was stopped: wait for it, or run the same `just train {corpus}` "
        "command again to resume and complete it"
    )


def _none_of(corpus: str) -> UnknownSAE:
    return UnknownSAE(f"no complete SAE of corpus {corpus!r}; train one with `just train {corpus}`")
