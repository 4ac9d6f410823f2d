"""Importing the official LatentSwap mixer checkpoint."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lswap_core.cli import app
from lswap_core.convert import convert
from lswap_core.errors import CheckpointError
from lswap_core.mixer import load_mixer
from lswap_core.testing import ConverterConformance
from tests.pickles import write_lightning_checkpoint


def official_sequential(widths):
    layers = []
    for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if k < len(widths) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def official_wplus_checkpoint(path, rows=4, w_dim=8, hidden=(16, 16, 8, 8), residual=1.0):
    """A checkpoint laid out like the official LatentSwapSep module, plus the other networks' keys."""
    torch.manual_seed(0)
    mixers = [official_sequential([2 * w_dim, *hidden, w_dim]) for _ in range(rows)]
    state = {f"identity_mixer.mixer.{r}.{k}": v for r, m in enumerate(mixers) for k, v in m.state_dict().items()}
    state["identity_embedder.fc.weight"] = torch.zeros(2, 2)
    state["style_gan.mapping.fc0.weight"] = torch.zeros(2, 2)
    hp = {"latent_type": "wp", "style_gan": {"args": {"size": 64}}, "identity_mixer": {"residual_coefficient": residual}}
    write_lightning_checkpoint(path, state, hp)
    return mixers


def test_converted_wplus_mixer_reproduces_the_official_module(tmp_path):
    mixers = official_wplus_checkpoint(tmp_path / "latentswap.ckpt", residual=0.5)
    mixer = load_mixer(convert(tmp_path / "latentswap.ckpt", tmp_path / "mixer.safetensors"))
    assert (mixer.config.num_ws, mixer.config.w_dim, mixer.config.space) == (4, 8, "w+")
    assert mixer.config.hidden == (16, 16, 8, 8) and mixer.config.residual_coefficient == 0.5
    source, target = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    with torch.no_grad():
        official = torch.stack([m(torch.cat([source[:, r], target[:, r]], 1)) for r, m in enumerate(mixers)], 1)
        torch.testing.assert_close(mixer(source, target), official + 0.5 * target, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("latent_type", "space"), [("z", "z"), ("w", "w")])
def test_shared_mixers_keep_their_space(tmp_path, latent_type, space):
    torch.manual_seed(1)
    mlp = official_sequential([16, 16, 16, 8, 8, 8])
    state = {f"identity_mixer.{k}": v for k, v in mlp.state_dict().items()}
    write_lightning_checkpoint(tmp_path / "m.ckpt", state, {"latent_type": latent_type, "style_gan": {"args": {"size": 256}}})
    mixer = load_mixer(convert(tmp_path / "m.ckpt", tmp_path / "m.safetensors"))
    assert (mixer.config.space, mixer.config.num_ws, mixer.groups) == (space, 14, 1)
    source, target = torch.randn(2, 8), torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(mixer(source, target), mlp(torch.cat([source, target], 1)) + target, rtol=1e-5, atol=1e-6)


def test_checkpoints_without_a_mixer_are_refused(tmp_path):
    write_lightning_checkpoint(tmp_path / "other.ckpt", {"identity_mixer_not.w": torch.zeros(1)}, {})
    with pytest.raises(CheckpointError, match="no identity_mixer weights"):
        convert(tmp_path / "other.ckpt", tmp_path / "out.safetensors", format="latentswap-ckpt")
    assert not (tmp_path / "out.safetensors").exists()


def test_convert_command(tmp_path):
    official_wplus_checkpoint(tmp_path / "latentswap.ckpt")
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "latentswap.ckpt"), str(tmp_path / "m.safetensors")])
    assert result.exit_code == 0, result.output
    assert "mixer 'latent-mixer' (converter latentswap-ckpt)" in result.stdout


class TestLatentSwapConverterConformance(ConverterConformance):
    converter_name = "latentswap-ckpt"

    def make_sample(self, folder):
        official_wplus_checkpoint(folder / "sample.ckpt")
        return folder / "sample.ckpt"
