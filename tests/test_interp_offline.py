"""Offline phrase explainer, term matching and proxy calibration."""

from __future__ import annotations

import numpy as np

from evals.interp.config import OfflineConfig
from evals.interp.examples import ROLE_CODE
from evals.interp.phrase_labels import NO_CONCEPT, ExplanationDocs, duplicate_of, explain_phrases
from evals.interp.phrases import PhraseIndex, content_words, phrases_of
from evals.interp.proxy import LabelScorer, calibrated_ratings


def test_phrases_stay_inside_sentences_and_skip_stopwords_numbers_latex():
    found = phrases_of("The dark matter halo. Halo mass of 10 $\\mathrm{M}$ in 2024; weak lensing of galaxy clusters")
    assert {
        "dark matter halo",
        "dark matter",
        "halo mass",
        "weak lensing of galaxy clusters",
        "galaxy clusters",
    } <= found
    assert "halo halo" not in found  # the sentence break stops the phrase
    assert not {"the", "10", "2024", "mathrm", "of", "weak lensing of"} & found  # "of" only joins content words
    assert content_words("Galaxies and lenses, discs") == ["galaxy", "lens", "disc"]


def _explanation(n_pos: int, n_neg: int) -> ExplanationDocs:
    return ExplanationDocs(
        np.arange(n_pos), np.arange(n_pos, n_pos + n_neg), np.arange(n_pos + n_neg, n_pos + 2 * n_neg)
    )


def test_the_phrase_that_separates_positives_from_hard_negatives_is_kept():
    positives = [f"Transit photometry of hot jupiters {i}. An exoplanet survey." for i in range(12)]
    random_negatives = [f"Radio survey of galaxies {i}. Dust emission." for i in range(6)]
    hard_negatives = [f"Exoplanet radial velocity survey {i}. Stellar activity." for i in range(6)]
    unrelated = [f"Stellar population catalogue {i}" for i in range(60)]
    texts = positives + random_negatives + hard_negatives + unrelated
    index = PhraseIndex.build(texts, min_docs=2)
    config = OfflineConfig(scorer="terms", max_word_share=0.2, min_check_auroc=(0.6, 0.6))
    scorer = LabelScorer("terms", None, index)
    [label] = explain_phrases(index, [_explanation(12, 6)], config, scorer, np.random.default_rng(0))
    assert label.named and any(word in label.label for word in ("jupiter", "transit", "photometry"))
    assert "exoplanet" not in label.label and "survey" not in label.label  # shared with the negatives
    assert label.check[1] > 0.9  # separates positives from the hard negatives on the check half


def test_a_feature_without_a_shared_phrase_is_no_clear_concept():
    rng = np.random.default_rng(1)
    words = [f"word{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words, 12)) + "." for _ in range(120)]
    index = PhraseIndex.build(texts, min_docs=2)
    config = OfflineConfig(scorer="terms", max_word_share=0.5)
    labels = explain_phrases(
        index,
        [_explanation(20, 10), ExplanationDocs(np.arange(40, 60), np.arange(60, 70), np.arange(70, 80))],
        config,
        LabelScorer("terms", None, index),
        np.random.default_rng(0),
    )
    assert [label.label for label in labels] == [NO_CONCEPT, NO_CONCEPT]  # random text: nothing beats the baseline


def test_near_duplicate_labels_point_at_the_best_scored_feature():
    flagged = duplicate_of(
        [1, 2, 3, 4], ["weak lensing", "Lensing, weak", "galaxy clusters", NO_CONCEPT], [0.6, 0.8, 0.7, float("nan")]
    )
    assert flagged == {1: 2}


def test_term_match_reads_the_label_words_in_each_abstract():
    index = PhraseIndex.build(
        ["weak lensing of clusters", "strong lensing", "galaxy clusters", "nothing here"], min_docs=1
    )
    weights = index.label_weights(["weak lensing"])
    match = index.term_match(weights, np.zeros(4, dtype=np.int64), np.arange(4))
    assert match[0] == 1.0 and 0 < match[1] < 1 and match[2] == 0 and match[3] == 0


def test_calibration_uses_only_explanation_examples():
    # latent 0: explanation positives at similarity 0.8, negatives at 0.2 -> zero point 0.5.
    latent = np.zeros(6, dtype=np.int64)
    role = np.array(
        [
            ROLE_CODE[r]
            for r in (
                "explain_pos",
                "explain_pos",
                "explain_neg_hard",
                "explain_neg_random",
                "score_pos",
                "score_neg_hard",
            )
        ]
    )
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
    bad.write_text("offline:\n  scorer: embedding\n  max_phrase: 3\n")
    with pytest.raises(ValueError, match=r"interp.yaml.*max_phrase"):
        load_interp_config(bad)
    bad.write_text("offlin: {}\n")
    with pytest.raises(ValueError, match="unknown key.*'offlin'"):
        load_interp_config(bad)


def test_candidate_labels_are_read_from_json_final_lines_or_lists_and_generic_ones_filtered():
    from evals.interp.prompts import filtered_label, parse_candidates

    assert parse_candidates(
        'Sure!\n```json\n{"reasoning": "r", "candidates": ["**Weak lensing**", "cluster masses"]}\n```'
    ) == ["Weak lensing", "cluster masses"]
    assert parse_candidates("Step 1 ...\nFINAL: weak lensing\nfinal: cluster masses") == [
        "weak lensing",
        "cluster masses",
    ]
    assert parse_candidates("Candidates:\n1. weak lensing\n- cosmic shear") == ["weak lensing", "cosmic shear"]
    assert parse_candidates('{"candidates": "not a list"} and nothing else') == []
    assert filtered_label("Weak lensing in astrophysics") == "Weak lensing"
    assert [filtered_label(x) for x in ("Topic: galaxies", "presence of dust", "keywords about 'x'")] == [None] * 3


def test_a_phrase_few_positives_hold_is_no_label_however_well_it_ranks():
    """min_held_margin: a label names what the abstracts say; 3 of 30 positives (10 points) is not enough."""
    positives = [f"Spectra of object {i}. Quasar outflows." if i < 6 else f"Spectra of object {i}." for i in range(60)]
    negatives = [f"Radio survey of galaxies {i}. Dust emission." for i in range(20)]
    texts = positives + negatives + [f"Stellar population catalogue {i}" for i in range(60)]
    index = PhraseIndex.build(texts, min_docs=2)
    docs = ExplanationDocs(np.arange(60), np.arange(60, 70), np.arange(70, 80))  # select half: 30 positives, 3 hold it
    strict = OfflineConfig(scorer="terms", max_word_share=0.2, min_check_auroc=(0.5, 0.5))
    [rejected] = explain_phrases(index, [docs], strict, LabelScorer("terms", None, index), np.random.default_rng(0))
    assert rejected.label == NO_CONCEPT and rejected.candidate is None
    lenient = OfflineConfig(scorer="terms", max_word_share=0.2, min_check_auroc=(0.5, 0.5), min_held_margin=0.05)
    [named] = explain_phrases(index, [docs], lenient, LabelScorer("terms", None, index), np.random.default_rng(0))
    assert named.candidate is not None and "quasar" in named.candidate
