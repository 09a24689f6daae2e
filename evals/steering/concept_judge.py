"""The judge of "which documents carry this concept": an independently trained SAE.

Judging steering by the steering SAE's own activations is circular: adding W_dec[up] to the query
moves it towards exactly the documents that SAE encodes with ``up``. The judge is another SAE of
the same shape trained on the same documents with another seed; each steering latent is matched to
the judge latent with the most similar decoder direction (cosine), and a document carries the
concept when that judge latent is active on it (the judge SAE's stored ``activations``). A latent
whose best match is below ``judge_min_cos`` has no counterpart: it is never steered in the benchmark.

The judge SAE is found (same corpus, model, n_latents, k; another seed), or trained once with the
steering SAE's stored configuration and ``judge_seed``; its name carries ``data.saes.JUDGE_MARK``
so no evaluation picks it as a default.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import torch

from data.saes import JUDGE_MARK, SaeStatus
from evals.saes import StoredSAE, complete_sae
from evals.steering.config import SteeringBenchConfig

ActiveDocs = Callable[[list[int]], dict[int, frozenset[int]]]


@dataclass
class ConceptJudge:
    """Steering latent -> the documents where its counterpart in the judge SAE is active."""

    description: str
    """Names the judge in results, e.g. 'independent SAE 4 (seed 1), decoder cosine >= 0.4'."""
    sae_id: int
    counterpart: np.ndarray
    """(n_latents,) the judge latent matched to each steering latent."""
    match_cos: np.ndarray
    """(n_latents,) decoder cosine of that match."""
    min_cos: float
    judge_docs: ActiveDocs
    """Judge latent -> documents where it is active."""

    def judges(self, latent: int) -> bool:
        return bool(self.match_cos[int(latent)] >= self.min_cos)

    def present(self, latents: list[int]) -> dict[int, frozenset[int]]:
        """For each steering latent, the documents carrying its concept according to the judge."""
        docs = self.judge_docs(sorted({int(self.counterpart[int(latent)]) for latent in latents}))
        return {int(latent): docs[int(self.counterpart[int(latent)])] for latent in latents}

    def describe(self, latent: int) -> dict:
        return {
            "judge_latent": int(self.counterpart[int(latent)]),
            "match_cos": round(float(self.match_cos[int(latent)]), 4),
        }


def match_decoders(steering: torch.Tensor, judge: torch.Tensor, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each steering decoder row, the judge row of highest cosine and that cosine."""
    a = torch.nn.functional.normalize(steering.detach().float(), dim=1)
    b = torch.nn.functional.normalize(judge.detach().float(), dim=1)
    best, where = [], []
    with torch.no_grad():
        for part in a.split(chunk):
            values, indices = (part @ b.T).max(dim=1)
            best.append(values)
            where.append(indices)
    return torch.cat(where).numpy(), torch.cat(best).numpy()


def stored_seed(con: duckdb.DuckDBPyConnection, sae_id: int) -> int | None:
    config = json.loads(con.execute("SELECT config FROM saes WHERE sae_id = ?", [sae_id]).fetchall()[0][0] or "{}")
    return config.get("seed")


def find_judge_sae(con: duckdb.DuckDBPyConnection, steering: StoredSAE, seed: int) -> StoredSAE | None:
    """The newest complete SAE of the steering SAE's shape trained with ``seed`` (not the SAE itself)."""
    rows = con.execute(
        """
        SELECT sae_id FROM saes WHERE corpus = ? AND embed_model = ? AND n_latents = ? AND k = ? AND status = ?
          AND sae_id <> ? AND json_extract(config, '$.seed')::BIGINT = ?
        ORDER BY created_at DESC, sae_id DESC LIMIT 1
        """,
        [
            steering.corpus,
            steering.embed_model,
            steering.n_latents,
            steering.k,
            SaeStatus.COMPLETE,
            steering.sae_id,
            seed,
        ],
    ).fetchall()
    return complete_sae(con, rows[0][0]) if rows else None


def judge_training_overrides(
    con: duckdb.DuckDBPyConnection, steering: StoredSAE, seed: int, max_steps: int | None
) -> dict:
    """``train_sae`` overrides that repeat the steering SAE's stored run with another seed."""
    config = json.loads(con.execute("SELECT config FROM saes WHERE sae_id = ?", [steering.sae_id]).fetchall()[0][0])
    model = {key: value for key, value in config.get("model", {}).items() if key != "d"}  # d comes from the data
    data = {key: value for key, value in config.get("data", {}).items() if key != "corpus"}
    return {
        **model,
        **data,
        "max_steps": max_steps or config["max_steps"],
        "seed_everything": seed,
        "name": f"{steering.name}{JUDGE_MARK}{seed}",
        "enable_progress_bar": False,
    }


def judge_seed(con: duckdb.DuckDBPyConnection, steering: StoredSAE, config: SteeringBenchConfig) -> int:
    if config.judge_seed is not None:
        return config.judge_seed
    return (stored_seed(con, steering.sae_id) or 0) + 1


def ensure_judge_sae(
    path: str | Path, con_factory, steering: StoredSAE, config: SteeringBenchConfig, log: Callable[[str], None] = print
) -> StoredSAE:
    """The judge SAE: ``config.judge_sae_id``, else a stored one of another seed, else trained now (once)."""
    with con_factory() as con:
        if config.judge_sae_id is not None:
            judge = complete_sae(con, config.judge_sae_id)
            if judge.sae_id == steering.sae_id or judge.embed_model != steering.embed_model:
                raise ValueError(
                    f"judge_sae_id {judge.sae_id} must be another SAE of the {steering.embed_model!r} "
                    f"embeddings than the steered SAE {steering.sae_id}"
                )
            return judge
        seed = judge_seed(con, steering, config)
        if seed == stored_seed(con, steering.sae_id):
            raise ValueError(f"judge_seed {seed} is the steering SAE's own seed; give another one")
        found = find_judge_sae(con, steering, seed)
        if found is not None:
            return found
        overrides = judge_training_overrides(con, steering, seed, config.judge_max_steps)
    # the trainer's public entry point, imported only when a judge must be trained
    from trainer.api import train_sae

    log(
        f"training the judge SAE (SAE {steering.sae_id}'s configuration, seed {seed}, {overrides['max_steps']} steps); "
        "it is stored and reused by later runs"
    )
    sae_id = train_sae(path, steering.corpus, **overrides)
    if sae_id is None:  # train_sae returns None only on a non-zero rank of a multi-process run
        raise RuntimeError("training the judge SAE returned no SAE id; run the steering benchmark in one process")
    with con_factory() as con:
        return complete_sae(con, sae_id)


def build_judge(
    steering_decoder: torch.Tensor,
    judge_decoder: torch.Tensor,
    judge: StoredSAE,
    seed: int | None,
    config: SteeringBenchConfig,
    judge_docs: ActiveDocs,
) -> ConceptJudge:
    counterpart, match_cos = match_decoders(steering_decoder, judge_decoder)
    seed_text = f"seed {seed}" if seed is not None else "seed unknown"
    return ConceptJudge(
        description=f"independent SAE {judge.sae_id} ({judge.name}, {seed_text}): "
        f"latents matched by decoder cosine >= {config.judge_min_cos}",
        sae_id=judge.sae_id,
        counterpart=counterpart,
        match_cos=match_cos,
        min_cos=config.judge_min_cos,
        judge_docs=judge_docs,
    )
