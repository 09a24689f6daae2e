"""One rule picks the SAE that commands and the dashboard use when none is named (data.saes.default_sae_id).

The SAEs here are built so that the largest, the newest and the highest id are three different
SAEs: a rule that drifted to "newest" or "highest id" anywhere fails.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from data.saes import SaeStatus, default_sae_id
from data.warehouse import open_reader, open_writer, transaction
from evals.saes import UnknownSAE, pick_sae
from tests.dashboard_support import fresh_streamlit_caches, open_app  # noqa: F401 (fixture)

LARGEST, NEWEST, HIGHEST_ID = 1, 2, 3
# (sae_id, corpus, n_latents, status, created_at, with latents rows)
SAES = [
    (LARGEST, "astro", 3072, SaeStatus.COMPLETE, dt.datetime(2026, 1, 1), True),
    (NEWEST, "astro", 768, SaeStatus.COMPLETE, dt.datetime(2026, 3, 1), True),
    (HIGHEST_ID, "astro", 1536, SaeStatus.COMPLETE, dt.datetime(2026, 2, 1), True),
    (4, "astro", 9216, SaeStatus.TRAINING, dt.datetime(2026, 4, 1), False),  # unfinished: never a default
    (5, "astro", 12288, SaeStatus.COMPLETE, dt.datetime(2026, 4, 2), False),  # a metrics-only record
    (6, "cslg", 512, SaeStatus.COMPLETE, dt.datetime(2026, 5, 1), True),  # newest and highest of all
]


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "astro.duckdb"
    with open_writer(path) as con, transaction(con):
        for sae_id, corpus, n, status, created, with_latents in SAES:
            con.execute(
                "INSERT INTO saes (sae_id, name, corpus, embed_model, d, n_latents, k, k_aux, config, metrics, status, "
                "created_at) VALUES (?, ?, ?, 'm', 8, ?, 4, 8, '{}', '{}', ?, ?)",
                [sae_id, f"sae-{sae_id}", corpus, n, status.value, created],
            )
            if with_latents:
                con.execute(
                    "INSERT INTO latents (sae_id, latent, density, mean_act, max_act, enc_dec_cos) "
                    "SELECT ?, range, 0.01, 1, 1, 0.5 FROM range(?)",
                    [sae_id, n],
                )
        # HIGHEST_ID really is the highest id among the complete astro SAEs with latents.
    with open_reader(path) as con:
        newest, top = con.execute(
            "SELECT arg_max(sae_id, created_at), max(sae_id) FROM complete_saes "
            "WHERE corpus = 'astro' AND sae_id IN (SELECT sae_id FROM latents)"
        ).fetchall()[0]
    assert (newest, top) == (NEWEST, HIGHEST_ID)
    return path


def test_the_default_is_the_largest_complete_sae_of_the_corpus(warehouse):
    with open_reader(warehouse) as con:
        assert default_sae_id(con, "astro") == LARGEST
        assert default_sae_id(con, "cslg") == 6
        assert default_sae_id(con) == LARGEST  # the whole warehouse (what the dashboard opens)
        assert default_sae_id(con, "nowhere") is None
        assert pick_sae(con, "astro", None).sae_id == LARGEST  # every eval command resolves --sae-id this way
        assert pick_sae(con, "astro", NEWEST).sae_id == NEWEST  # a named SAE wins
        with pytest.raises(UnknownSAE, match="no complete SAE of corpus 'nowhere'"):
            pick_sae(con, "nowhere", None)


def test_ties_go_to_the_newest_then_the_highest_id(warehouse):
    with open_writer(warehouse) as con:
        con.execute("UPDATE saes SET n_latents = 3072 WHERE sae_id IN (?, ?)", [NEWEST, HIGHEST_ID])
    with open_reader(warehouse) as con:
        assert default_sae_id(con, "astro") == NEWEST
    with open_writer(warehouse) as con:
        con.execute(
            "UPDATE saes SET created_at = ? WHERE sae_id IN (?, ?, ?)",
            [dt.datetime(2026, 1, 1), LARGEST, NEWEST, HIGHEST_ID],
        )
    with open_reader(warehouse) as con:
        assert default_sae_id(con, "astro") == HIGHEST_ID


def test_the_dashboard_opens_the_default_sae(monkeypatch, warehouse):
    at = open_app(monkeypatch, warehouse, "views/features.py")
    assert at.selectbox(key="sae_select").value == LARGEST


def test_an_atlas_sae_comes_before_the_recommended_and_the_largest(warehouse):
    """The sparse SAE trained to be read (`just atlas`) is what commands and pages open, once there is one."""
    with open_writer(warehouse) as con:
        con.execute(
            "INSERT INTO eval_summaries (sae_id, eval, summary, created_at) VALUES (?, 'sweep', ?, now())",
            [NEWEST, json.dumps({"recommended": True})],
        )
    with open_reader(warehouse) as con:
        assert default_sae_id(con, "astro") == NEWEST  # the sweep's recommendation beats the largest
    with open_writer(warehouse) as con:
        con.execute("UPDATE saes SET config = ? WHERE sae_id = ?", [json.dumps({"purpose": "atlas"}), HIGHEST_ID])
        con.execute("UPDATE saes SET config = ? WHERE sae_id = 6", [json.dumps({"purpose": "atlas"})])
    with open_reader(warehouse) as con:
        assert default_sae_id(con, "astro") == HIGHEST_ID
        assert default_sae_id(con, "cslg") == 6
        assert pick_sae(con, "astro", None).sae_id == HIGHEST_ID
        assert pick_sae(con, "astro", LARGEST).sae_id == LARGEST  # a named SAE still wins
