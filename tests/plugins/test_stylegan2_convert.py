"""Importing official StyleGAN2 files: NVlabs network pickles and rosinality checkpoints."""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import lswap_core
from lswap_core.cli import app
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError
from lswap_core.legacy_pickle import UnsafePickleError
from lswap_core.testing import ConverterConformance, seeded
from lswap_plugins.stylegan2.config import StyleGAN2Config
from lswap_plugins.stylegan2.generator import StyleGAN2Generator
from tests.pickles import (
    EasyDict,
    nvlabs_generator_records,
    nvlabs_init_kwargs,
    nvlabs_module,
    rosinality_state_dict,
    write_nvlabs_pickle,
)

runner = CliRunner()
CONFIG = StyleGAN2Config(
    resolution=16, z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=2, conv_clamp=2.0
)


def make_generator(config: StyleGAN2Config = CONFIG) -> StyleGAN2Generator:
    torch.manual_seed(0)
    generator = StyleGAN2Generator(config)
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                parameter.add_(torch.randn(parameter.shape, generator=seeded(len(name))) * 0.3)
        generator.w_avg.copy_(torch.randn(config.w_dim, generator=seeded(1)))
    return generator.eval()


def write_nvlabs(path: Path, generator: StyleGAN2Generator, **synthesis_extra) -> Path:
    records = nvlabs_generator_records(generator, nvlabs_init_kwargs(generator.config, **synthesis_extra))
    discriminator = nvlabs_module("Discriminator", parameters={"b16.fromrgb.weight": torch.randn(8, 3, 1, 1)})
    payload = {"G": records, "D": discriminator, "G_ema": records, "augment_pipe": None,
               "training_set_kwargs": EasyDict(resolution=generator.resolution)}
    return write_nvlabs_pickle(path, payload)


def write_rosinality(path: Path, generator: StyleGAN2Generator, *, latent_avg: bool = True, state=None) -> Path:
    checkpoint = {
        "g_ema": state if state is not None else rosinality_state_dict(generator),
        "args": argparse.Namespace(size=generator.resolution, latent=generator.w_dim, n_mlp=2, channel_multiplier=1),
    }
    if latent_avg:
        checkpoint["latent_avg"] = generator.w_avg.clone()
    torch.save(checkpoint, path)
    return path


def same_images(first: StyleGAN2Generator, second: StyleGAN2Generator) -> None:
    z = torch.randn(2, first.z_dim, generator=seeded(3))
    with torch.no_grad():
        for psi in (1.0, 0.7):
            expected = first.synthesis(first.mapping(z, truncation_psi=psi))
            result = second.synthesis(second.mapping(z, truncation_psi=psi))
            torch.testing.assert_close(result, expected, rtol=0, atol=0)


class TestNVlabsConverterConformance(ConverterConformance):
    converter_name = "stylegan2-nvlabs"

    def make_sample(self, folder: Path) -> Path:
        return write_nvlabs(folder / "network-snapshot.pkl", make_generator())


class TestRosinalityConverterConformance(ConverterConformance):
    converter_name = "stylegan2-rosinality"

    def make_sample(self, folder: Path) -> Path:
        return write_rosinality(folder / "050000.pt", make_generator(CONFIG_NO_CLAMP))


CONFIG_NO_CLAMP = StyleGAN2Config(**{**CONFIG.__dict__, "conv_clamp": None})


# -- NVlabs pickles -------------------------------------------------------------------------


def test_nvlabs_pickle_converts_to_the_same_generator(tmp_path):
    generator = make_generator()
    source = write_nvlabs(tmp_path / "net.pkl", generator)
    assert isinstance(find_converter(source), type(lswap_core.registry.get_converter("stylegan2-nvlabs")))
    export = convert(source, tmp_path / "net.safetensors")
    loaded = lswap_core.load_generator("stylegan2", weights=export)
    assert loaded.config == generator.config
    same_images(generator, loaded)


def test_stylegan3_repository_pickles_with_top_level_options_convert(tmp_path):
    # StyleGAN3's networks_stylegan2.Generator takes the synthesis options as top-level keywords.
    generator = make_generator()
    kwargs = nvlabs_init_kwargs(generator.config)
    kwargs.update(kwargs.pop("synthesis_kwargs"), fused_modconv_default="inference_only")
    source = write_nvlabs_pickle(tmp_path / "sg3.pkl", {"G_ema": nvlabs_generator_records(generator, kwargs)})
    loaded = lswap_core.load_generator("stylegan2", weights=convert(source, tmp_path / "sg3.safetensors"))
    assert loaded.config.conv_clamp == 2.0
    same_images(generator, loaded)


