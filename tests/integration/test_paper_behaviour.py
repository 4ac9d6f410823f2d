"""The paper's λ trend (Table 1, Figure 7) on the built-in tiny configuration."""

from __future__ import annotations

import pytest

from lswap_core.config import load_config
from lswap_core.training import read_metrics, train


@pytest.mark.slow
def test_larger_latent_penalty_keeps_codes_closer_and_identity_further(tmp_path):
    finals = {}
    for weight in (1, 10, 100):
        config = load_config(
            "tiny",
            [
                f"loss.latent_penalty={weight}",
                "train.steps=40",
                "train.batch_size=4",
                "train.validate_every=40",
                "train.sample_every=40",
                "train.checkpoint_every=40",
                "train.device=cpu",
            ],
            kind="train",
        )
        train(config, tmp_path / f"lambda{weight}")
        (final,) = [r for r in read_metrics(tmp_path / f"lambda{weight}" / "metrics.jsonl") if r["split"] == "val"]
        finals[weight] = final
    ids = [finals[w]["id"] for w in (1, 10, 100)]
    penalties = [finals[w]["lp"] for w in (1, 10, 100)]
    assert ids == sorted(ids), f"L_id should grow with λ: {ids}"
    assert penalties == sorted(penalties, reverse=True), f"L_lp should shrink with λ: {penalties}"
