"""Importing the official LatentSwap mixer checkpoint.

Official behaviour comes from ``tests/fixtures/latentswap_mixer.safetensors``
(model/latent_mixer.py LatentMixerSep, W+) and ``latentswap_mixer_w.safetensors``
(the shared nn.Sequential of latentswap_pl.py, Z/W), recorded from
usingcolor/LatentSwap (see ``tests/fixtures/README.md``).
"""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from lswap_core.cli import app
from lswap_core.convert import convert
from lswap_core.errors import CheckpointError
from lswap_core.mixer import load_mixer
from lswap_core.testing import ConverterConformance
from tests.golden import load_golden
from tests.pickles import write_lightning_checkpoint

# Measured lswap vs official: 6e-8 (W+, |mix| <= 1.5) and 0 (W); tolerance 1e-6.
GOLDEN_ATOL = 1e-6


def official_checkpoint(path, name="latentswap_mixer", **hp_changes):
    """The recorded mixer in a checkpoint laid out like the official LatentSwap module, beside the other networks' keys."""
    golden = load_golden(name)
    state = {**golden.state, "identity_embedder.fc.weight": torch.zeros(2, 2), "style_gan.mapping.fc0.weight": torch.zeros(2, 2)}
    write_lightning_checkpoint(path, state, {"hp": {**golden.meta["hyper_parameters"]["hp"], **hp_changes}})
    return golden


def test_converted_wplus_mixer_reproduces_the_official_module(tmp_path):
    golden = official_checkpoint(tmp_path / "latentswap.ckpt")
    mixer = load_mixer(convert(tmp_path / "latentswap.ckpt", tmp_path / "mixer.safetensors"))
    assert (mixer.config.num_ws, mixer.config.w_dim, mixer.config.space) == (4, 8, "w+")
    assert mixer.config.hidden == (16, 16, 8, 8) and mixer.config.residual_coefficient == 0.5
    with torch.no_grad():
        mix = mixer(golden.inputs["source"], golden.inputs["target"])
    torch.testing.assert_close(mix, golden.outputs["mix"], rtol=0, atol=GOLDEN_ATOL)


@pytest.mark.parametrize(("latent_type", "space"), [("z", "z"), ("w", "w")])
def test_shared_mixers_keep_their_space(tmp_path, latent_type, space):
    """latentswap_pl.py's shared mixer: style_target + identity_mixer(cat(style_source, style_target)), for z and w alike."""
    golden = official_checkpoint(tmp_path / "m.ckpt", "latentswap_mixer_w", latent_type=latent_type)
    mixer = load_mixer(convert(tmp_path / "m.ckpt", tmp_path / "m.safetensors"))
    assert (mixer.config.space, mixer.config.num_ws, mixer.groups) == (space, 4, 1)  # style_gan size 8: 4 rows
    with torch.no_grad():
        mix = mixer(golden.inputs["source"], golden.inputs["target"])
    torch.testing.assert_close(mix, golden.outputs["mix"], rtol=0, atol=GOLDEN_ATOL)


def test_checkpoints_without_a_mixer_are_refused(tmp_path):
    write_lightning_checkpoint(tmp_path / "other.ckpt", {"identity_mixer_not.w": torch.zeros(1)}, {})
    with pytest.raises(CheckpointError, match="no identity_mixer weights"):
        convert(tmp_path / "other.ckpt", tmp_path / "out.safetensors", format="latentswap-ckpt")
    assert not (tmp_path / "out.safetensors").exists()


def test_convert_command(tmp_path):
    official_checkpoint(tmp_path / "latentswap.ckpt")
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "latentswap.ckpt"), str(tmp_path / "m.safetensors")])
    assert result.exit_code == 0, result.output
    assert "mixer 'latent-mixer' (converter latentswap-ckpt)" in result.stdout


class TestLatentSwapConverterConformance(ConverterConformance):
    converter_name = "latentswap-ckpt"

    def make_sample(self, folder):
        official_checkpoint(folder / "sample.ckpt")
        return folder / "sample.ckpt"
