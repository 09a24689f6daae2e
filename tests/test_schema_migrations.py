"""A warehouse written by schema version 1 is brought up to date once, and readers refuse it before that."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from data.cli import main as data_main
from data.schema import MIGRATIONS, SCHEMA_VERSION, current_version
from data.warehouse import WarehouseOutdated, open_reader, open_writer


def version_one_warehouse(path: Path) -> Path:
    """Schema version 1 only, with rows as the code of that time wrote them."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    for statement in MIGRATIONS[0][1]:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.execute(
        "INSERT INTO saes VALUES (1, 'old', 'astro', 'm', 8, 3, 2, 4, '{}', ?, NULL, 'complete', now(), now())",
        [json.dumps({"nmse": 0.3, "fvu": 0.3, "l0": 2.0, "dead_fraction": 0.1})],
    )
    con.execute("INSERT INTO latents VALUES (1, 0, 0.1, 1, 1, 1), (1, 1, 0.5, 1, 1, 1), (1, 2, 0.1, 1, 1, 1)")
    con.execute(
        "INSERT INTO interpretations "
        "(sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, status, created_at) "
        "VALUES (1, 0, 'x', 'p', true, 'dense enough', 0.9, 0.9, 'complete', now()), "
        "(1, 1, 'x', 'p', true, 'too dense', 0.9, 0.9, 'complete', now()), "
        "(1, 2, 'x', 'p', true, 'weak', 0.5, 0.9, 'complete', now()), "
        "(1, 2, 'gpt', 'p', false, 'llm label', 0.1, 0.2, 'complete', now())"
    )
    con.close()
    return path


def test_readers_refuse_an_outdated_warehouse_and_migrate_names_the_fix(tmp_path, capsys):
    path = version_one_warehouse(tmp_path / "astro.duckdb")
    with pytest.raises(WarehouseOutdated, match="python -m data migrate <corpus> --warehouse"), open_reader(path):
        pass
    assert data_main(["migrate", "astro", "--warehouse", str(path)]) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().err
    with open_reader(path) as con:
        assert current_version(con) == SCHEMA_VERSION
        # clean backfilled with the thresholds of the time: Pearson, F1 >= 0.8 and density < 0.2
        flags = con.execute("SELECT latent, clean FROM interpretations WHERE explainer = 'x' ORDER BY 1").fetchall()
        assert flags == [(0, True), (1, False), (2, False)]
        # one metrics vocabulary: the trainer's names
        assert json.loads(con.execute("SELECT metrics FROM complete_saes").fetchall()[0][0]) == {
            "val_fvu": 0.3,
            "val_l0": 2.0,
            "dead_fraction": 0.1,
        }
        # the best label: an LLM label before a proxy one, whatever its scores
        assert con.execute("SELECT latent, label FROM best_labels ORDER BY latent").fetchall() == [
            (0, "dense enough"),
            (1, "too dense"),
            (2, "llm label"),
        ]


def test_migrate_without_a_warehouse_is_a_clear_error(tmp_path, capsys):
    assert data_main(["migrate", "astro", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    assert "no warehouse at" in capsys.readouterr().err


def _scans_of(plan: list[dict], table: str) -> list[dict]:
    found = []
    for node in plan:
        if node["name"].endswith("SCAN") and table in json.dumps(node["extra_info"]):
            found.append(node)
        found += _scans_of(node["children"], table)
    return found


@pytest.mark.parametrize(
    "query",
    [
        "SELECT latent, label FROM best_labels WHERE sae_id = ?",
        "SELECT l.latent, b.label FROM latents l "
        "LEFT JOIN best_labels b ON b.sae_id = l.sae_id AND b.latent = l.latent WHERE l.sae_id = ?",
    ],
)
def test_a_reader_of_one_saes_best_labels_ranks_only_that_saes_interpretations(tmp_path, query):
    """``best_labels`` ranks per (sae_id, latent): the reader's ``sae_id`` filter must reach the scan of
    ``interpretations`` below the ranking, or every query would rank every SAE's rows."""
    with open_writer(tmp_path / "w.duckdb") as con:
        con.execute(
            "INSERT INTO interpretations (sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, "
            "status, created_at) SELECT i % 50, i // 50 % 200, 'e' || (i // 10000), 'p', i % 3 = 0, 'label ' || i, "
            "random(), random(), 'complete', now() FROM range(30000) t(i)"
        )
        con.execute(
            "INSERT INTO latents (sae_id, latent, density, mean_act, max_act, enc_dec_cos) "
            "SELECT i // 200, i % 200, 0.1, 1, 1, 1 FROM range(10000) t(i)"
        )
        plan = json.loads(con.execute("EXPLAIN (FORMAT json) " + query, [7]).fetchall()[0][1])
        (scan,) = _scans_of(plan, "interpretations")
        assert "sae_id" in json.dumps(scan["extra_info"].get("Filters", "")), scan
        expected = con.execute(
            "SELECT latent, label FROM interpretations WHERE sae_id = 7 AND status = 'complete' QUALIFY row_number() "
            "OVER (PARTITION BY latent ORDER BY is_proxy, pearson DESC, f1 DESC, explainer) = 1 ORDER BY latent"
        ).fetchall()
        assert sorted(con.execute(query, [7]).fetchall()) == expected
