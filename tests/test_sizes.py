"""The size rule: `just train <corpus>` picks n_latents and k from the data unless they are given."""

from __future__ import annotations

import pytest

from trainer.api import cli_args
from trainer.cli import AtlasCLI
from trainer.sizes import SaeSize, default_size


def test_rule_scales_with_documents_and_width_within_bounds():
    assert default_size(11_000, 384) == default_size(11_300, 384)
    small, large = default_size(10_000, 384), default_size(400_000, 384)
    assert small.n_latents < large.n_latents <= 8 * 384
    assert default_size(400_000, 1536).n_latents > large.n_latents  # the cap grows with d
    assert default_size(100, 384).n_latents >= 256  # never a toy dictionary
    for size in (small, large, default_size(50_000, 1536)):
        assert size.k <= size.n_latents // 4
    assert default_size(100_000, 1536).k > default_size(100_000, 384).k  # wider embeddings carry more per document


def test_explicit_values_are_kept_and_the_rule_fills_the_rest():
    assert default_size(11_000, 384, n_latents=3000, k=7) == SaeSize(3000, 7)
    assert default_size(11_000, 384, n_latents=64).k <= 16
    assert default_size(11_000, 384, k=5).n_latents == default_size(11_000, 384).n_latents
    with pytest.raises(ValueError, match="training documents"):
        default_size(0, 384)


def test_train_command_applies_the_rule_only_where_nothing_was_given(astro_warehouse):
    quiet = {"enable_progress_bar": False, "logger": False}
    by_rule = AtlasCLI(args=cli_args(astro_warehouse, "astro", **quiet))
    by_rule.datamodule.setup()
    planned = by_rule.datamodule.planned_train_size()
    assert planned == by_rule.datamodule.train_size
    expected = default_size(planned, 384)
    assert (by_rule.model.sae.n_latents, by_rule.model.sae.k) == (expected.n_latents, expected.k)
    assert by_rule.run_config()["model"]["n_latents"] == expected.n_latents  # the stored config says what ran

    explicit = AtlasCLI(args=cli_args(astro_warehouse, "astro", n_latents=96, k=4, **quiet))
    assert (explicit.model.sae.n_latents, explicit.model.sae.k) == (96, 4)
    only_k = AtlasCLI(args=cli_args(astro_warehouse, "astro", k=3, **quiet))
    assert (only_k.model.sae.n_latents, only_k.model.sae.k) == (expected.n_latents, 3)


def test_the_atlas_rule_is_sparser_and_explicit_values_still_win():
    plain, atlas = default_size(11_300, 384), default_size(11_300, 384, purpose="atlas")
    assert atlas == SaeSize(2 * plain.n_latents, plain.k // 4)  # shared astro data: 512 x 16 against 256 x 64
    assert atlas.k / atlas.n_latents < plain.k / plain.n_latents / 4  # each feature fires far less often
    assert default_size(11_300, 384, n_latents=300, k=9, purpose="atlas") == SaeSize(300, 9)
    with pytest.raises(ValueError, match="unknown purpose 'reading'"):
        default_size(11_300, 384, purpose="reading")


def test_train_command_records_the_purpose_in_the_config_and_the_name(astro_warehouse):
    quiet = {"enable_progress_bar": False, "logger": False}
    atlas = AtlasCLI(args=cli_args(astro_warehouse, "astro", purpose="atlas", **quiet))
    atlas.datamodule.setup()
    expected = default_size(atlas.datamodule.planned_train_size(), 384, purpose="atlas")
    assert (atlas.model.sae.n_latents, atlas.model.sae.k) == (expected.n_latents, expected.k)
    assert atlas.run_config()["purpose"] == "atlas"
    plain = AtlasCLI(args=cli_args(astro_warehouse, "astro", **quiet))
    plain.datamodule.setup()
    assert plain.run_config()["purpose"] == "reconstruction"
    with pytest.raises(ValueError, match="--purpose 'reading' is not one of reconstruction, atlas"):
        AtlasCLI(args=cli_args(astro_warehouse, "astro", purpose="reading", **quiet))
