"""Converting official StyleNeRF pickles: detection by content, G_ema, OmegaConf arguments, refusals."""

from __future__ import annotations

import pytest
import torch

import lswap_core
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError
from tests.golden import load_golden
from tests.pickles import write_nvlabs_golden, write_stylenerf_golden


@pytest.fixture(scope="module")
def golden():
    return load_golden("stylenerf")


def test_detected_by_content_and_takes_g_ema(tmp_path, golden):
    source = write_stylenerf_golden(tmp_path / "network-snapshot.pkl", golden)  # not named like a StyleNeRF file
    assert find_converter(source).name == "stylenerf"
    export = convert(source, tmp_path / "g.safetensors")
    generator = lswap_core.load_generator("stylenerf", weights=export)
    assert generator.num_ws == 15 and generator.resolution == 64 and generator.config.z_dim_bg == 8
    assert torch.equal(generator.state_dict()["mapping.fc0.weight"], golden.state["mapping.fc0.weight"])  # G_ema, not G


def test_an_untrained_alpha_renders_with_twenty_samples_and_a_growing_one_is_refused(tmp_path, golden):
    export = convert(write_stylenerf_golden(tmp_path / "a.pkl", golden, alpha=-1), tmp_path / "a.safetensors")
    assert lswap_core.load_generator("stylenerf", weights=export).config.n_ray_samples == 20
    with pytest.raises(CheckpointError, match="still growing"):
        convert(write_stylenerf_golden(tmp_path / "b.pkl", golden, alpha=0.5), tmp_path / "b.safetensors")
    assert not (tmp_path / "b.safetensors").exists()


def test_missing_tensors_and_unsupported_options_are_one_line_errors(tmp_path, golden):
    with pytest.raises(CheckpointError, match="missing: synthesis.b64.conv1.weight"):
        convert(write_stylenerf_golden(tmp_path / "a.pkl", golden, drop=("synthesis.b64.conv1.weight",)), tmp_path / "a.safetensors")
    with pytest.raises(CheckpointError, match="upsample_mode='default'"):
        convert(write_stylenerf_golden(tmp_path / "b.pkl", golden, synthesis_extra={"upsample_mode": "default"}), tmp_path / "b.safetensors")


def test_stylegan2_and_stylenerf_pickles_are_told_apart(tmp_path, golden):
    stylenerf = write_stylenerf_golden(tmp_path / "ffhq_256.pkl", golden)
    stylegan2 = write_nvlabs_golden(tmp_path / "ffhq.pkl", load_golden("stylegan2_nvlabs"))
    assert find_converter(stylegan2).name == "stylegan2-nvlabs"
    with pytest.raises(CheckpointError, match="holds a StyleGAN2 generator, not StyleNeRF") as error:
        convert(stylegan2, tmp_path / "a.safetensors", format="stylenerf")
    assert "\n" not in str(error.value)
    with pytest.raises(CheckpointError, match="holds a StyleNeRF generator, not StyleGAN2"):
        convert(stylenerf, tmp_path / "b.safetensors", format="stylegan2-nvlabs")
    assert not list(tmp_path.glob("*.safetensors"))


def test_the_official_files_are_known_assets_that_convert():
    from lswap_plugins.stylenerf.assets import register_assets

    found = []
    register_assets(found.append)
    assert [a.name for a in found] == ["stylenerf-ffhq-1024", "stylenerf-ffhq-512", "stylenerf-ffhq-256"]
    assert all("CC BY-NC 4.0" in a.licence and a.conversions[0].converter == "stylenerf" for a in found)
    assert found[0].files[0].url.endswith("/ffhq_1024.pkl")
