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
    seed: int = 0


@dataclass
class OfflineConfig:
    """The proxy path: contrastive keywords, scored by embedding similarity or term matching."""

    label_terms: int = 4
    """Terms in a keyword label."""
    min_term_docs: int = 2
    """A label term must occur in at least this many explanation positives."""
    scorer: str = "embedding"
    """'embedding' (label vs abstract cosine, local MiniLM) or 'terms' (TF-IDF term match)."""
    explain_extra_positives: int = 20
    """Further active abstracts (never held out) the keyword explainer may read beyond the LLM's set."""

    def __post_init__(self) -> None:
        if self.scorer not in ("embedding", "terms"):
            raise ValueError(f"offline.scorer must be 'embedding' or 'terms', not {self.scorer!r}")


@dataclass
class LLMPathConfig:
    """Models and batching of the LLM path."""

    explainer_model: str = "gpt-4o"
    predictor_model: str = "gpt-4o-mini"
    abstracts_per_prediction: int = 5
    """Held-out abstracts rated per predictor request (shuffled)."""
    max_concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    features_per_batch: int = 32
    """Features explained, scored and written per round (a crash loses at most one round)."""
    max_abstract_chars: int = 1500
    """Abstracts are cut to this many characters in prompts."""


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
            verdict = ((np.asarray(pearson, dtype=np.float64) >= self.min_pearson)
                       & (np.asarray(f1, dtype=np.float64) >= self.min_f1)
                       & (np.asarray(density, dtype=np.float64) < self.max_density))
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
