"""What every export format shares: the SAE's feature records, its weights, and atomic folder writes."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from evals.saes import StoredSAE


class UnsupportedSAE(ValueError):
    """An SAE whose encoder the export format cannot express (e.g. not a fixed top-k)."""


def feature_records(con: duckdb.DuckDBPyConnection, sae_id: int) -> list[dict]:
    """One record per latent: statistics and its best stored label (``best_labels``) with scores;
    None when unlabelled."""
    frame = con.execute(
        """
        SELECT l.latent, l.density, l.mean_act, l.max_act, b.label, b.explainer, b.predictor, b.is_proxy,
               b.pearson, b.f1, b.auroc, b.clean
        FROM latents l LEFT JOIN best_labels b ON b.sae_id = l.sae_id AND b.latent = l.latent
        WHERE l.sae_id = ? ORDER BY l.latent
        """,
        [sae_id],
    ).df()
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict(orient="records")


def labels_document(sae: StoredSAE, records: list[dict]) -> dict:
    """The ``labels.json`` every export carries: which SAE, and a record per feature."""
    return {
        "sae_id": sae.sae_id,
        "name": sae.name,
        "corpus": sae.corpus,
        "embed_model": sae.embed_model,
        "d": sae.d,
        "n_latents": sae.n_latents,
        "k": sae.k,
        "features": records,
    }


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")


def load_topk_sae(con: duckdb.DuckDBPyConnection, sae: StoredSAE):
    """The stored SAE as a ``TopKSAE`` (plain top-k, BatchTopK or Matryoshka); refused when its encoder is
    another kind."""
    from trainer.checkpoint import load_sae_from_warehouse  # trainer's contract
    from trainer.sae import TopKSAE

    model = load_sae_from_warehouse(con, sae.sae_id)
    if not isinstance(model, TopKSAE) or type(model).encode is not TopKSAE.encode:
        raise UnsupportedSAE(
            f"SAE {sae.sae_id} is a {type(model).__name__}, whose encoder the safetensors and "
            "sentence-transformers exports cannot express: export it as parquet"
        )
    return model


def inference_threshold(sae) -> float | None:
    """A BatchTopK SAE's inference threshold (every latent above it fires); None for a fixed top-k encoder."""
    if not sae.batch_topk or float(sae.threshold) < 0:  # an untrained BatchTopK still encodes by top-k
        return None
    return float(sae.threshold)


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Write into a temporary sibling folder; on success it replaces ``target`` whole, on error it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