def test_a_network_without_w_avg_gets_an_estimate(tmp_path):
    generator = make_generator()
    records = nvlabs_generator_records(generator, nvlabs_init_kwargs(generator.config))
    del records.meta["state"]["_modules"]["mapping"].meta["state"]["_buffers"]["w_avg"]  # w_avg_beta=None
    source = write_nvlabs_pickle(tmp_path / "noavg.pkl", {"G_ema": records})
    loaded = lswap_core.load_generator("stylegan2", weights=convert(source, tmp_path / "noavg.safetensors"))
    torch.testing.assert_close(loaded.w_avg, generator.mean_w(10_000, seed=0))


def stylegan3_records() -> object:
    synthesis = nvlabs_module(
        "SynthesisNetwork",
        modules={
            "input": nvlabs_module("SynthesisInput", buffers={"freqs": torch.randn(8, 2)}),
            "L0_36_512": nvlabs_module("SynthesisLayer", parameters={"weight": torch.randn(4, 4, 3, 3)}),
        },
    )
    mapping = nvlabs_module("MappingNetwork", buffers={"w_avg": torch.zeros(8)})
    kwargs = {"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 16, "img_channels": 3, "mapping_kwargs": EasyDict()}
    return nvlabs_module("Generator", modules={"synthesis": synthesis, "mapping": mapping}, init_kwargs=kwargs)


def refusals(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files lswap must refuse, with a fragment of the one-line error each gets."""
    generator = make_generator()
    files: dict[str, tuple[Path, str]] = {}

    files["stylegan3"] = write_nvlabs_pickle(tmp_path / "sg3t.pkl", {"G_ema": stylegan3_records()}), "StyleGAN3"
    files["discriminator"] = (
        write_nvlabs_pickle(tmp_path / "d.pkl", {"D": nvlabs_module("Discriminator", parameters={"w": torch.ones(2)})}),
        "only a discriminator",
    )
    unknown = nvlabs_generator_records(generator, nvlabs_init_kwargs(generator.config))
    unknown.meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["b8"].meta["class_name"] = "FancyBlock"
    files["unknown class"] = (
        write_nvlabs_pickle(tmp_path / "u.pkl", {"G_ema": unknown}),
        "G.synthesis.b8 is a FancyBlock",
    )
    conditional = nvlabs_init_kwargs(generator.config)
    conditional["c_dim"] = 10
    files["conditional"] = (
        write_nvlabs_pickle(tmp_path / "c.pkl", {"G_ema": nvlabs_generator_records(generator, conditional)}),
        "class-conditional",
    )
    files["resnet"] = write_nvlabs(tmp_path / "r.pkl", generator, architecture="resnet"), "architecture='resnet'"
    files["filter"] = write_nvlabs(tmp_path / "f.pkl", generator, resample_filter=[1, 2, 1]), "resample_filter"
    missing = nvlabs_generator_records(generator, nvlabs_init_kwargs(generator.config))
    b8 = missing.meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["b8"]
    del b8.meta["state"]["_modules"]["conv0"].meta["state"]["_parameters"]["weight"]
    b8.meta["state"]["_modules"]["conv1"].meta["state"]["_parameters"]["extra"] = torch.nn.Parameter(torch.ones(3))
    files["tensors"] = (
        write_nvlabs_pickle(tmp_path / "m.pkl", {"G_ema": missing}),
        "missing: synthesis.b8.conv0.weight; unexpected: synthesis.b8.conv1.extra",
    )
    whole = write_nvlabs(tmp_path / "whole.pkl", generator).read_bytes()
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(whole[: len(whole) // 2])
    files["truncated"] = truncated, "truncated"
    return files


@pytest.mark.parametrize(
    "case", ["stylegan3", "discriminator", "unknown class", "conditional", "resnet", "filter", "tensors", "truncated"]
)
def test_nvlabs_refusals_are_one_line_errors_and_write_nothing(tmp_path, case):
    source, fragment = refusals(tmp_path)[case]
    output = tmp_path / "out.safetensors"
    result = runner.invoke(app, ["convert", str(source), str(output), "--format", "stylegan2-nvlabs"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.safetensors")]


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_calling_os_system_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    records = nvlabs_generator_records(make_generator(), nvlabs_init_kwargs(CONFIG))
    source = write_nvlabs_pickle(tmp_path / "evil.pkl", {"G_ema": records, "payload": _Exploit(marker)})
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        convert(source, tmp_path / "evil.safetensors")
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


# -- rosinality checkpoints -------------------------------------------------------------------


def test_rosinality_checkpoint_converts_to_the_same_generator(tmp_path):
    generator = make_generator(CONFIG_NO_CLAMP)
    source = write_rosinality(tmp_path / "550000.pt", generator)
    assert find_converter(source).name == "stylegan2-rosinality"
    loaded = lswap_core.load_generator("stylegan2", weights=convert(source, tmp_path / "r.safetensors"))
    assert loaded.config == generator.config
    same_images(generator, loaded)


def test_rosinality_checkpoint_without_latent_avg_gets_an_estimate(tmp_path):
    generator = make_generator(CONFIG_NO_CLAMP)
    source = write_rosinality(tmp_path / "train.pt", generator, latent_avg=False)
    export = convert(source, tmp_path / "r.safetensors")
    loaded = lswap_core.load_generator("stylegan2", weights=export)
    torch.testing.assert_close(loaded.w_avg, generator.mean_w(10_000, seed=0))
    assert "w_avg" in lswap_core.checkpoints.read_export(export).provenance


def test_legacy_format_rosinality_training_checkpoints_convert(tmp_path):
    # Checkpoints saved by torch < 1.6 (no zip) with the training script's arguments.
    generator = make_generator(CONFIG_NO_CLAMP)
    source = tmp_path / "010000.pt"
    checkpoint = {"g_ema": rosinality_state_dict(generator), "args": argparse.Namespace(size=16, lr_mlp=0.01)}
    torch.save(checkpoint, source, _use_new_zipfile_serialization=False)
    loaded = lswap_core.load_generator("stylegan2", weights=convert(source, tmp_path / "l.safetensors"))
    z = torch.randn(2, 8, generator=seeded(3))
    with torch.no_grad():
        torch.testing.assert_close(loaded.synthesis(loaded.mapping(z)), generator.synthesis(generator.mapping(z)))


def test_rosinality_channel_tables_map_to_channel_base(tmp_path):
    # rosinality's channel_multiplier=1 table at 32x32: 512 everywhere -> channel_base 16384 fits.
    config = StyleGAN2Config(resolution=32, z_dim=8, w_dim=8, channel_base=256, channel_max=16, mapping_layers=2)
    generator = make_generator(config)
    loaded = lswap_core.load_generator(
        "stylegan2", weights=convert(write_rosinality(tmp_path / "c.pt", generator), tmp_path / "c.safetensors")
    )
    assert [loaded.config.channels(r) for r in config.block_resolutions] == [16, 16, 16, 8]


@pytest.mark.parametrize("case", ["missing", "extra", "kernel", "channels", "discriminator"])
def test_rosinality_refusals(tmp_path, case):
    generator = make_generator(CONFIG_NO_CLAMP)
    state = rosinality_state_dict(generator)
    payload = None
    if case == "missing":
        del state["convs.1.conv.weight"]
        fragment = "lacks convs.1.conv.weight"
    elif case == "extra":
        state["convs.1.conv.extra"] = torch.ones(2)
        fragment = "convs.1.conv.extra"
    elif case == "kernel":
        state["convs.0.conv.blur.kernel"] = torch.ones(4, 4) / 4
        fragment = "convs.0.conv.blur.kernel is not the [1, 3, 3, 1]"
    elif case == "channels":
        state["convs.0.conv.weight"] = torch.randn(1, 6, 8, 3, 3)  # 6 maps at 8x8: no channel_base gives that
        fragment = "channel counts"
    else:
        payload = {"d": {"convs.0.0.weight": torch.ones(1)}}
        fragment = "only a discriminator"
    source = tmp_path / "bad.pt"
    if payload is None:
        write_rosinality(source, generator, state=state)
    else:
        torch.save(payload, source)
    with pytest.raises(CheckpointError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        convert(source, tmp_path / "bad.safetensors", format="stylegan2-rosinality")
    assert not (tmp_path / "bad.safetensors").exists()


def test_each_converter_recognises_only_its_format(tmp_path):
    generator = make_generator(CONFIG_NO_CLAMP)
    nvlabs = write_nvlabs(tmp_path / "a.pkl", generator)
    rosinality = write_rosinality(tmp_path / "b.pt", generator)
    plain = tmp_path / "c.pt"
    torch.save({"weights": torch.ones(2)}, plain)
    legacy = tmp_path / "d.pt"
    torch.save({"g_ema": rosinality_state_dict(generator)}, legacy, _use_new_zipfile_serialization=False)
    assert find_converter(nvlabs).name == "stylegan2-nvlabs"
    assert find_converter(rosinality).name == "stylegan2-rosinality"
    assert find_converter(legacy).name == "stylegan2-rosinality"
    with pytest.raises(lswap_core.errors.InputError, match="no converter recognises"):
        find_converter(plain)


def test_pickles_made_by_plain_pickle_are_read_as_data_only(tmp_path):
    # The refusal of code holds for the whole file, not only the generator.
    source = tmp_path / "evil2.pkl"
    source.write_bytes(pickle.dumps({"G_ema": _Exploit(tmp_path / "x")}))
    with pytest.raises(UnsafePickleError):
        convert(source, tmp_path / "o.safetensors", format="stylegan2-nvlabs")
