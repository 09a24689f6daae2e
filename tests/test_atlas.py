"""`just atlas <corpus>`: the sparse atlas SAE trained, labelled, grouped and carded in one command."""

from __future__ import annotations

import json

import pytest

from data.saes import default_sae_id
from data.warehouse import open_reader
from evals.atlas import main


def test_atlas_trains_a_sparse_sae_labels_groups_and_cards_it_and_makes_it_the_default(trained_astro_copy, capsys):
    path = trained_astro_copy.path
    code = main(["astro", "--warehouse", str(path), "--llm", "no", "--trainer.max_steps", "100"])
    printed, progress = capsys.readouterr()
    assert code == 0, progress
    with open_reader(path) as con:
        [(sae_id, name, n, k, config)] = con.execute(
            "SELECT sae_id, name, n_latents, k, config FROM saes WHERE sae_id NOT IN (SELECT unnest(?::INTEGER[]))",
            [trained_astro_copy.sae_ids],
        ).fetchall()
        assert (name, n, k) == ("astro-atlas-batchtopk-n512-k16", 512, 16)  # the atlas size rule on this corpus
        assert json.loads(config)["purpose"] == "atlas"
        # the atlas beats the three larger SAEs already there: it is what every command and page opens
        assert default_sae_id(con, "astro") == sae_id
        labelled = con.execute(
            "SELECT count(*) FROM interpretations WHERE sae_id = ? AND explainer = 'offline-phrases'", [sae_id]
        ).fetchall()[0][0]
        families = con.execute("SELECT count(*) FROM families WHERE sae_id = ?", [sae_id]).fetchall()[0][0]
        card = con.execute(
            "SELECT summary FROM eval_summaries WHERE sae_id = ? AND eval = 'report'", [sae_id]
        ).fetchall()
        others = con.execute("SELECT count(*) FROM interpretations WHERE sae_id <> ?", [sae_id]).fetchall()[0][0]
    assert labelled == 512 and families > 0 and others == 0  # only the atlas was labelled
    assert json.loads(card[0][0])["test_fvu"] > 0
    for step, what in enumerate(("train", "interpret", "families", "report"), start=1):
        assert f"atlas astro: step {step} of 4, {what}" in progress
    assert f"SAE {sae_id} complete: astro-atlas-batchtopk-n512-k16" in printed
    assert "just atlas" not in printed  # the atlas's own summary does not suggest training another
    assert "Quality card: SAE" in printed and f"SAE {sae_id} is the atlas" in progress
    assert "Tip:" not in printed + progress  # Lightning's advertisement stays silent


def test_a_bad_training_option_stops_before_anything_is_stored(trained_astro_copy, capsys):
    path = trained_astro_copy.path
    with open_reader(path) as con:
        before = con.execute("SELECT count(*) FROM saes").fetchall()[0][0]
    with pytest.raises(SystemExit) as stopped:  # the trainer's parser refuses it, as `just train` does
        main(["astro", "--warehouse", str(path), "--model.k", "many"])
    assert stopped.value.code == 2
    assert "model.k" in capsys.readouterr().err
    with open_reader(path) as con:
        assert con.execute("SELECT count(*) FROM saes").fetchall()[0][0] == before


def test_atlas_refuses_another_purpose(trained_astro_copy, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["astro", "--warehouse", str(trained_astro_copy.path), "--purpose", "reconstruction"])
    assert stopped.value.code == 2 and "always trains with --purpose atlas" in capsys.readouterr().err
