"""The e4e inverter: conformance, the official checkpoint and its decoder, refusals, input resizing.

Checkpoints are written here in the official layout (``torch.save`` of
``{'state_dict': {encoder.*, decoder.*}, 'opts': {...}, 'latent_avg': ...}``,
as omertov/encoder4editing ``training/coach.py`` saves them) around a small
encoder with keyed weights and the rosinality generator of the golden
fixture ``stylegan2_rosinality``, so the decoder's outputs are the official
ones. Parity with the official encoder at full size is
``test_e4e_parity.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.assets import asset_catalog
from lswap_core.cli import app
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError, IncompatibleLatentError
from lswap_core.legacy_pickle import UnsafePickleError
from lswap_core.testing import ConverterConformance, InverterConformance, random_images, seeded
from lswap_plugins.e4e.config import E4EConfig
from lswap_plugins.e4e.network import Encoder4Editing
from lswap_plugins.stylegan2.convert_rosinality import convert_g_ema
from tests.golden import load_golden
from tests.plugins.test_e4e_parity import keyed_encoder_state

runner = CliRunner()
# The encoder of the test checkpoints: 6 rows of 8, for the 16x16 rosinality generator of the golden fixture.
SMALL = E4EConfig(style_count=6, style_dim=8, blocks=(1, 1, 1, 1), width=16, input_size=32)
IMAGE_TOLERANCE = {"rtol": 0.0, "atol": 1e-5}


def small_encoder_state() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        shapes = {key: tuple(value.shape) for key, value in Encoder4Editing(SMALL).state_dict().items()}
    return keyed_encoder_state(shapes)


def official_checkpoint(*, latent_avg: Any = "rows", **opts: Any) -> dict[str, Any]:
    """An e4e checkpoint as the official training saves it, around the small encoder."""
    golden = load_golden("stylegan2_rosinality")
    state = {f"encoder.{key}": value for key, value in small_encoder_state().items()}
    state.update({f"decoder.{key}": golden.state[key].clone() for key in golden.meta["state_keys"]})
    options = {
        "exp_dir": "experiment",
        "encoder_type": "Encoder4Editing",
        "stylegan_size": 16,
        "start_from_latent_avg": True,
        "stylegan_weights": "pretrained_models/stylegan2.pt",
        "checkpoint_path": None,
        "progressive_steps": [0, 20000],
        "lpips_lambda": 0.8,
        **opts,
    }
    checkpoint: dict[str, Any] = {"state_dict": state, "opts": options, "global_step": 300000, "best_val_loss": 0.1}
    if latent_avg == "rows":  # the generator's mean W, repeated per style as training stores it
        checkpoint["latent_avg"] = golden.inputs["latent_avg"].reshape(1, -1).repeat(SMALL.style_count, 1)
    elif latent_avg is not None:
        checkpoint["latent_avg"] = latent_avg
    return checkpoint


def write_checkpoint(path: Path, checkpoint: dict[str, Any] | None = None, **options: Any) -> Path:
    torch.save(checkpoint if checkpoint is not None else official_checkpoint(**options), path)
    return path


def assert_one_line_error(result: Any, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


# -- conformance ---------------------------------------------------------------------------------


class TestE4EInverter(InverterConformance):
    component_name = "e4e"
    preset = "tiny"
    generator_name = "stylegan2"
    generator_preset = "tiny"


class TestE4EConverter(ConverterConformance):
    converter_name = "e4e"

    def make_sample(self, folder: Path) -> Path:
        return write_checkpoint(folder / "e4e_ffhq_encode.pt")


def test_the_default_is_the_official_ffhq_encoder_and_tiny_fits_the_tiny_generator():
    assert E4EConfig() == E4EConfig(style_count=18, style_dim=512, blocks=(3, 4, 14, 3), width=64, input_size=256)
    inverter = lswap_core.load_inverter("e4e", preset="tiny")
    generator = lswap_core.load_generator("stylegan2", preset="tiny")
    assert (inverter.config.style_count, inverter.config.style_dim) == (generator.num_ws, generator.w_dim) == (10, 64)


def test_codes_are_the_encoder_output_plus_latent_avg_in_one_step_per_batch():
    inverter = lswap_core.load_inverter("e4e", preset="tiny")
    generator = lswap_core.load_generator("stylegan2", preset="tiny")
    with torch.no_grad():
        inverter.latent_avg.copy_(torch.randn(10, 64, generator=seeded(3)))
    images = random_images(3, 64, seed=4)
    reports: list[tuple[int, int]] = []
    codes = inverter.invert(
        images, generator, progress=lambda done, total: reports.append((done, total)), batch_size=2
    ).ws
    assert reports == [(1, 2), (2, 2)]
    with torch.no_grad():
        expected = inverter.encoder(images) + inverter.latent_avg
    torch.testing.assert_close(codes, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(inverter.invert(images, generator).ws, codes, rtol=0, atol=1e-6)  # one image a step


def test_a_generator_with_other_codes_is_refused_in_one_line_before_any_step():
    inverter = lswap_core.load_inverter("e4e", preset="tiny")
    other = SimpleNamespace(name="stylegan2", num_ws=14, w_dim=512, resolution=256)
    with pytest.raises(IncompatibleLatentError) as error:
        inverter.invert(random_images(1, 64), other, progress=lambda done, total: pytest.fail("no step may run"))  # type: ignore[arg-type]
    message = str(error.value)
    assert "the e4e encoder makes 10x64 codes; generator 'stylegan2' (256x256) takes 14x512" in message
    assert "\n" not in message


def test_images_are_resized_as_the_official_pil_transform_does():
    # Resize((256, 256)) on the PIL image: PIL's bilinear filter widens with the scale, as
    # interpolate's antialias does; a plain bilinear interpolation would skip most pixels.
    rng = np.random.RandomState(0)
    coarse = torch.from_numpy(rng.randint(0, 256, (1, 3, 64, 64)).astype(np.float32))
    photo = torch.nn.functional.interpolate(coarse, size=(1024, 1024), mode="bicubic").clamp(0, 255).round()[0]
    official = Image.fromarray(photo.permute(1, 2, 0).numpy().astype(np.uint8)).resize((256, 256), Image.BILINEAR)
    expected = torch.from_numpy(np.asarray(official).astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
    inverter = lswap_core.load_inverter("e4e", input_size=256, preset="tiny")
    prepared = lswap_core.conventions.to_convention(photo[None] / 127.5 - 1, inverter.input_convention)[0]
    assert (prepared - expected).abs().max() < 1 / 127.5  # within one grey level (PIL rounds to 8 bits)


# -- the official checkpoint ---------------------------------------------------------------------


def test_the_checkpoint_converts_by_itself_and_encodes_like_its_tensors(tmp_path):
    source = write_checkpoint(tmp_path / "e4e_ffhq_encode.pt")
    assert find_converter(source).name == "e4e"
    output = tmp_path / "e4e.safetensors"
    result = runner.invoke(app, ["convert", str(source), str(output)])
    assert result.exit_code == 0, result.output
    inverter = lswap_core.load_inverter("e4e", weights=output)
    assert inverter.config == SMALL
    checkpoint = official_checkpoint()
    for key, value in inverter.state_dict().items():
        expected = checkpoint["latent_avg"] if key == "latent_avg" else checkpoint["state_dict"][key]
        assert torch.equal(value, expected), key
    x = random_images(2, SMALL.input_size, seed=1)
    with torch.no_grad():
        codes = inverter.encode(x)
        official = Encoder4Editing(SMALL).eval()
        official.load_state_dict(
            {k[len("encoder.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("encoder.")}
        )
        torch.testing.assert_close(codes, official(x) + checkpoint["latent_avg"], rtol=0, atol=1e-6)
    export = lswap_core.checkpoints.read_export(output)
    assert export.provenance["stylegan_size"] == "16" and export.provenance["converter"] == "e4e"


def test_the_decoder_converts_to_the_official_generator(tmp_path):
    golden = load_golden("stylegan2_rosinality")
    source = write_checkpoint(tmp_path / "e4e_ffhq_encode.pt")
    output = tmp_path / "decoder.safetensors"
    result = runner.invoke(app, ["convert", str(source), str(output), "--format", "e4e-decoder"])
    assert result.exit_code == 0, result.output
    generator = lswap_core.load_generator("stylegan2", weights=output)
    assert (generator.num_ws, generator.w_dim, generator.resolution) == (6, 8, 16)
    assert torch.equal(generator.w_avg, golden.inputs["latent_avg"])  # the checkpoint's latent_avg row
    with torch.no_grad():
        image = generator.synthesis(golden.inputs["wplus"].clone(), noise_mode="const")
    torch.testing.assert_close(image, golden.outputs["image_wplus"], **IMAGE_TOLERANCE)
    inverter = lswap_core.load_inverter("e4e", weights=convert(source, tmp_path / "e4e.safetensors"))
    inversion = inverter.invert(image.clamp(-1, 1), generator)  # 16x16 images, resized up to 32
    assert inversion.ws.shape == (2, 6, 8) and inversion.generator_state is None


def test_latent_avg_as_pSp_loads_it(tmp_path):
    one_row = torch.randn(1, 8, generator=seeded(5))
    converted = convert(write_checkpoint(tmp_path / "one.pt", latent_avg=one_row), tmp_path / "one.safetensors")
    assert torch.equal(lswap_core.load_inverter("e4e", weights=converted).latent_avg, one_row.repeat(6, 1))
    source = write_checkpoint(tmp_path / "none.pt", latent_avg=None, start_from_latent_avg=False)
    assert not lswap_core.load_inverter("e4e", weights=convert(source, tmp_path / "none.safetensors")).latent_avg.any()
    source = write_checkpoint(tmp_path / "mean.pt", latent_avg=None)  # computed from the decoder
    estimated = lswap_core.load_inverter("e4e", weights=convert(source, tmp_path / "mean.safetensors")).latent_avg
    golden = load_golden("stylegan2_rosinality")
    w_avg = convert_g_ema(source, golden.state, {}, None).tensors["mapping.w_avg"]
    assert torch.equal(estimated, w_avg.reshape(1, 8).repeat(6, 1))


def test_other_checkpoints_are_not_claimed_and_e4e_is_not_claimed_by_others(tmp_path):
    golden = load_golden("stylegan2_rosinality")
    rosinality = tmp_path / "550000.pt"
    torch.save({"g_ema": dict(golden.state), "latent_avg": golden.inputs["latent_avg"]}, rosinality)
    assert find_converter(rosinality).name == "stylegan2-rosinality"
    psp = write_checkpoint(tmp_path / "psp_ffhq_encode.pt", encoder_type="GradualStyleEncoder")
    e4e = write_checkpoint(tmp_path / "e4e_ffhq_encode.pt")
    from lswap_core.registry import get_registry

    for entry in get_registry("converter").entries():
        assert entry.cls.sniff(e4e) == (entry.name == "e4e"), entry.name
        assert not (entry.name == "e4e" and entry.cls.sniff(psp))
        assert not (entry.name == "e4e" and entry.cls.sniff(rosinality))


def refused_files(folder: Path) -> dict[str, tuple[Path, str]]:
    files: dict[str, tuple[Path, str]] = {}
    files["pSp"] = (
        write_checkpoint(folder / "psp.pt", encoder_type="GradualStyleEncoder"),
        "GradualStyleEncoder encoder (pSp)",
    )
    files["size"] = write_checkpoint(folder / "size.pt", stylegan_size=32), "stylegan_size 32 means 8 style heads"
    checkpoint = official_checkpoint()
    del checkpoint["state_dict"]["encoder.latlayer2.bias"]
    files["missing"] = write_checkpoint(folder / "missing.pt", checkpoint), "missing: latlayer2.bias"
    checkpoint = official_checkpoint()
    checkpoint["state_dict"]["encoder.styles.2.linear.bias"] = torch.zeros(9)
    files["shape"] = write_checkpoint(folder / "shape.pt", checkpoint), "wrong shape: styles.2.linear.bias"
    files["latent_avg"] = (
        write_checkpoint(folder / "avg.pt", latent_avg=torch.zeros(3, 5)),
        "latent_avg has shape (3, 5)",
    )
    files["no state"] = write_checkpoint(folder / "opts.pt", {"opts": {"stylegan_size": 16}}), "holds no state_dict"
    whole = write_checkpoint(folder / "whole.pt").read_bytes()
    (folder / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    files["truncated"] = folder / "truncated.pt", "truncated"
    return files


@pytest.mark.parametrize("case", ["pSp", "size", "missing", "shape", "latent_avg", "no state", "truncated"])
def test_refusals_are_one_line_errors_and_write_nothing(tmp_path, case):
    source, fragment = refused_files(tmp_path)[case]
    output = tmp_path / "out.safetensors"
    assert_one_line_error(runner.invoke(app, ["convert", str(source), str(output), "--format", "e4e"]), fragment)
    assert not output.exists()


def test_a_truncated_file_is_one_line_without_format_too(tmp_path):
    source, fragment = refused_files(tmp_path)["truncated"]
    for extra in ([], ["--format", "e4e-decoder"]):
        assert_one_line_error(
            runner.invoke(app, ["convert", str(source), str(tmp_path / "out.safetensors"), *extra]), fragment
        )


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("format", [None, "e4e", "e4e-decoder"])
def test_a_checkpoint_calling_os_system_is_refused_without_running_it(tmp_path, format):
    marker = tmp_path / "pwned"
    checkpoint = official_checkpoint()
    checkpoint["opts"]["payload"] = _Exploit(marker)
    source = write_checkpoint(tmp_path / "evil.pt", checkpoint)
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        convert(source, tmp_path / "evil.safetensors", format=format)
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


def test_a_decoder_less_checkpoint_is_refused_by_the_decoder_converter(tmp_path):
    checkpoint = official_checkpoint()
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("encoder.")}
    source = write_checkpoint(tmp_path / "encoder_only.pt", checkpoint)
    with pytest.raises(CheckpointError, match="no decoder"):
        convert(source, tmp_path / "g.safetensors", format="e4e-decoder")


def test_the_official_file_is_an_asset_of_this_plugin_converted_on_fetch():
    entries, _ = asset_catalog()
    entry = entries["e4e-ffhq"]
    assert entry.plugin == "e4e"
    assert "drive.google.com" in entry.asset.manual and entry.asset.files[0].name == "e4e_ffhq_encode.pt"
    assert [(c.output, c.converter) for c in entry.asset.conversions] == [
        ("e4e-ffhq.safetensors", "e4e"),
        ("e4e-ffhq-decoder.safetensors", "e4e-decoder"),
    ]


def test_fetching_the_asset_converts_the_encoder_and_its_generator(tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    source = write_checkpoint(tmp_path / "e4e_ffhq_encode.pt")
    result = runner.invoke(app, ["weights", "fetch", "e4e-ffhq", "--from", str(source)])
    assert result.exit_code == 0, result.output
    inverter = lswap_core.load_inverter("e4e", weights="e4e-ffhq")
    generator = lswap_core.load_generator("stylegan2", weights="e4e-ffhq")
    inverter.check_generator(generator)
    assert (generator.num_ws, generator.w_dim) == (SMALL.style_count, SMALL.style_dim)
