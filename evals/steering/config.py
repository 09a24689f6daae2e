"""Typed settings of the steering benchmark; `just steer-bench` reads them from ``conf/steering.yaml``
and its flags (``evals.steering.cli.bench_parser``, through ``data.commands``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from data.settings import CONF_DIR

DEFAULT_PATH = CONF_DIR / "steering.yaml"


@dataclass
class SteeringBenchConfig:
    """What the steering benchmark runs: which queries, which (u, d) grid, which judge (the SAE: ``--sae-id``)."""

    queries_file: str | None = None
    """Text file with one query per line; None: titles of test-split documents in a seeded order."""
    n_queries: int = 50
    """Queries benchmarked (queries without a judgeable up and down feature are skipped and counted)."""
    seed: int = 0
    """Seed of the query order and of the control directions."""
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
    neighbourhood: int = 100
    """The up feature is chosen among latents active in the query's top ``neighbourhood`` documents ..."""
    up_min_docs: int = 5
    """... on at least this many of those beyond the top ``top`` (more often than its density predicts) ..."""
    up_max_in_results: int = 0
    """... and on at most this many of the top ``top`` themselves (so its arrival is visible)."""
    judge_sae_id: int | None = None
    """The independent SAE that judges which documents carry a concept; None: find or train one."""
    judge_seed: int | None = None
    """Seed of a judge SAE trained here; None: the steering SAE's seed + 1."""
    judge_max_steps: int | None = None
    """Training steps of a judge SAE trained here; None: the steering SAE's own."""
    judge_min_cos: float = 0.4
    """A latent is judgeable when the judge SAE has a latent within this decoder cosine
    (random 384-d directions: median best match 0.18, 99th percentile 0.23)."""
    paired_path: list[list[float]] = field(
        default_factory=lambda: [[0.25, -0.25], [0.5, -0.5], [1.0, -1.0], [2.5, -2.5], [5.0, -5.0]]
    )
    """(u, d) grid points forming the SAE's curve for the per-query comparison (d = -u: up and down at once)."""
    compare_cos: float = 0.8
    """Drift level of the per-query comparison when a query has no rewrite (else the rewrite's cos)."""
    alpha: float = 0.05
    """Significance level of the Wilcoxon tests behind ``sae_beats_control`` / ``sae_beats_rewrite``."""
    rewrite_model: str = "gpt-4o-mini"
    """Chat model of the LLM query rewrite (used when a key is set)."""
    judge: bool = False
    """Also run the paper's multiple-choice LLM judge (needs a key)."""
    judge_model: str = "gpt-4o"
    judge_settings: list[list[float]] = field(default_factory=lambda: [[1.0, -1.0], [2.5, -2.5]])
    """(u, d) grid points the LLM judge scores, besides every rewrite."""
    judge_abstract_chars: int = 400
    """Characters of each abstract shown to the LLM judge (after the title)."""

    def __post_init__(self) -> None:
        if self.n_queries < 1 or self.top < 1 or self.neighbourhood < self.top:
            raise ValueError(
                f"n_queries and top must be >= 1 and neighbourhood >= top, got "
                f"{self.n_queries}, {self.top}, {self.neighbourhood}"
            )
        if any(u < 0 for u in self.up_strengths):
            raise ValueError(f"up_strengths must be >= 0 (got {self.up_strengths}); use down_strengths to remove")
        grid = {(float(u), float(d)) for u in self.up_strengths for d in self.down_strengths}
        off_grid = [point for point in self.paired_path if tuple(map(float, point)) not in grid]
        if off_grid or len(self.paired_path) < 2:
            raise ValueError(
                f"paired_path needs >= 2 (u, d) points of the grid; {off_grid or self.paired_path} "
                "are not (or too few): pick them from up_strengths x down_strengths"
            )
        if not 0 < self.compare_cos < 1 or not -1 < self.judge_min_cos < 1:
            raise ValueError(
                "compare_cos must be in (0, 1) and judge_min_cos in (-1, 1), "
                f"got {self.compare_cos}, {self.judge_min_cos}"
            )
