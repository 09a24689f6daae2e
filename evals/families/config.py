"""Typed parameters of feature-family extraction, read from ``conf/families.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data.commands import load_config
from data.settings import CONF_DIR

DEFAULT_PATH = CONF_DIR / "families.yaml"


@dataclass(frozen=True)
class FamiliesConfig:
    """How families are extracted from the co-occurrence graph of one SAE."""

    thresholds: tuple[float, ...] = (0.1, 0.07, 0.07, 0.07)
    """Edge-weight threshold of each pass (one entry per pass). Pass p > 1 leaves out every root
    found before, so children of dense hub latents can root families of their own."""
    smoothing: float = 1.0
    """Added to the denominator of the edge weight (Loevinger's H, see ``evals.cooccurrence.pair_weights``)
    so a latent seen in a handful of documents does not get weight 1 with everything it met."""
    min_latent_docs: int = 5
    """Latents active in fewer documents are left out of the graph."""
    min_root_children: int = 3
    """A family root has no parent in the oriented forest and at least this many direct children."""
    min_family_children: int = 4
    """Families with fewer descendants (children) are dropped."""
    min_cooccurrence_lift: float = 3.0
    """A family's members must fire together this many times more often than independent latents
    would (mean over member pairs of C_ij N / (C_ii C_jj)); less coherent families are dropped for
    their nested families."""
    max_family_share: float = 0.05
    """A family has at most this share of the SAE's latents as children (and never fewer allowed
    than min_family_children); larger ones are dropped for their nested families."""
    duplicate_jaccard: float = 0.6
    """A family whose children overlap a larger family's children by a Jaccard above this is dropped."""
    top_cooccurring: int = 20
    """Co-occurring partners stored per latent in the ``cooccurrence`` table."""
    clean_only: bool = False
    """Only latents with a "clean" stored label join the graph (interp's thresholds in conf/interp.yaml:
    Pearson, F1, density), as in the paper; needs `just interpret <corpus>` first."""
    family_activation: str = "max"
    """A document's family activation: ``max`` or ``sum`` of its member latents' activations."""
    random_baselines: int = 20
    """Random groupings averaged into the baseline of the block-diagonal co-occurrence ratio."""
    seed: int = 0
    """Seed of the random groupings."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        if not self.thresholds or not all(0.0 < t <= 1.0 for t in self.thresholds):
            raise ValueError(f"families config: thresholds must be one or more values in (0, 1]; got {self.thresholds}")
        if self.family_activation not in ("max", "sum"):
            raise ValueError(
                f"families config: family_activation must be 'max' or 'sum', not {self.family_activation!r}"
            )
        if not 0.0 <= self.duplicate_jaccard <= 1.0:
            raise ValueError(f"families config: duplicate_jaccard must lie in [0, 1]; got {self.duplicate_jaccard}")
        for name in ("min_latent_docs", "min_root_children", "min_family_children", "top_cooccurring"):
            if getattr(self, name) < 1:
                raise ValueError(f"families config: {name} must be at least 1; got {getattr(self, name)}")
        if not 0.0 < self.max_family_share <= 1.0 or self.min_cooccurrence_lift < 0:
            raise ValueError(
                f"families config: max_family_share must lie in (0, 1] and min_cooccurrence_lift be >= 0; "
                f"got {self.max_family_share}, {self.min_cooccurrence_lift}"
            )
        if self.smoothing < 0:
            raise ValueError(f"families config: smoothing must be >= 0; got {self.smoothing}")


def load_families_config(path: str | Path = DEFAULT_PATH, **overrides) -> FamiliesConfig:
    """The YAML file's values, then ``overrides`` that are not None, checked."""
    return load_config(FamiliesConfig, path, **overrides)
