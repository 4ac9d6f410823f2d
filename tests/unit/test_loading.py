"""Building components through load_generator and friends."""

from __future__ import annotations

import pytest
import torch

import lswap_core
from lswap_core.checkpoints import save_component, save_export
from lswap_core.errors import CheckpointError, ConfigError
from lswap_core.plugins import register_plugin
from tests.support import ToyGenerator


class ToyPlugin:
    @lswap_core.hookimpl
    def lswap_register_generators(self, register):
        register(ToyGenerator)


@pytest.fixture(autouse=True)
def toy_plugin():
    register_plugin(ToyPlugin(), "toys")


def test_config_keywords_and_presets():
    assert lswap_core.load_generator("toy", num_ws=5).num_ws == 5
    assert lswap_core.load_generator("toy", preset="wide").w_dim == 6
    assert lswap_core.load_generator("toy", preset="wide", w_dim=7).w_dim == 7


def test_bad_config_values_are_config_errors():
    with pytest.raises(ConfigError, match="generator 'toy': num_ws must be int, got str"):
        lswap_core.load_generator("toy", num_ws="five")
    with pytest.raises(ConfigError, match="unknown key 'numws'.*did you mean 'num_ws'"):
        lswap_core.load_generator("toy", numws=5)
    with pytest.raises(ConfigError, match="no preset 'huge'.*presets: base, wide"):
        lswap_core.load_generator("toy", preset="huge")


def test_weights_rebuild_the_exported_architecture(tmp_path):
    torch.manual_seed(3)
    original = lswap_core.load_generator("toy", w_dim=5)
    path = save_component(original, tmp_path / "toy.safetensors")
    loaded = lswap_core.load_generator("toy", weights=path)
    assert loaded.w_dim == 5 and not loaded.training
    ws = torch.randn(2, 3, 5)
    assert torch.equal(loaded.synthesis(ws), original.synthesis(ws))


def test_weights_of_another_component_are_refused(tmp_path):
    path = save_export(tmp_path / "m.safetensors", kind="mixer", name="latent-mixer", config={}, tensors={"w": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="holds a mixer 'latent-mixer', not the generator 'toy'"):
        lswap_core.load_generator("toy", weights=path)


def test_weights_with_a_changed_architecture_name_the_mismatch(tmp_path):
    path = save_component(lswap_core.load_generator("toy"), tmp_path / "toy.safetensors")
    with pytest.raises(CheckpointError, match=r"wrong shape: paint.bias \(192,\) vs \(768,\), paint.weight"):
        lswap_core.load_generator("toy", weights=path, resolution=16)


def test_preset_with_weights_is_refused(tmp_path):
    path = save_component(lswap_core.load_generator("toy"), tmp_path / "toy.safetensors")
    with pytest.raises(ConfigError, match="drop the preset"):
        lswap_core.load_generator("toy", weights=path, preset="wide")
