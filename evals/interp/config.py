"""Typed settings of auto-interpretation, read from ``conf/interp.yaml`` (``data.commands``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.commands import load_config
from data.settings import CONF_DIR

DEFAULT_PATH = CONF_DIR / "interp.yaml"


@dataclass
class ExampleConfig:
    """How many abstracts each feature gets, and for what."""

    explain_top: int = 5
    """Explanation positives taken from the very top of the ranking (top-heavy)."""
    explain_quantile: int = 5
    """Explanation positives sampled across the activation quantiles below the top."""
    explain_random_negatives: int = 3
    explain_hard_negatives: int = 3
    """Non-activating abstracts nearest (by embedding) to the explanation positives' mean."""
    score_positives: int = 10
    """Held-out activating abstracts (test split), stratified across activation quantiles."""
    min_score_positives: int = 5
    """A feature active on fewer test-split abstracts than this is not interpreted (too few to score)."""
    score_random_negatives: int = 5
    score_hard_negatives: int = 5
    quantiles: int = 5
    """Activation quantile bins the stratified samples are drawn from."""
    min_explain_positives: int = 3
    """A feature active on fewer training-split abstracts than this is not interpreted."""
    min_abstract_chars: int = 100
    """Shorter abstracts are never chosen as examples (the paper's filter)."""
    explain_sampling: str = "top"
    """'top': explain_top from the very top plus explain_quantile across the quantiles below;
    'quantiles': all explain_top + explain_quantile spread across the activation quantiles (the
    absolute top alone gives overly specific labels)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.explain_sampling not in ("top", "quantiles"):
            raise ValueError(f"examples.explain_sampling must be 'top' or 'quantiles', not {self.explain_sampling!r}")


@dataclass
class OfflineConfig:
    """The proxy path: phrase labels picked on the explanation examples, scored without an LLM."""

    max_phrase_words: int = 4
    """Content words in one candidate phrase ("of" may join them)."""
    max_phrases: int = 2
    """Phrases in one label ("weak lensing; cluster masses")."""
    min_gain: float = 0.02
    """A further phrase joins the label only if it raises the select-half AUROC by this much."""
    min_phrase_docs: int = 3
    """A candidate phrase is held by at least this many select-half positives ..."""
    min_phrase_share: float = 0.05
    """... and by at least this share of them."""
    max_word_share: float = 0.05
    """A candidate needs a word held by at most this share of the corpus (generic phrases are no concept) ..."""
    min_enrichment: float = 3.0
    """... or the positives must hold it at least this many times as often as the corpus (a broad
    feature's label may use common words, if they are its own)."""
    min_held_margin: float = 0.15
    """A candidate's words must all be in this much larger a share of the select positives than of the
    negatives (random and hard, averaged): a label names what the abstracts say, not what merely
    embeds nearby."""
    max_candidates: int = 60
    """Candidates scored under the predictor per feature: the most contrastive by how often positives
    vs negatives hold them."""
    shortlist: int = 3
    """Labels per feature (its best phrases, extended while that helps) embedded whole and re-scored."""
    phrase_bonus: float = 0.02
    """Ranking credit per content word beyond one per phrase: among near ties the longer phrase,
    which says more ("weak lensing of galaxy clusters" over "lensing"), is kept."""
    min_margin: float = 0.0
    """The label must beat the other-label baseline on the check half by more than this ..."""
    min_check_auroc: tuple[float, float] = (0.6, 0.55)
    """... and reach this AUROC against random and against hard negatives there, else the feature
    is "(no clear concept)"."""
    scorer: str = "hybrid"
    """'hybrid' (embedding cosine + term_weight x term match), 'embedding' (label vs abstract cosine,
    local MiniLM) or 'terms' (term match only)."""
    term_weight: float = 0.5
    """Weight of the term match (in [0, 1]) beside the cosine in the hybrid scorer."""
    explain_extra_positives: int = 90
    """Further active abstracts (never held out) the phrase explainer reads beyond the LLM's set."""
    explain_extra_negatives: int = 45
    """Further random and as many further hard non-activating abstracts it reads."""

    def __post_init__(self) -> None:
        if self.scorer not in ("hybrid", "embedding", "terms"):
            raise ValueError(f"offline.scorer must be 'hybrid', 'embedding' or 'terms', not {self.scorer!r}")
        if len(self.min_check_auroc) != 2:
            raise ValueError("offline.min_check_auroc needs two values: against random and against hard negatives")
        against_random, against_hard = self.min_check_auroc
        self.min_check_auroc = (float(against_random), float(against_hard))
        if not -1.0 <= self.min_held_margin <= 1.0:
            raise ValueError(
                f"offline.min_held_margin is a difference of shares, in [-1, 1]; got {self.min_held_margin}"
            )
        if self.max_phrases < 1 or self.max_phrase_words < 1 or self.shortlist < 1:
            raise ValueError("offline.max_phrases, offline.max_phrase_words and offline.shortlist must be at least 1")


@dataclass
class LLMPathConfig:
    """Models and batching of the LLM path."""

    explainer_model: str = "gpt-4o"
    predictor_model: str = "gpt-4o-mini"
    base_url: str | None = None
    """OpenAI-compatible endpoint, e.g. a local Ollama, llama.cpp or vLLM server (default:
    ``OPENAI_BASE_URL`` or api.openai.com); no API key is needed for one."""
    candidates: int = 3
    """Candidate labels the explainer writes per feature; the one scoring best on the explanation
    examples (offline proxy scorer) is kept."""
    structured_output: str = "json_schema"
    """'json_schema': ask for JSON via response_format (answers that ignore it are still parsed;
    a server that rejects it is asked again without); 'none': plain text only."""
    abstracts_per_prediction: int = 5
    """Held-out abstracts rated per predictor request (shuffled)."""
    max_concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    features_per_batch: int = 32
    """Features explained, scored and written per round (a crash loses at most one round)."""
    max_abstract_chars: int = 1500
    """Abstracts are cut to this many characters in prompts."""

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"llm.candidates must be at least 1, got {self.candidates}")
        if self.structured_output not in ("json_schema", "none"):
            raise ValueError(f"llm.structured_output must be 'json_schema' or 'none', not {self.structured_output!r}")


