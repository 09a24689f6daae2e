"""The embedding cache: a re-run embeds only new or changed documents (counted at the backend)."""

from __future__ import annotations

import numpy as np

from data.corpus import Document, IngestStats, load_corpus_config
from data.docs import ingest_documents
from data.embed.openai_backend import OpenAIEmbedder
from data.embed.pipeline import embed_pending
from data.embeddings import load_embeddings
from data.text import collapse_whitespace
from data.warehouse import open_writer
from tests.fake_openai import fake_vector

ASTRO = load_corpus_config("astro")
MODEL = "fake-embedder"


def _documents(records: list[dict], version: int = 1) -> list[Document]:
    return [Document(r["arxiv_id"], r["title"], r["abstract"], r["categories"], version=version) for r in records]


def _run(path, server, documents) -> tuple[int, list[str]]:
    """Ingest ``documents`` and embed what is pending; returns (stored, texts the backend received)."""
    before = len(server.requests["embeddings"])
    embedder = OpenAIEmbedder(model=MODEL, base_url=server.base_url, api_key="test", batch_size=8)
    with open_writer(path) as con:
        ingest_documents(con, documents, ASTRO, "test", IngestStats())
    stats = embed_pending(path, embedder, show_progress=False)
    sent = [text for body in server.requests["embeddings"][before:] for text in body["input"]]
    return stats.stored, sent


def test_rerun_embeds_only_new_or_changed_documents(tmp_path, shared_sample, fake_openai):
    astro = [r for r in shared_sample if any(c.startswith("astro-ph") for c in r["categories"])][:25]
    path = tmp_path / "w.duckdb"
    stored, sent = _run(path, fake_openai, _documents(astro[:20]))
    assert stored == 20 and len(sent) == 20

    stored, sent = _run(path, fake_openai, _documents(astro[:20]))
    assert stored == 0 and sent == []  # nothing new: the backend is not called at all

    revised = [{**r, "abstract": r["abstract"] + " We also release our code."} for r in astro[:2]]
    stored, sent = _run(path, fake_openai, _documents(revised, version=2) + _documents(astro[20:]))
    assert stored == 7 and len(sent) == 7  # two revised abstracts, five new papers
    assert sum("We also release our code." in text for text in sent) == 2

    # every document's vector is the one for its current text
    with open_writer(path) as con:
        doc_ids, matrix = load_embeddings(con, MODEL)
        texts = dict(con.execute("SELECT doc_id, title || '\n\n' || abstract FROM docs").fetchall())
    expected = np.asarray([fake_vector(collapse_whitespace(texts[d]), 64) for d in doc_ids], dtype=np.float32)
    assert matrix.shape == (25, 64) and np.allclose(matrix, expected, atol=1e-6)
