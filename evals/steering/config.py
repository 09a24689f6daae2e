"""Typed settings of the steering benchmark, read from ``conf/steering.yaml`` (``data.commands``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data.commands import load_config
from data.settings import CONF_DIR

DEFAULT_PATH = CONF_DIR / "steering.yaml"


@dataclass
class SteeringBenchConfig:
    """What the steering benchmark runs: which queries, which (u, d) grid (the SAE: ``--sae-id``)."""

    queries_file: str | None = None
    """Text file with one query per line; None: titles of a seeded sample of corpus documents."""
    n_queries: int = 50
    """Queries taken (the first lines of the file, or sampled titles)."""
    seed: int = 0
    """Seed of the title sample and of the up-feature choice."""
    top: int = 10
    """Results per search (the metrics are over this top)."""
    up_strengths: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
    """u values of the grid (decoder-addition strength of the up feature)."""
    down_strengths: list[float] = field(default_factory=lambda: [0.0, -0.25, -0.5, -1.0, -2.5, -5.0])
    """d values of the grid (the paper's sign: d <= 0 removes the down feature)."""
    min_density: float = 0.0005
    """Features active on fewer documents than this fraction are never chosen."""
    max_density: float = 0.2
    """Features active on more documents than this fraction are never chosen (paper's clean cut)."""
    up_pool: int = 50
    """The up feature is drawn from this many best-scored labelled candidates."""
    rewrite_model: str = "gpt-4o-mini"
    """Chat model of the LLM query rewrite (used when a key is set)."""
    judge: bool = False
    """Run the paper's multiple-choice LLM judge (needs a key)."""
    judge_model: str = "gpt-4o"
    judge_settings: list[list[float]] = field(default_factory=lambda: [[1.0, -1.0], [2.5, -2.5]])
    """(u, d) grid points the judge scores, besides every rewrite."""
    judge_abstract_chars: int = 400
    """Characters of each abstract shown to the judge (after the title)."""

    def __post_init__(self) -> None:
        if self.n_queries < 1 or self.top < 1:
            raise ValueError(f"n_queries and top must be >= 1, got {self.n_queries} and {self.top}")
        if any(u < 0 for u in self.up_strengths):
            raise ValueError(f"up_strengths must be >= 0 (got {self.up_strengths}); use down_strengths to remove")


def load_steering_config(path: Path | None = None, **overrides) -> SteeringBenchConfig:
    """``conf/steering.yaml`` (or ``path``; unknown keys are an error naming them), then ``overrides`` not None."""
    return load_config(SteeringBenchConfig, path or DEFAULT_PATH, **overrides)
