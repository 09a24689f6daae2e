"""A warehouse written by schema version 1 is brought up to date once, and readers refuse it before that."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from data.cli import main as data_main
from data.schema import MIGRATIONS, SCHEMA_VERSION, current_version
from data.warehouse import WarehouseOutdated, open_reader


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
