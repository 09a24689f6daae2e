"""The steerable search of one SAE and query embeddings, cached across reruns (Search & steer, Inspect)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.queries import Version


@st.cache_resource(show_spinner="Loading the SAE and the corpus embeddings…", max_entries=2)
def steerable_search(path: str, version: Version, sae_id: int):
    """The search object (embeddings + SAE in memory; no connection kept) for one SAE of one file version."""
    from evals.steering.search import SteerableSearch

    return SteerableSearch(path, sae_id)


@st.cache_data(show_spinner="Embedding the text with the corpus's model…", max_entries=64)
def query_vector(path: str, version: Version, sae_id: int, text: str) -> np.ndarray:
    """``text`` embedded by the corpus's own model (offline for the local backend)."""
    return steerable_search(path, version, sae_id).embed(text)
