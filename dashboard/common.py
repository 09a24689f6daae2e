"""What every page shares: the warehouse picker, the SAE picker, empty and busy states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.settings import DashboardSettings, candidate_warehouses
from data.warehouse import WarehouseBusy, WarehouseMissing, WarehouseOutdated, WarehouseUnreadable

_OTHER = "Other path…"


@dataclass(frozen=True)
class PageContext:
    """The warehouse a page reads: its path, its version (the cache key) and what it holds."""

    path: str
    version: queries.Version
    overview: queries.Overview
    settings: DashboardSettings


def sidebar_warehouse_picker() -> None:
    """Choose the warehouse: the configured one, any in the artifacts folder, or a typed path."""
    settings = DashboardSettings.from_env()
    candidates = [str(path) for path in candidate_warehouses(settings)]
    with st.sidebar:
        st.markdown("### Warehouse")
        choice = st.selectbox(
            "Corpus warehouse",
            candidates + [_OTHER],
            key="warehouse_choice",
            help="SAE_ATLAS_WAREHOUSE, or any *.duckdb in the artifacts folder",
        )
        if choice == _OTHER:
            typed = st.text_input("Path to a .duckdb warehouse", key="warehouse_path_input")
            st.session_state["warehouse"] = typed.strip() or None
        else:
            st.session_state["warehouse"] = choice
        if st.button("Reload data", help="Clear cached query results"):
            st.cache_data.clear()
            queries.sae_tables.clear()


def run_page(render: Callable[[PageContext], None]) -> None:
    """Render a page on the chosen warehouse; missing, empty or busy warehouses get a clear note."""
    path = st.session_state.get("warehouse")
    if not path:
        empty_state(
            "No warehouse found",
            "Build one, then reload this page:",
            "just data astro      # documents + embeddings\njust train astro     # SAEs, activations, latents",
            "Or set SAE_ATLAS_WAREHOUSE, or choose a path in the sidebar.",
        )
        return
    try:
        version = queries.warehouse_version(path)
        # Only a page served from the cache can miss a writer that holds the file: probe then.
        if st.session_state.get("_shown_version") == (path, version) and queries.writer_active(path):
            st.warning(
                "The warehouse is busy: another process (e.g. a training run) is writing to it. This page "
                "shows the last data read, and the new data once the writer finishes.",
                icon="⏳",
            )
        overview = queries.overview(path, version)
        if not overview.is_warehouse:
            empty_state(f"{path} is not an SAE Atlas warehouse yet", "Create it with:", "just data astro")
            return
        render(PageContext(path, version, overview, DashboardSettings.from_env()))
        st.session_state["_shown_version"] = (path, version)
    except WarehouseMissing:
        empty_state(
            f"No warehouse at {path}",
            "Build it with:",
            "just data astro      # documents + embeddings\njust train astro     # SAEs, activations, latents",
        )
    except WarehouseOutdated as error:
        empty_state(
            "This warehouse was written by an older SAE Atlas",
            str(error),
            f"python -m data migrate <corpus> --warehouse {path}",
        )
    except WarehouseBusy:
        st.warning(
            f"The warehouse is busy: another process (e.g. a training run) is writing to {path}. "
            "The page retried for a moment; it shows the new data once the writer finishes.",
            icon="⏳",
        )
        st.button("Retry now", key="busy_retry")
    except WarehouseUnreadable as error:
        st.error(str(error))
    except duckdb.Error as error:
        st.error(f"Could not read {path}: {error}")


def empty_state(title: str, lead: str, commands: str, note: str = "") -> None:
    st.info(f"**{title}**. {lead}", icon="ℹ️")
    st.code(commands, language="bash")
    if note:
        st.caption(note)


def sae_picker(ctx: PageContext, populated_only: bool = True) -> pd.Series | None:
    """A select box over the SAEs (those with latents unless ``populated_only`` is False); remembered across pages."""
    runs = queries.runs(ctx.path, ctx.version)
    if populated_only:
        runs = runs[runs["has_latents"]]
    if runs.empty:
        empty_state("No trained SAE with latents yet", "Train one:", "just train astro")
        return None
    ids = [int(x) for x in runs["sae_id"]]
    wanted = int_param("sae", st.session_state.get("sae_id"))
    if wanted not in ids:
        # The default SAE of every command (data.saes.default_sae_id); the first listed if it is not shown here.
        fallback = ctx.overview.default_sae_id if ctx.overview.default_sae_id in ids else ids[0]
        raw = st.query_params.get("sae")
        if raw is not None:  # a bad deep link is named, and the URL corrected, instead of silently replaced
            st.warning(f"`sae={raw[:40]}` names no SAE with stored features here; showing SAE #{fallback}.", icon="⚠️")
            st.query_params["sae"] = str(fallback)
        wanted = fallback
    names = {
        int(row.sae_id): f"#{row.sae_id} · {row.name} · n={row.n_latents:,} k={row.k}" for row in runs.itertuples()
    }
    st.session_state["sae_select"] = wanted
    chosen = st.selectbox(
        "SAE",
        ids,
        format_func=names.__getitem__,
        key="sae_select",
        on_change=remember,
        args=("sae", "sae_id", "sae_select"),
    )
    st.session_state["sae_id"] = chosen
    return runs[runs["sae_id"] == chosen].iloc[0]


def remember(param: str, state_key: str, widget_key: str) -> None:
    """Keep a widget's value across pages (session state) and in the URL (a shareable deep link)."""
    value = st.session_state[widget_key]
    st.session_state[state_key] = value
    st.query_params[param] = str(value)


def int_param(name: str, fallback):
    """An integer query parameter (a deep link), else ``fallback``."""
    value = st.query_params.get(name)
    try:
        return int(value) if value is not None else fallback
    except ValueError:
        return fallback


def open_feature(sae_id: int, latent: int) -> None:
    """Jump to the feature page of ``latent``."""
    st.session_state["sae_id"] = int(sae_id)
    st.session_state["latent"] = int(latent)
    st.switch_page("views/feature.py", query_params={"sae": str(sae_id), "latent": str(latent)})
