"""The arXiv API source against a real Atom server on 127.0.0.1: paging, faults, crash and resume."""

from __future__ import annotations

import json
import re
import time

import pytest

from data.corpus import IngestStats, load_corpus_config
from data.sources import BadInput
from data.sources.arxiv_api import ArxivApiError, ArxivApiSettings, fetch_corpus, parse_feed
from data.text import collapse_whitespace
from data.warehouse import open_reader, open_writer
from tests.fake_arxiv import FakeArxiv, atom_feed

ASTRO = load_corpus_config("astro")
PAGE = 10


def _records(sample: list[dict], n: int) -> list[dict]:
    """``n`` shared-data records (2/3 astro-ph, 1/3 cs.LG) in the fake server's shape (published = listing date)."""
    astro = [r for r in sample if any(c.startswith("astro-ph") for c in r["categories"])]
    other = [r for r in sample if r not in astro]
    sample = astro[: n - n // 3] + other[: n // 3]
    return [
        {
            "arxiv_id": r["arxiv_id"],
            "title": r["title"],
            "abstract": r["abstract"],
            "categories": r["categories"],
            "published": r["listing_date"],
            "version": 1 + i % 3,
        }
        for i, r in enumerate(sample)
    ]


def _astro(records: list[dict]) -> list[dict]:
    return [r for r in records if any(c.startswith("astro-ph") for c in r["categories"])]


def _settings(server: FakeArxiv, **overrides) -> ArxivApiSettings:
    options = {
        "base_url": server.url,
        "page_size": PAGE,
        "delay_s": 0.0,
        "backoff_s": 0.01,
        "timeout_s": 5.0,
        "max_retries": 3,
    }
    return ArxivApiSettings(**{**options, **overrides})


def _fetch(path, server, max_results=None, **overrides) -> IngestStats:
    stats = IngestStats()
    fetch_corpus(
        path,
        ASTRO,
        stats,
        BadInput(stats, strict=False),
        max_results=max_results,
        settings=_settings(server, **overrides),
    )
    return stats


def _docs(path) -> dict[str, tuple]:
    with open_writer(path) as con:
        rows = con.execute(
            "SELECT arxiv_id, title, abstract, categories, version, published, text_hash FROM docs"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_pages_through_a_category_query_and_stores_every_matching_abstract(
    tmp_path, shared_sample, astro_warehouse_template
):
    records = _records(shared_sample, 60)
    astro = _astro(records)
    assert 0 < len(astro) < len(records)  # the sample mixes astro-ph with cs.LG
    with FakeArxiv(records) as server:
        stats = _fetch(tmp_path / "w.duckdb", server)
    docs = _docs(tmp_path / "w.duckdb")
    assert sorted(docs) == sorted(r["arxiv_id"] for r in astro)
    assert stats.inserted == len(astro) and stats.malformed == 0
    # paged with the query the corpus config names, in one fixed submission window, newest first
    assert [int(q["start"]) for q in server.requests] == list(range(0, len(astro), PAGE))
    (search,) = {q["search_query"] for q in server.requests}
    assert re.fullmatch(r"cat:astro-ph\* AND submittedDate:\[199101010000 TO \d{12}\]", search)
    assert {(q["sortBy"], q["sortOrder"], q["max_results"]) for q in server.requests} == {
        ("submittedDate", "descending", str(PAGE))
    }
    with open_reader(tmp_path / "w.duckdb") as con:
        first_page = [a for (a,) in con.execute("SELECT arxiv_id FROM docs ORDER BY doc_id LIMIT ?", [PAGE]).fetchall()]
    newest = sorted(astro, key=lambda r: (r["published"], r["arxiv_id"]), reverse=True)[:PAGE]
    assert sorted(first_page) == sorted(r["arxiv_id"] for r in newest)
    for record in astro:
        title, abstract, categories, version, published, _ = docs[record["arxiv_id"]]
        assert (title, abstract) == (collapse_whitespace(record["title"]), collapse_whitespace(record["abstract"]))
        assert categories == record["categories"]
        assert version == record["version"] and published.isoformat() == record["published"]

    # The same abstracts from the shared JSONL have the same text hash, so cached vectors are shared.
    with open_reader(astro_warehouse_template) as con:
        from_jsonl = dict(con.execute("SELECT arxiv_id, text_hash FROM docs").fetchall())
    assert all(from_jsonl[a] == row[-1] for a, row in docs.items())


def test_retries_503s_timeouts_garbled_and_empty_pages(tmp_path, shared_sample):
    records = _records(shared_sample, 40)
    with FakeArxiv(records) as server:
        server.faults.extend([503, 503, "hang", "garbled", "empty", 429])
        _fetch(tmp_path / "w.duckdb", server, max_retries=6, timeout_s=1.0)
        pages = -(-len(_astro(records)) // PAGE)
        assert len(server.requests) == pages + 6  # each fault cost exactly one extra call
    assert sorted(_docs(tmp_path / "w.duckdb")) == sorted(r["arxiv_id"] for r in _astro(records))


def test_waits_between_calls(tmp_path, shared_sample):
    records = _records(shared_sample, 40)
    with FakeArxiv(records) as server:
        started = time.monotonic()
        _fetch(tmp_path / "w.duckdb", server, max_results=3 * PAGE, delay_s=0.25)
        elapsed = time.monotonic() - started
    assert len(server.requests) == 3
    assert elapsed >= 2 * 0.25  # no wait before the first call, one before each later call


def test_crash_then_resume_continues_from_the_stored_cursor(tmp_path, shared_sample):
    records = _records(shared_sample, 80)
    astro = _astro(records)
    path = tmp_path / "w.duckdb"
    with FakeArxiv(records) as server:
        # pages 1 and 2 succeed, then the API fails for longer than the client retries
        server.faults.extend([None, None, 503, 503, 503, 503])
        with pytest.raises(ArxivApiError, match="re-run continues"):
            _fetch(path, server)
        assert len(_docs(path)) == 2 * PAGE  # the committed pages survive the crash
        with open_writer(path) as con:
            cursor, finished = con.execute("SELECT cursor, finished_at FROM ingest_runs").fetchall()[0]
        assert json.loads(cursor)["start"] == 2 * PAGE and finished is None

        calls_before = len(server.requests)
        _fetch(path, server)
        resumed = server.requests[calls_before:]
        assert int(resumed[0]["start"]) == 2 * PAGE  # nothing fetched twice
        docs = _docs(path)
        assert sorted(docs) == sorted(r["arxiv_id"] for r in astro)

        # A run after a finished window opens the next one, from the last window's end to now:
        # pretend the first run ended on 2025-09-01, so the papers submitted since come again.
        with open_writer(path) as con:
            cursor = json.loads(con.execute("SELECT cursor FROM ingest_runs").fetchall()[0][0])
            con.execute("UPDATE ingest_runs SET cursor = ?", [json.dumps({**cursor, "until": "202509010000"})])
        since = [r for r in astro if r["published"] > "2025-09-01"]
        assert 0 < len(since) < len(astro)
        calls_before = len(server.requests)
        stats = _fetch(path, server)
        later = server.requests[calls_before:]
        assert all("submittedDate:[202509010000 TO " in q["search_query"] for q in later)
        assert [int(q["start"]) for q in later] == list(range(0, len(since), PAGE))
        assert stats.inserted == 0 and stats.unchanged == len(since) and _docs(path) == docs


def test_max_results_caps_the_query_and_a_rejected_query_fails_fast(tmp_path, shared_sample):
    records = _records(shared_sample, 60)
    with FakeArxiv(records) as server:
        stats = _fetch(tmp_path / "w.duckdb", server, max_results=15)
        assert stats.inserted == 15 and [q["max_results"] for q in server.requests] == [str(PAGE), "5"]
    with FakeArxiv(records) as server:  # the API's own cap on one query ends paging cleanly
        stats = _fetch(tmp_path / "capped.duckdb", server, query_limit=25)
        assert stats.inserted == 25 and [q["max_results"] for q in server.requests] == [str(PAGE), str(PAGE), "5"]
        assert "serves at most 25 results of one query" in stats.problems[-1]
    with FakeArxiv(records) as server:
        server.faults.append(400)
        with pytest.raises(ArxivApiError, match="HTTP 400"):
            _fetch(tmp_path / "other.duckdb", server)
        assert len(server.requests) == 1  # a client error is not retried


def test_atom_parsing_old_style_ids_versions_and_malformed_entries():
    feed = atom_feed(
        [
            {
                "arxiv_id": "astro-ph/0501001",
                "version": 4,
                "title": "Old  \n style",
                "abstract": "An abstract.",
                "categories": ["astro-ph"],
                "published": "2005-01-03",
            },
        ],
        total=2,
        start=0,
        page_size=10,
    ).replace("</feed>", "<entry><id>not-an-arxiv-url</id><title>x</title></entry></feed>")
    stats = IngestStats()
    page = parse_feed(feed, BadInput(stats, strict=False), "page1")
    (document,) = page.documents
    assert (document.arxiv_id, document.version, document.categories) == ("astro-ph/0501001", 4, ["astro-ph"])
    assert document.text == "Old style An abstract."
    assert page.total == 2 and page.entries == 2
    assert stats.malformed == 1 and "page1 entry 2" in stats.problems[0]
    error_feed = atom_feed([], 1, 0, 10).replace(
        "</feed>", "<entry><id>http://arxiv.org/api/errors#incorrect_id</id><summary>bad query</summary></entry></feed>"
    )
    with pytest.raises(ArxivApiError, match="bad query"):
        parse_feed(error_feed, BadInput(IngestStats(), strict=False), "page")
