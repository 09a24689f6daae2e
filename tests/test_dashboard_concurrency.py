"""A training run may write while the dashboard is open: the app shows 'busy', then the new data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.dashboard_support import APP, REPO_ROOT, dashboard_warehouse, fresh_streamlit_caches  # noqa: F401 (fixtures)

WRITER = textwrap.dedent(
    """
    import datetime as dt, json, sys
    import pyarrow as pa
    from data.warehouse import insert_arrow, open_writer, transaction
    with open_writer(sys.argv[1]) as con:
        with transaction(con):
            sae_id = con.execute("SELECT max(sae_id) + 1 FROM saes").fetchall()[0][0]
            insert_arrow(con, "saes", pa.Table.from_pylist([{
                "sae_id": sae_id, "name": "written-while-open", "corpus": "astro", "embed_model": "all-MiniLM-L6-v2",
                "d": 384, "n_latents": 6144, "k": 64, "k_aux": 128, "config": "{}",
                "metrics": json.dumps({"val_fvu": 0.05, "val_l0": 64.0, "dead_fraction": 0.0}), "checkpoint": None,
                "status": "complete", "created_at": dt.datetime.now(), "finished_at": dt.datetime.now()}]))
            print("holding", flush=True)
            sys.stdin.readline()  # keep the write transaction (and the file lock) until told to finish
    print("done", flush=True)
    """
)


def test_app_shows_busy_while_a_writer_holds_the_file_and_new_data_after(monkeypatch, dashboard_warehouse, tmp_path):
    path = tmp_path / "astro.duckdb"
    shutil.copy(dashboard_warehouse[0], path)
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["runs_tab"] = "All runs"  # the tab with the runs table
    at = at.run()
    before = next(m.value for m in at.metric if m.label == "Complete SAEs")

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(tmp_path.parent),
        env={**os.environ, "PYTHONPATH": REPO_ROOT},
    )
    try:
        assert writer.stdout.readline().strip() == "holding"
        at.run()  # the cached result is keyed by the file version, so the rerun must touch the file
        assert not at.exception
        assert any("busy" in warning.value for warning in at.warning), [w.value for w in at.warning]
        assert next(m.value for m in at.metric if m.label == "Complete SAEs") == before  # the last data read
        st.cache_data.clear()  # a cold cache: the reads retry, then the page says busy instead of a traceback
        at.run()
        assert not at.exception and not at.metric
        assert any("busy" in warning.value and "retried" in warning.value for warning in at.warning)
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "done"
        assert writer.wait(timeout=30) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
    at.run()
    assert not at.exception and not at.warning
    after = next(m.value for m in at.metric if m.label == "Complete SAEs")
    assert int(after) == int(before) + 1
    assert "written-while-open" in at.dataframe[0].value["name"].tolist()
