"""Typed parameters of `just trends` (command-line flags override the defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrendsConfig:
    """Which months count, how big the effect-size periods are, and what is called significant."""

    min_docs_per_month: int = 100
    """A month with fewer documents is left out of the test and the effect size (its share would be
    noise: 3 documents make a feature's share jump between 0 and a third); charts show it as a gap."""
    max_composition_shift: float = 0.25
    """A month in which the share of documents listing some category differs from the median month's share by
    more than this is left out: the corpus was collected differently then (in the shared astro data, April to
    June 2025 are 98 percent astro-ph.GA against about 52 percent later), and every feature of the other
    categories would otherwise "rise" when the collection widened. 1.0 turns the check off; corpora without
    categories skip it."""
    window: int = 6
    """Effect size = share in the last ``window`` eligible months / share in the ``window`` before."""
    min_active: int = 20
    """Features active in fewer documents (of the eligible months) are not tested ('too_rare')."""
    alpha: float = 0.05
    """False-discovery rate (Benjamini-Hochberg) below which a trend is called rising or falling."""
    top: int = 10
    """Rising and falling features listed by the command."""
    examples: int = 2
    """Example abstracts listed per top feature."""

    def __post_init__(self) -> None:
        for name in ("min_docs_per_month", "window", "min_active", "top"):
            if getattr(self, name) < 1:
                raise ValueError(f"trends: {name} must be at least 1; got {getattr(self, name)}")
        if not 0 < self.max_composition_shift <= 1:
            raise ValueError(f"trends: max_composition_shift must lie in (0, 1]; got {self.max_composition_shift}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"trends: alpha must lie in (0, 1); got {self.alpha}")
