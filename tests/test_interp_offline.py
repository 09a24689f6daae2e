"""Offline keyword explainer and proxy calibration."""
from __future__ import annotations

import numpy as np

from evals.interp.examples import ROLE_CODE
from evals.interp.keywords import TfidfIndex, explain_offline, terms_of
from evals.interp.proxy import calibrated_ratings

FILLER = ["stellar population survey", "galaxy survey catalogue", "dust emission survey", "radio survey of galaxies"]


def test_terms_skip_stopwords_numbers_latex_and_cross_sentence_bigrams():
    terms = terms_of("The dark matter halo. Halo mass of 10 $\\mathrm{M}$ in 2024")
    assert "dark matter" in terms and "matter halo" in terms and "halo mass" in terms
    assert "halo halo" not in terms  # the sentence break stops the bigram
    assert not {"the", "10", "2024", "mathrm", "of"} & set(terms)


def test_contrastive_keywords_name_what_positives_share_and_negatives_lack():
    positives = [f"Exoplanet transit photometry of hot jupiters {i}: a survey" for i in range(6)]
    hard_negatives = [f"Exoplanet radial velocity survey {i}" for i in range(4)]
    texts = positives + hard_negatives + FILLER * 3
    index = TfidfIndex.build(texts, min_df=2)
    labels = explain_offline(index, [np.arange(6)], [np.arange(6, 10)], label_terms=3)
    assert len(labels[0]) == 3
    assert "exoplanet" not in labels[0] and "survey" not in labels[0]  # shared with the negatives
    assert "hot jupiters" in labels[0] and "transit photometry" in labels[0]  # bigrams beat their unigrams


def test_calibration_uses_only_explanation_examples():
    # latent 0: explanation positives at similarity 0.8, negatives at 0.2 -> zero point 0.5.
    latent = np.zeros(6, dtype=np.int64)
    role = np.array([ROLE_CODE[r] for r in
                     ("explain_pos", "explain_pos", "explain_neg_hard", "explain_neg_random", "score_pos", "score_neg_hard")])
    similarity = np.array([0.8, 0.8, 0.2, 0.2, 0.55, 0.45])
    ratings = calibrated_ratings(similarity, latent, role)
    assert ratings[4] > 0 > ratings[5]
    assert abs(ratings[0] - np.tanh(1)) < 1e-9
    moved = similarity.copy()
    moved[4] = 0.1  # changing a held-out similarity leaves every other rating alone
    assert np.allclose(calibrated_ratings(moved, latent, role)[[0, 1, 2, 3, 5]], ratings[[0, 1, 2, 3, 5]])


def test_config_file_errors_name_the_file_and_key(tmp_path):
    import pytest

    from evals.interp.config import load_interp_config

    assert load_interp_config().llm_path.explainer_model == "gpt-4o"  # the shipped conf/interp.yaml
    bad = tmp_path / "interp.yaml"
    bad.write_text("offline:\n  scorer: embedding\n  labl_terms: 3\n")
    with pytest.raises(ValueError, match=r"interp.yaml.*labl_terms"):
        load_interp_config(bad)
    bad.write_text("offlin: {}\n")
    with pytest.raises(ValueError, match="unknown key.*'offlin'"):
        load_interp_config(bad)
