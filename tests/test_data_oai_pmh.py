"""Whole arXiv archives through OAI-PMH, against a fake endpoint on 127.0.0.1 serving real abstracts
in arXiv's OAI format: resumption tokens, flow control (503 Retry-After), a malformed page, an
expired token, a crash resumed from the stored cursor, and an incremental re-harvest."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.parse

import pytest

from data.ingest import IngestRequest, ingest_corpus
from data.sources.oai_pmh import OaiError, OaiSettings
from data.warehouse import open_reader
from tests.fake_oai import FakeOai

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD_DAY = "2024-03-01"


@pytest.fixture(scope="module")
def records(shared_sample) -> list[dict]:
    """10 astro-ph and 4 cs abstracts from the shared data, plus a deleted astro-ph record."""
    astro = [r for r in shared_sample if _in_astro(r)][:10]
    cs = [r for r in shared_sample if not _in_astro(r)][:4]
    rows = [{**r, "published": r["listing_date"], "datestamp": OLD_DAY} for r in astro + cs]
    return rows + [{**rows[0], "arxiv_id": "2401.99999", "deleted": True}]


def _in_astro(record: dict) -> bool:
    return any(c.startswith("astro-ph") for c in record["categories"])


def _settings(server: FakeOai, **overrides) -> OaiSettings:
    return OaiSettings(**{"base_url": server.url, "delay_s": 0.0, "backoff_s": 0.05, **overrides})


def _harvest(warehouse, server, **settings):
    return ingest_corpus(
        IngestRequest(
            "astro", harvest_all=True, embed=False, warehouse=warehouse, oai_settings=_settings(server, **settings)
        )
    )


def _docs(warehouse) -> dict:
    with open_reader(warehouse) as con:
        rows = con.execute("SELECT arxiv_id, title, abstract, categories, published, source FROM docs").fetchall()
    return {row[0]: row[1:] for row in rows}


def _cursor(warehouse) -> dict:
    with open_reader(warehouse) as con:
        (cursor,) = con.execute(
            "SELECT cursor FROM ingest_runs WHERE run_id = 'oai:astro:physics:astro-ph'"
        ).fetchall()[0]
    return json.loads(cursor)


def test_a_whole_set_through_resumption_tokens_with_flow_control_and_a_malformed_page(tmp_path, records):
    astro = [r for r in records if _in_astro(r) and not r.get("deleted")]
    with FakeOai(records, page_size=3) as server:
        server.faults += [None, ("retry_after", 1), "malformed"]
        report = _harvest(tmp_path / "astro.duckdb", server, delay_s=0.2)
    docs = _docs(tmp_path / "astro.duckdb")
    assert set(docs) == {r["arxiv_id"] for r in astro}  # cs records are not in the set; the deleted one is skipped
    first = astro[0]
    assert docs[first["arxiv_id"]] == (
        " ".join(first["title"].split()),
        " ".join(first["abstract"].split()),
        first["categories"],
        dt.date.fromisoformat(first["published"]),
        "arxiv-oai",
    )
    times, queries = zip(*server.requests, strict=False)
    assert queries[0] == {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "physics:astro-ph"}
    tokens = [q.get("resumptionToken") for q in queries]
    # 4 pages of 3 (11 astro records, the deleted one included); page 2 asked 3 times: 503, malformed, good.
    assert len(queries) == 6 and tokens[1] == tokens[2] == tokens[3] is not None and len(set(tokens[3:])) == 3
    assert times[2] - times[1] >= 1.0  # Retry-After: 1 was waited out
    assert (
        min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.19
    )  # the fixed 0.2 s pause (arrival times jitter)
    assert _cursor(tmp_path / "astro.duckdb")["finished"] and _cursor(tmp_path / "astro.duckdb")["pages"] == 4
    assert report.documents.inserted == 10


def test_an_expired_token_lists_the_window_again_and_loses_nothing(tmp_path, records):
    with FakeOai(records, page_size=3) as server:
        server.faults += [None, None, "expire"]
        report = _harvest(tmp_path / "astro.duckdb", server)
    queries = [q for _, q in server.requests]
    assert "resumptionToken" in queries[2] and "resumptionToken" not in queries[3]  # listed again from the start
    assert len(_docs(tmp_path / "astro.duckdb")) == 10 and report.documents.inserted == 10
    assert report.documents.unchanged == 6  # the first two pages came twice and were stored once
    assert any("resumption token expired" in p for p in report.documents.problems)


def test_a_crash_resumes_from_the_stored_token_and_the_next_harvest_is_incremental(tmp_path, records):
    warehouse = tmp_path / "astro.duckdb"
    with FakeOai(records, page_size=3) as server:
        server.faults += [None, None, 500, 500]
        with pytest.raises(OaiError, match="failed 2 times"):
            _harvest(warehouse, server, max_retries=1)
        assert len(_docs(warehouse)) == 6 and not _cursor(warehouse)["finished"]
        stored_token = _cursor(warehouse)["token"]
        server.requests.clear()
        _harvest(warehouse, server)
        assert server.requests[0][1] == {"verb": "ListRecords", "resumptionToken": stored_token}
        assert len(_docs(warehouse)) == 10 and _cursor(warehouse)["finished"]

        started = _cursor(warehouse)["started"]
        server.records.append({**records[1], "arxiv_id": "2601.00042", "datestamp": started})
        server.records.append({**records[2], "abstract": "A revised abstract.", "datestamp": started})
        server.requests.clear()
        report = _harvest(warehouse, server)
    assert server.requests[0][1] == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "set": "physics:astro-ph",
        "from": started,
    }
    assert (report.documents.read, report.documents.inserted, report.documents.updated) == (2, 1, 1)
    assert _docs(warehouse)[records[2]["arxiv_id"]][1] == "A revised abstract."


def test_just_data_all_from_the_command_line(tmp_path, records):
    warehouse = tmp_path / "astro.duckdb"
    broken = {**records[3], "arxiv_id": ""}
    with FakeOai(records[:5] + [broken], page_size=50) as server:
        env = {**os.environ, "SAE_ATLAS_OAI_URL": server.url, "COLUMNS": "200"}
        result = subprocess.run(
            [sys.executable, "-m", "data", "ingest", "astro", "--all", "--no-embed", "--warehouse", str(warehouse)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    query = urllib.parse.urlencode({"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "physics:astro-ph"})
    assert f"{server.url}?{query} record 6: no <id>" in result.stderr
    assert len(_docs(warehouse)) == 5
    with open_reader(warehouse) as con:
        assert con.execute("SELECT source FROM ingest_runs WHERE run_id LIKE 'ingest:%'").fetchall() == [("arxiv-oai",)]
