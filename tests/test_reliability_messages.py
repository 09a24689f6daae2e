"""Reliability, messages: no traceback for a bad warehouse (3), checkpoints found after the artifacts
folder moves (7), hints that fit the case (9).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data.warehouse import open_reader, open_writer
from tests.dashboard_support import fresh_streamlit_caches, open_app  # noqa: F401 (fixture)
from tests.reliability_support import cli, one

# -- 3. raw tracebacks -------------------------------------------------------------------------------


def _bad_warehouses(folder: Path, template: Path) -> dict[str, Path]:
    folder.mkdir()
    not_duckdb = folder / "notes.duckdb"
    not_duckdb.write_text("arxiv_id,title\n2401.00001,not a database\n" * 100)
    truncated = folder / "truncated.duckdb"
    shutil.copy(template, truncated)
    with open(truncated, "r+b") as handle:
        handle.truncate(truncated.stat().st_size // 2)
    return {"not DuckDB": not_duckdb, "truncated": truncated}


def _commands(warehouse: Path, csv_file: Path) -> dict[str, tuple[list[str], dict]]:
    w = str(warehouse)
    artifacts = {
        "SAE_ATLAS_ARTIFACTS": str(warehouse.parent / f"{warehouse.stem}_artifacts")
    }  # interp reads <artifacts>/astro.duckdb
    return {
        "ingest": (["data", "ingest", "astro", "--csv", str(csv_file), "--no-embed", "--warehouse", w], {}),
        "train": (["trainer", "train", "astro", "--warehouse", w, "--trainer.max_steps", "1"], {}),
        "interp": (["evals.interp", "astro"], artifacts),
        "families": (["evals.families", "astro", "--warehouse", w], {}),
        "steer-bench": (["evals.steering", "bench", "astro", "--warehouse", w], {}),
        "fidelity": (["evals.fidelity", "astro", "--warehouse", w], {}),
        "splits": (["evals.splits", "astro", "--warehouse", w], {}),
    }


def test_3_a_non_duckdb_or_truncated_warehouse_is_one_clear_message_and_exit_2_in_every_command(
    tmp_path, astro_warehouse_template
):
    csv_file = tmp_path / "docs.csv"
    csv_file.write_text("title,abstract\nA title,An abstract about galaxies.\n")
    for kind, warehouse in _bad_warehouses(tmp_path / "bad", astro_warehouse_template).items():
        content = warehouse.read_bytes()
        artifacts = warehouse.parent / f"{warehouse.stem}_artifacts"
        artifacts.mkdir()
        (artifacts / "astro.duckdb").symlink_to(warehouse)
        commands = _commands(warehouse, csv_file)
        if kind == "truncated":  # the same code path for every command: three suffice here
            commands = {name: commands[name] for name in ("ingest", "train", "fidelity")}
        for name, (args, env) in commands.items():
            result = cli(*args, env=env)
            output = result.stdout + result.stderr
            assert result.returncode == 2, (kind, name, output)
            assert "Traceback" not in output, (kind, name, output)
            assert "is not a readable SAE Atlas warehouse" in output and warehouse.name in output, (kind, name, output)
            assert "rebuild it with `just data <corpus>`" in output, (kind, name, output)
        assert warehouse.read_bytes() == content  # nothing was written to it


def test_3_the_dashboard_explains_a_bad_warehouse_and_a_model_it_cannot_embed_queries_with(
    monkeypatch, tmp_path, astro_warehouse_template, trained_astro_copy
):
    for warehouse in _bad_warehouses(tmp_path / "bad", astro_warehouse_template).values():
        at = open_app(monkeypatch, warehouse)
        assert "is not a readable SAE Atlas warehouse" in at.error[0].value

    # an SAE on text-embedding-3-small vectors while the corpus's backend is the local model
    path = trained_astro_copy.path
    with open_writer(path) as con:
        con.execute("UPDATE embeddings SET model = 'text-embedding-3-small'")
        con.execute("UPDATE saes SET embed_model = 'text-embedding-3-small'")
    at = open_app(monkeypatch, path, "views/steer.py", sae_id=trained_astro_copy.sae_ids[0], timeout=120)
    at.text_input(key="steer_query").set_value("galaxy clusters").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Cannot embed the query" in at.warning[0].value and "'text-embedding-3-small'" in at.warning[0].value
    assert "is an OpenAI embedding model" in at.warning[0].value  # named as such, never asked of a model hub


# -- 7. moved folders --------------------------------------------------------------------------------


def test_7_checkpoints_are_found_after_the_artifacts_folder_moves(trained_astro, tmp_path):
    first, second, third = trained_astro.sae_ids
    assert (
        one(trained_astro.path, "SELECT checkpoint FROM saes WHERE sae_id = ?", [first])
        == f"astro_runs/sae_{first}/sae.pt"
    )
    old = tmp_path / "old_artifacts"
    old.mkdir()
    shutil.copy(trained_astro.path, old / "astro.duckdb")
    for sae_id in trained_astro.sae_ids:
        (old / "astro_runs" / f"sae_{sae_id}").mkdir(parents=True)
        shutil.copy(
            trained_astro.path.parent / "astro_runs" / f"sae_{sae_id}" / "sae.pt", old / "astro_runs" / f"sae_{sae_id}"
        )
    with open_writer(old / "astro.duckdb") as con:  # as versions before relative paths stored it
        con.execute(
            "UPDATE saes SET checkpoint = ? WHERE sae_id = ?",
            [str(old / "astro_runs" / f"sae_{second}" / "sae.pt"), second],
        )
    new = tmp_path / "moved" / "artifacts"
    shutil.move(old, new)

    from evals.steering.search import SteerableSearch
    from trainer.checkpoint import CheckpointError, load_sae_from_warehouse

    query = None
    for sae_id in (first, second):  # a relative path, and an absolute one of the old folder
        search = SteerableSearch(new / "astro.duckdb", sae_id)
        query = search.embed("galaxy rotation curves") if query is None else query
        assert len(search.search(search.clamp(query, {0: 1.0}), top=10).doc_ids) == 10
    shutil.rmtree(new / "astro_runs" / f"sae_{third}")
    with open_reader(new / "astro.duckdb") as con, pytest.raises(CheckpointError) as error:
        load_sae_from_warehouse(con, third)
    assert str(new / "astro_runs" / f"sae_{third}" / "sae.pt") in str(error.value) and "put it back" in str(error.value)


# -- 9. misleading hints -------------------------------------------------------------------------------


def test_9_hints_fit_the_case(trained_astro_copy):
    from evals.saes import UnknownSAE, complete_sae
    from trainer.api import train_sae

    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    tiny = dict(batch_size=128, max_steps=1, enable_progress_bar=False, logger=False)
    with pytest.raises(ValueError) as error:
        train_sae(path, "astro", n_latents=64, k=0, **tiny)
    assert "pick k >= 1" in str(error.value) and "smaller k" not in str(error.value)
    with pytest.raises(
        ValueError, match=r"k_aux was not set, and its default 2k = 80 exceeds n_latents=64; set k_aux <= 64"
    ):
        train_sae(path, "astro", n_latents=64, k=40, **tiny)
    assert one(path, "SELECT count(*) FROM saes") == len(trained_astro_copy.sae_ids)  # refused before registering

    with open_writer(path) as con:
        con.execute(
            "UPDATE saes SET status = 'failed', metrics = ?::JSON WHERE sae_id = ?",
            [json.dumps({"error": "NonFiniteError: step 2: the loss is not finite"}), sae_id],
        )
    with open_reader(path) as con, pytest.raises(UnknownSAE) as error:
        complete_sae(con, sae_id)
    message = str(error.value)
    assert (
        "its training failed (NonFiniteError: step 2: the loss is not finite)" in message
        and "wait until" not in message
    )
    result = cli("evals.steering", "bench", "astro", "--warehouse", str(path), "--sae-id", str(sae_id))
    assert result.returncode == 2 and "its training failed" in result.stdout + result.stderr

    result = cli("trainer", "train", "nosuchcorpus")
    assert result.returncode == 2 and "config=" not in result.stderr
    assert "unknown corpus 'nosuchcorpus'" in result.stderr and "astro, cslg" in result.stderr
    assert "just data nosuchcorpus --csv reviews.csv --text-column body" in result.stderr  # how to create one
