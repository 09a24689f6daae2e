"""Fixtures of the dashboard tests: a warehouse with real astro documents and synthetic SAE content."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.bench.synthetic import SyntheticSpec, build_synthetic

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
APP = str(Path(REPO_ROOT) / "dashboard" / "app.py")

# Small enough to build in about a second on top of the 12,623 real astro documents.
SMALL_SPEC = SyntheticSpec(sizes=(256, 768), k=16, grid_k=(16, 32, 64), grid_n=(768, 1536, 3072), d_model=384,
                           n_topics=40, n_families=25, embed_model="all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def dashboard_warehouse(astro_warehouse_template, tmp_path_factory) -> tuple[Path, list[int]]:
    """The real astro documents plus two populated synthetic SAEs (n 256 and 768) and a k x n sweep; read-only."""
    path = tmp_path_factory.mktemp("dashboard") / "astro.duckdb"
    shutil.copy(astro_warehouse_template, path)
    return path, build_synthetic(path, SMALL_SPEC)


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    """st.cache_data / st.cache_resource survive between AppTest instances in one process."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def sql(path, query, params=()) -> list[tuple]:
    """Ask the warehouse directly, to compare with what a page shows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def open_app(monkeypatch, path, page: str | None = None, timeout: float = 60, **state) -> AppTest:
    """Run the app on ``path`` (optionally switching to ``page``) and fail on any exception element."""
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