@dataclass
class CleanConfig:
    """The paper's "clean" (interpretable) feature: the one definition of it.

    interp stores the verdict (``interpretations.clean``, families too) when it writes the scores;
    steering, families and the dashboard read that stored flag and never re-apply thresholds.
    """

    min_pearson: float = 0.8
    """A clean label's Pearson r is at least this."""
    min_f1: float = 0.8
    """A clean label's F1 is at least this."""
    max_density: float = 0.2
    """A clean feature is active on fewer than this fraction of documents (``latents.density``)."""

    def accepts(self, pearson: Any, f1: Any, density: Any) -> Any:
        """Clean or not, for scalars or numpy arrays alike; NaN (undefined) scores are never clean."""
        with np.errstate(invalid="ignore"):
            verdict = (
                (np.asarray(pearson, dtype=np.float64) >= self.min_pearson)
                & (np.asarray(f1, dtype=np.float64) >= self.min_f1)
                & (np.asarray(density, dtype=np.float64) < self.max_density)
            )
        return bool(verdict) if verdict.ndim == 0 else verdict


@dataclass
class InterpConfig:
    """Everything auto-interpretation reads from ``conf/interp.yaml``."""

    examples: ExampleConfig = field(default_factory=ExampleConfig)
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    llm_path: LLMPathConfig = field(default_factory=LLMPathConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)


def load_interp_config(path: Path | None = None) -> InterpConfig:
    """``conf/interp.yaml`` (or ``path``); unknown keys are an error naming the file and the key."""
    return load_config(InterpConfig, path or DEFAULT_PATH)
