"""Importing official StyleGAN2 files: NVlabs network pickles and rosinality checkpoints.

Every file here is built around a golden fixture (``tests/fixtures/stylegan2_nvlabs.safetensors``,
``tests/fixtures/stylegan2_rosinality.safetensors``): a small network's state dict and outputs
recorded once from the official code (see ``tests/fixtures/README.md``). The tests wrap the
recorded state in the official file format, convert it with lswap and compare lswap's outputs
with the official ones, so a mistake that writer and reader would share cannot pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
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
from tests.golden import Golden, load_golden
from tests.pickles import (
    EasyDict,
    nvlabs_golden_init_kwargs,
    nvlabs_golden_records,
    nvlabs_module,
    rosinality_golden_checkpoint,
    write_nvlabs_golden,
    write_nvlabs_pickle,
    write_rosinality_golden,
)

runner = CliRunner()

# Tolerances (absolute, fp32 on the CPU), about five times the largest difference measured between
# lswap and the official code when the fixtures were recorded: W codes 4.5e-8, images 2.0e-6,
# gradients with respect to W+ 8.1e-6 (their entries reach 26).
MAPPING_TOLERANCE = {"rtol": 0.0, "atol": 1e-6}
IMAGE_TOLERANCE = {"rtol": 0.0, "atol": 1e-5}
GRADIENT_TOLERANCE = {"rtol": 0.0, "atol": 5e-5}
IMPLS = ["auto", "reference"]


def fresh(golden: Golden) -> Golden:
    """``golden`` with its tensors copied to fresh (aligned) memory, as they were when recorded.

    Tensors read from a safetensors file can start at unaligned addresses, which changes the
    rounding of some vectorised CPU kernels (by about 6e-7 in these images).
    """
    groups = ("state", "inputs", "outputs")
    return dataclasses.replace(golden, **{g: {k: v.clone() for k, v in getattr(golden, g).items()} for g in groups})


@functools.cache
def nvlabs_golden() -> Golden:
    return fresh(load_golden("stylegan2_nvlabs"))


@functools.cache
def rosinality_golden() -> Golden:
    return fresh(load_golden("stylegan2_rosinality"))


def load_converted(source: Path, folder: Path, **options) -> StyleGAN2Generator:
    export = convert(source, folder / f"{source.stem}.safetensors", **options)
    return lswap_core.load_generator("stylegan2", weights=export)


def nvlabs_generator(folder: Path, **synthesis_extra) -> StyleGAN2Generator:
    source = write_nvlabs_golden(folder / "network-snapshot.pkl", nvlabs_golden(), **synthesis_extra)
    return load_converted(source, folder)


def rosinality_generator(folder: Path, **options) -> StyleGAN2Generator:
    return load_converted(write_rosinality_golden(folder / "550000.pt", rosinality_golden(), **options), folder)


def assert_nvlabs_mapping(generator: StyleGAN2Generator) -> None:
    golden = nvlabs_golden()
    z = golden.inputs["z"]
    psi, cutoff = golden.meta["truncation_psi"], golden.meta["truncation_cutoff"]
    with torch.no_grad():
        torch.testing.assert_close(generator.mapping(z), golden.outputs["mapping"], **MAPPING_TOLERANCE)
        truncated = generator.mapping(z, truncation_psi=psi, truncation_cutoff=cutoff)
    torch.testing.assert_close(truncated, golden.outputs["mapping_truncated"], **MAPPING_TOLERANCE)


def assert_nvlabs_images(generator: StyleGAN2Generator, impl: str = "auto") -> None:
    golden = nvlabs_golden()
    ws = golden.inputs["ws"]
    with torch.no_grad():
        for mode in ("const", "none"):
            image = generator.synthesis(ws, noise_mode=mode, impl=impl)
            torch.testing.assert_close(image, golden.outputs[f"synthesis_{mode}"], **IMAGE_TOLERANCE)
        torch.manual_seed(golden.meta["seeds"]["noise_random"])  # lswap draws NVlabs' noise in NVlabs' order
        image = generator.synthesis(ws, noise_mode="random", impl=impl)
    torch.testing.assert_close(image, golden.outputs["synthesis_random"], **IMAGE_TOLERANCE)


def ws_gradient(generator: StyleGAN2Generator, ws: torch.Tensor, weights: torch.Tensor, impl: str) -> torch.Tensor:
    """d/dws of ``(synthesis(ws, const noise) * weights).sum()``."""
    ws = ws.clone().requires_grad_(True)
    (generator.synthesis(ws, noise_mode="const", impl=impl) * weights).sum().backward()
    return ws.grad


class TestNVlabsConverterConformance(ConverterConformance):
    converter_name = "stylegan2-nvlabs"

    def make_sample(self, folder: Path) -> Path:
        return write_nvlabs_golden(folder / "network-snapshot.pkl", nvlabs_golden())


class TestRosinalityConverterConformance(ConverterConformance):
    converter_name = "stylegan2-rosinality"

    def make_sample(self, folder: Path) -> Path:
        return write_rosinality_golden(folder / "050000.pt", rosinality_golden())


# -- NVlabs pickles -------------------------------------------------------------------------


def test_nvlabs_pickle_converts_to_the_recorded_architecture(tmp_path):
    source = write_nvlabs_golden(tmp_path / "net.pkl", nvlabs_golden())
    assert isinstance(find_converter(source), type(lswap_core.registry.get_converter("stylegan2-nvlabs")))
    loaded = load_converted(source, tmp_path)
    kwargs = nvlabs_golden().meta["init_kwargs"]
    synthesis = kwargs["synthesis_kwargs"]
    assert loaded.config == StyleGAN2Config(
        resolution=kwargs["img_resolution"], z_dim=kwargs["z_dim"], w_dim=kwargs["w_dim"],
        channel_base=synthesis["channel_base"], channel_max=synthesis["channel_max"],
        mapping_layers=kwargs["mapping_kwargs"]["num_layers"], conv_clamp=synthesis["conv_clamp"],
    )
    assert torch.equal(loaded.w_avg, nvlabs_golden().state["mapping.w_avg"])


def test_nvlabs_pickle_reproduces_the_official_mapping(tmp_path):
    assert_nvlabs_mapping(nvlabs_generator(tmp_path))


@pytest.mark.parametrize("impl", IMPLS)
def test_nvlabs_pickle_reproduces_the_official_images(tmp_path, impl):
    assert_nvlabs_images(nvlabs_generator(tmp_path), impl)


@pytest.mark.parametrize("impl", IMPLS)
def test_nvlabs_pickle_reproduces_the_official_ws_gradient(tmp_path, impl):
    golden = nvlabs_golden()
    gradient = ws_gradient(nvlabs_generator(tmp_path), golden.inputs["ws"], golden.inputs["r"], impl)
    torch.testing.assert_close(gradient, golden.outputs["grad_ws"], **GRADIENT_TOLERANCE)


def test_the_nvlabs_fixture_exercises_clamping_noise_and_truncation(tmp_path):
    # Far beyond the tolerances: the fixture would notice a converter dropping any of these.
    golden = nvlabs_golden()
    loaded = nvlabs_generator(tmp_path)
    unclamped = StyleGAN2Generator(StyleGAN2Config(**{**loaded.config.__dict__, "conv_clamp": None})).eval()
    unclamped.load_state_dict(loaded.state_dict())
    with torch.no_grad():
        image = unclamped.synthesis(golden.inputs["ws"], noise_mode="const")
    assert (image - golden.outputs["synthesis_const"]).abs().max() > 0.1
    out = golden.outputs
    assert (out["synthesis_const"] - out["synthesis_none"]).abs().max() > 0.1
    assert (out["synthesis_random"] - out["synthesis_const"]).abs().max() > 0.1
    assert (out["mapping_truncated"] - out["mapping"]).abs().max() > 0.1
    assert (golden.inputs["ws"][:, 1:] - golden.inputs["ws"][:, :-1]).abs().min() > 0  # one code per layer
    assert golden.meta["truncation_cutoff"] < loaded.num_ws


def test_a_training_pickle_converts_g_ema_not_g(tmp_path):
    # write_nvlabs_golden's G holds halved tensors: only G_ema reproduces the official images.
    source = write_nvlabs_golden(tmp_path / "net.pkl", nvlabs_golden())
    export = convert(source, tmp_path / "net.safetensors")
    assert lswap_core.checkpoints.read_export(export).provenance["network"] == "G_ema"
    payload = {"G": nvlabs_golden_records(nvlabs_golden(), scale=0.5)}
    only_g = load_converted(write_nvlabs_pickle(tmp_path / "g.pkl", payload), tmp_path)
    with torch.no_grad():
        image = only_g.synthesis(nvlabs_golden().inputs["ws"], noise_mode="const")
    assert (image - nvlabs_golden().outputs["synthesis_const"]).abs().max() > 0.1


def test_stylegan3_repository_pickles_with_top_level_options_convert(tmp_path):
    # StyleGAN3's networks_stylegan2.Generator takes the synthesis options as top-level keywords.
    golden = nvlabs_golden()
    kwargs = nvlabs_golden_init_kwargs(golden)
    kwargs.update(kwargs.pop("synthesis_kwargs"), fused_modconv_default="inference_only")
    source = write_nvlabs_pickle(tmp_path / "sg3.pkl", {"G_ema": nvlabs_golden_records(golden, init_kwargs=kwargs)})
    loaded = load_converted(source, tmp_path)
    assert loaded.config.conv_clamp == golden.meta["init_kwargs"]["synthesis_kwargs"]["conv_clamp"]
    assert_nvlabs_mapping(loaded)
    assert_nvlabs_images(loaded)


def test_a_network_without_w_avg_gets_an_estimate(tmp_path):
    # A MappingNetwork built with w_avg_beta=None registers no w_avg buffer.
    golden = nvlabs_golden()
    kwargs = nvlabs_golden_init_kwargs(golden)
    kwargs["mapping_kwargs"] = EasyDict(kwargs["mapping_kwargs"], w_avg_beta=None)
    records = nvlabs_golden_records(golden, init_kwargs=kwargs)
    mapping = records.meta["state"]["_modules"]["mapping"].meta["state"]
    del mapping["_buffers"]["w_avg"]
    mapping["w_avg_beta"] = mapping["_init_kwargs"]["w_avg_beta"] = None
    export = convert(write_nvlabs_pickle(tmp_path / "noavg.pkl", {"G_ema": records}), tmp_path / "noavg.safetensors")
    loaded = lswap_core.load_generator("stylegan2", weights=export)
    assert loaded.config.w_avg_beta is None
    assert "w_avg" in lswap_core.checkpoints.read_export(export).provenance
    reference = nvlabs_generator(tmp_path)
    torch.testing.assert_close(loaded.w_avg, reference.mean_w(10_000, rng=seeded(0)), rtol=0, atol=1e-6)
    assert (loaded.w_avg - golden.state["mapping.w_avg"]).abs().max() > 0.1  # not the recorded one
    with torch.no_grad():
        torch.testing.assert_close(loaded.mapping(golden.inputs["z"]), golden.outputs["mapping"], **MAPPING_TOLERANCE)


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
    golden = nvlabs_golden()
    files: dict[str, tuple[Path, str]] = {}

    files["stylegan3"] = write_nvlabs_pickle(tmp_path / "sg3t.pkl", {"G_ema": stylegan3_records()}), "StyleGAN3"
    files["discriminator"] = (
        write_nvlabs_pickle(tmp_path / "d.pkl", {"D": nvlabs_module("Discriminator", parameters={"w": torch.ones(2)})}),
        "only a discriminator",
    )
    unknown = nvlabs_golden_records(golden)
    unknown.meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["b8"].meta["class_name"] = "FancyBlock"
    files["unknown class"] = (
        write_nvlabs_pickle(tmp_path / "u.pkl", {"G_ema": unknown}),
        "G.synthesis.b8 is a FancyBlock",
    )
    conditional = nvlabs_golden_init_kwargs(golden)
    conditional["c_dim"] = 10
    files["conditional"] = (
        write_nvlabs_pickle(tmp_path / "c.pkl", {"G_ema": nvlabs_golden_records(golden, init_kwargs=conditional)}),
        "class-conditional",
    )
    files["resnet"] = write_nvlabs_golden(tmp_path / "r.pkl", golden, architecture="resnet"), "architecture='resnet'"
    files["filter"] = write_nvlabs_golden(tmp_path / "f.pkl", golden, resample_filter=[1, 2, 1]), "resample_filter"
    missing = nvlabs_golden_records(golden)
    b8 = missing.meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["b8"]
    del b8.meta["state"]["_modules"]["conv0"].meta["state"]["_parameters"]["weight"]
    b8.meta["state"]["_modules"]["conv1"].meta["state"]["_parameters"]["extra"] = torch.nn.Parameter(torch.ones(3))
    files["tensors"] = (
        write_nvlabs_pickle(tmp_path / "m.pkl", {"G_ema": missing}),
        "missing: synthesis.b8.conv0.weight; unexpected: synthesis.b8.conv1.extra",
    )
    whole = write_nvlabs_golden(tmp_path / "whole.pkl", golden).read_bytes()
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
    records = nvlabs_golden_records(nvlabs_golden())
    source = write_nvlabs_pickle(tmp_path / "evil.pkl", {"G_ema": records, "payload": _Exploit(marker)})
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        convert(source, tmp_path / "evil.safetensors")
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


# -- rosinality checkpoints -------------------------------------------------------------------


def assert_rosinality_outputs(generator: StyleGAN2Generator, impl: str = "auto") -> None:
    """W codes and images from z (ψ 1 and the recorded truncation) and from the recorded W+ code."""
    golden = rosinality_golden()
    z, psi = golden.inputs["z"], golden.meta["truncation"]
    with torch.no_grad():
        ws = generator.mapping(z)
        torch.testing.assert_close(ws, golden.outputs["ws"], **MAPPING_TOLERANCE)
        image = generator.synthesis(ws, noise_mode="const", impl=impl)
        torch.testing.assert_close(image, golden.outputs["image"], **IMAGE_TOLERANCE)
        truncated = generator.mapping(z, truncation_psi=psi)
        torch.testing.assert_close(truncated, golden.outputs["ws_truncated"], **MAPPING_TOLERANCE)
        image = generator.synthesis(truncated, noise_mode="const", impl=impl)
        torch.testing.assert_close(image, golden.outputs["image_truncated"], **IMAGE_TOLERANCE)
        image = generator.synthesis(golden.inputs["wplus"], noise_mode="const", impl=impl)
        torch.testing.assert_close(image, golden.outputs["image_wplus"], **IMAGE_TOLERANCE)


def test_rosinality_checkpoint_converts_to_the_recorded_architecture(tmp_path):
    golden = rosinality_golden()
    source = write_rosinality_golden(tmp_path / "550000.pt", golden)
    assert find_converter(source).name == "stylegan2-rosinality"
    loaded = load_converted(source, tmp_path)
    kwargs = golden.meta["init_kwargs"]
    assert loaded.config == StyleGAN2Config(
        resolution=kwargs["size"], z_dim=kwargs["style_dim"], w_dim=kwargs["style_dim"], channel_base=64,
        channel_max=8, mapping_layers=kwargs["n_mlp"], mapping_lr_multiplier=kwargs["lr_mlp"], conv_clamp=None,
    )
    assert {str(r): loaded.config.channels(r) for r in loaded.config.block_resolutions} == golden.meta["channels"]
    assert torch.equal(loaded.w_avg, golden.inputs["latent_avg"])


@pytest.mark.parametrize("impl", IMPLS)
def test_rosinality_checkpoint_reproduces_the_official_outputs(tmp_path, impl):
    assert_rosinality_outputs(rosinality_generator(tmp_path), impl)


def test_rosinality_checkpoint_reproduces_the_official_random_noise(tmp_path):
    # rosinality draws its noise from the global generator in NVlabs' layer order, as lswap does.
    golden = rosinality_golden()
    loaded = rosinality_generator(tmp_path)
    torch.manual_seed(golden.meta["seeds"]["noise_random"])
    with torch.no_grad():
        image = loaded.synthesis(golden.inputs["wplus"], noise_mode="random")
    torch.testing.assert_close(image, golden.outputs["image_random"], **IMAGE_TOLERANCE)


@pytest.mark.parametrize("impl", IMPLS)
def test_rosinality_checkpoint_reproduces_the_official_wplus_gradient(tmp_path, impl):
    golden = rosinality_golden()
    gradient = ws_gradient(rosinality_generator(tmp_path), golden.inputs["wplus"], golden.inputs["r"], impl)
    torch.testing.assert_close(gradient, golden.outputs["grad_wplus"], **GRADIENT_TOLERANCE)


def test_the_rosinality_fixture_exercises_noise_and_truncation():
    out = rosinality_golden().outputs
    assert (out["image_random"] - out["image_wplus"]).abs().max() > 0.1
    assert (out["image_truncated"] - out["image"]).abs().max() > 0.1
    assert (out["ws_truncated"] - out["ws"]).abs().max() > 0.1


def test_rosinality_checkpoint_without_latent_avg_gets_an_estimate(tmp_path):
    source = write_rosinality_golden(tmp_path / "train.pt", rosinality_golden(), latent_avg=False)
    export = convert(source, tmp_path / "r.safetensors")
    loaded = lswap_core.load_generator("stylegan2", weights=export)
    reference = rosinality_generator(tmp_path)
    torch.testing.assert_close(loaded.w_avg, reference.mean_w(10_000, rng=seeded(0)), rtol=0, atol=1e-6)
    assert "w_avg" in lswap_core.checkpoints.read_export(export).provenance
    with torch.no_grad():
        ws = loaded.mapping(rosinality_golden().inputs["z"])
    torch.testing.assert_close(ws, rosinality_golden().outputs["ws"], **MAPPING_TOLERANCE)


def test_legacy_format_rosinality_training_checkpoints_convert(tmp_path):
    # Checkpoints saved by torch < 1.6 (no zip) with the training script's arguments.
    source = tmp_path / "010000.pt"
    checkpoint = rosinality_golden_checkpoint(rosinality_golden(), args=False)
    checkpoint["args"] = argparse.Namespace(size=16, lr_mlp=0.01)
    torch.save(checkpoint, source, _use_new_zipfile_serialization=False)
    assert find_converter(source).name == "stylegan2-rosinality"
    assert_rosinality_outputs(load_converted(source, tmp_path))


def test_rosinality_channel_tables_map_to_channel_base(tmp_path):
    golden = rosinality_golden()
    # The recorded table {4: 8, 8: 8, 16: 4} is channel_base 64, channel_max 8.
    loaded = rosinality_generator(tmp_path)
    assert (loaded.config.channel_base, loaded.config.channel_max) == (64, 8)
    # The same network cut at 8x8 is rosinality's Generator(size=8): equal counts everywhere, as in
    # rosinality's 512-everywhere tables up to 32x32, need channel_base = channel_max * resolution.
    cut = {k: v for k, v in golden.state.items() if not k.startswith(("convs.2.", "convs.3.", "to_rgbs.1."))}
    cut = {k: v for k, v in cut.items() if k not in ("noises.noise_3", "noises.noise_4")}
    source = tmp_path / "c.pt"
    torch.save({"g_ema": cut, "args": argparse.Namespace(size=8)}, source)
    small = load_converted(source, tmp_path)
    assert (small.resolution, small.config.channel_base, small.config.channel_max) == (8, 64, 8)
    assert [small.config.channels(r) for r in small.config.block_resolutions] == [8, 8]


@pytest.mark.parametrize("case", ["missing", "extra", "kernel", "upsample kernel", "channels", "size", "discriminator"])
def test_rosinality_refusals(tmp_path, case):
    checkpoint = rosinality_golden_checkpoint(rosinality_golden())
    state = checkpoint["g_ema"]
    if case == "missing":
        del state["convs.1.conv.weight"]
        fragment = "lacks convs.1.conv.weight"
    elif case == "extra":
        state["convs.1.conv.extra"] = torch.ones(2)
        fragment = "convs.1.conv.extra"
    elif case == "kernel":
        state["convs.0.conv.blur.kernel"] = torch.ones(4, 4) / 4
        fragment = "convs.0.conv.blur.kernel is not the [1, 3, 3, 1]"
    elif case == "upsample kernel":
        state["to_rgbs.0.upsample.kernel"] = torch.outer(torch.tensor([1.0, 2, 1]), torch.tensor([1.0, 2, 1])) / 4
        fragment = "to_rgbs.0.upsample.kernel is not the [1, 3, 3, 1]"
    elif case == "channels":
        state["convs.0.conv.weight"] = torch.randn(1, 6, 8, 3, 3)  # 6 maps at 8x8: no channel_base gives that
        fragment = "channel counts"
    elif case == "size":
        checkpoint["args"].size = 32
        fragment = "args.size is 32"
    else:
        checkpoint = {"d": {"convs.0.0.weight": torch.ones(1)}}
        fragment = "only a discriminator"
    source = tmp_path / "bad.pt"
    torch.save(checkpoint, source)
    with pytest.raises(CheckpointError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        convert(source, tmp_path / "bad.safetensors", format="stylegan2-rosinality")
    assert not (tmp_path / "bad.safetensors").exists()


def test_each_converter_recognises_only_its_format(tmp_path):
    nvlabs = write_nvlabs_golden(tmp_path / "a.pkl", nvlabs_golden())
    rosinality = write_rosinality_golden(tmp_path / "b.pt", rosinality_golden())
    plain = tmp_path / "c.pt"
    torch.save({"weights": torch.ones(2)}, plain)
    legacy = write_rosinality_golden(tmp_path / "d.pt", rosinality_golden(), legacy=True, latent_avg=False, args=False)
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
