"""`--format parquet`: activations, features (with labels) and documents for pandas or polars users.

- ``activations.parquet``: ``doc_id, arxiv_id, latent, value`` (one row per active feature of a document);
- ``features.parquet``: ``latent, density, mean_act, max_act, label, explainer, predictor, is_proxy, pearson, f1,
  auroc, clean``;
- ``docs.parquet``: ``doc_id, arxiv_id, title, published, categories, split`` (no abstracts: they stay in the
  warehouse);
- ``labels.json``: the same feature records with the SAE's description.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from evals.export.common import labels_document, write_json
from evals.saes import StoredSAE


def write_parquet_folder(folder: Path, con: duckdb.DuckDBPyConnection, sae_row: StoredSAE, records: list[dict]) -> None:
    activations = con.sql(
        "SELECT a.doc_id, d.arxiv_id, a.latent, a.value FROM activations a JOIN docs d USING (doc_id) "
        "WHERE a.sae_id = ?",
        params=[sae_row.sae_id],
    ).to_arrow_table()
    pq.write_table(activations, folder / "activations.parquet")
    columns = (
        "latent",
        "density",
        "mean_act",
        "max_act",
        "label",
        "explainer",
        "predictor",
        "is_proxy",
        "pearson",
        "f1",
        "auroc",
        "clean",
    )
    types = (
        pa.int32(),
        pa.float64(),
        pa.float64(),
        pa.float64(),
        pa.string(),
        pa.string(),
        pa.string(),
        pa.bool_(),
        pa.float64(),
        pa.float64(),
        pa.float64(),
        pa.bool_(),
    )
    features = pa.table(
        {name: pa.array([r[name] for r in records], kind) for name, kind in zip(columns, types, strict=False)}
    )
    pq.write_table(features, folder / "features.parquet")
    docs = con.sql(
        "SELECT doc_id, arxiv_id, title, published, categories, split FROM docs "
        "WHERE doc_id IN (SELECT DISTINCT doc_id FROM activations WHERE sae_id = ?) ORDER BY doc_id",
        params=[sae_row.sae_id],
    ).to_arrow_table()
    pq.write_table(docs, folder / "docs.parquet")
    write_json(folder / "labels.json", labels_document(sae_row, records))
