"""`just families astro` on three trained SAEs of the real astro corpus (trainer's fixture)."""

from __future__ import annotations

import json
import re

import numpy as np

from data.warehouse import open_reader
from evals.cooccurrence import cooccurrence_counts
from evals.families.__main__ import main as families_main


def test_families_of_the_largest_trained_sae(trained_astro_copy, capsys, monkeypatch):
    path, sae_ids = trained_astro_copy
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # The largest (the default "every complete SAE" is covered on the word SAE, with the same code).
    assert families_main(["astro", "--warehouse", str(path), "--sae-id", str(sae_ids[-1])]) == 0
    table, progress = capsys.readouterr()
    print(table)  # for `pytest -s`
    assert re.search(r"labelling families .* (\d+)/\1 [\d.]+ families/s", progress), progress[-500:]
    with open_reader(path) as con:
        summaries = {
            sae_id: json.loads(text)
            for sae_id, text in con.execute(
                "SELECT sae_id, summary FROM eval_summaries WHERE eval = 'families'"
            ).fetchall()
        }
        assert set(summaries) == {sae_ids[-1]}
        for sae_id in summaries:
            summary = summaries[sae_id]
            print(sae_id, json.dumps({k: v for k, v in summary.items() if k != "config"}))
            stored = con.execute("SELECT count(*) FROM families WHERE sae_id = ?", [sae_id]).fetchall()[0][0]
            assert summary["size_distribution"]["families"] == stored
            members = con.execute("SELECT count(*) FROM family_members WHERE sae_id = ?", [sae_id]).fetchall()[0][0]
            children = con.execute(
                "SELECT coalesce(sum(n_children + 1), 0) FROM families WHERE sae_id = ?", [sae_id]
            ).fetchall()[0][0]
            assert members == children
        # The largest SAE has families, and they group co-occurring latents better than chance.
        largest = summaries[sae_ids[-1]]
        assert largest["size_distribution"]["families"] > 0
        assert largest["block_diagonal"]["lift"] > 1
        # Every family root is denser than each of its direct children (edges point to sparser latents).
        counts = cooccurrence_counts(con, sae_ids[-1])
        density = counts.diagonal()
        edges = np.array(
            con.execute(
                "SELECT parent_latent, latent FROM family_members WHERE sae_id = ? AND parent_latent IS NOT NULL",
                [sae_ids[-1]],
            ).fetchall()
        )
        assert np.all(density[edges[:, 0]] >= density[edges[:, 1]])
        # Feature-page partners: counts agree with the matrix.
        partners = con.execute(
            "SELECT latent, other, count FROM cooccurrence WHERE sae_id = ? LIMIT 200", [sae_ids[-1]]
        ).fetchall()
        assert partners and all(counts[a, b] == n for a, b, n in partners)
