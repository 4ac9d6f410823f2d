"""The ``pti`` inverter against danielroich/PTI's own code.

Two golden fixtures (``tests/fixtures/README.md``) were recorded by running
PTI's projector and coaches on the NVlabs golden generator
(``stylegan2_nvlabs.safetensors``): the W trajectory of a 450-step
projection (pixel features in place of NVIDIA's VGG16), and the losses and
tuned tensors of single-image tuning (with and without the LPIPS early stop)
and of multi-image tuning, with LPIPS-VGG on keyed random weights that the
tests rebuild here from the key names.
"""

from __future__ import annotations

import functools
import threading
import zlib
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from lswap_plugins.perceptual.convert import lpips_tensors
from lswap_plugins.perceptual.lpips import LPIPS
from lswap_plugins.pti.config import PTIConfig
from lswap_plugins.pti.projector import Projector, learning_rate, pixel_features
from lswap_plugins.pti.tuning import PivotalTuner

import lswap_core
from lswap_core.errors import Cancelled, ConfigError, InputError, InversionError
from lswap_core.testing import InverterConformance, seeded
from tests.golden import Golden, load_golden
from tests.plugins.test_stylegan2_convert import fresh, nvlabs_generator

# Measured against the official code when the fixtures were recorded: the W trajectory within
# 2.2e-7 over all 450 steps (the bar: 1e-5 for the first steps, 1e-3 relative at the end);
# tuning losses within 4.3e-7 relative, tuned tensors within 2.4e-7.
TRAJECTORY_TOLERANCE = {"rtol": 0.0, "atol": 1e-5}
LOSS_TOLERANCE = {"rtol": 1e-4, "atol": 1e-7}
TUNED_TOLERANCE = {"rtol": 0.0, "atol": 1e-5}


@functools.cache
def projection_golden() -> Golden:
    return fresh(load_golden("pti_projection"))


@functools.cache
def tuning_golden() -> Golden:
    return fresh(load_golden("pti_tuning"))


def keyed(key: str, shape: torch.Size, kind: str) -> torch.Tensor:
    """The fixtures' keyed random weights: one generator per tensor, seeded with the CRC-32 of its key."""
    values = torch.randn(shape, generator=torch.Generator().manual_seed(zlib.crc32(key.encode())))
    if kind == "conv":
        return values * (2.0 / (shape[1] * shape[2] * shape[3])) ** 0.5
    return 0.01 * values if kind == "bias" else 0.1 * values.abs()


@functools.cache
def keyed_lpips_vgg() -> LPIPS:
    """LPIPS-VGG whose trunk and heads hold the fixtures' keyed weights, loaded through the official layouts."""
    model = LPIPS("vgg", pretrained=False)
    trunk = {f"features.{name}": keyed(f"features.{name}", p.shape, "conv" if p.ndim == 4 else "bias")
             for name, p in model.features.named_parameters()}
    heads = {f"lin{k}.model.1.weight": keyed(f"lin{k}.model.1.weight", lin.weight.shape, "lin") for k, lin in enumerate(model.lins)}
    model.load_state_dict(lpips_tensors(heads, trunk, "vgg", Path("keyed")))
    return model


@pytest.fixture(scope="module")
def golden_generator(tmp_path_factory):
    return nvlabs_generator(tmp_path_factory.mktemp("pti-generator"))


# -- the W projection ---------------------------------------------------------------------------------


def test_the_learning_rate_schedule_is_the_official_one():
    official = projection_golden().outputs["lr"].tolist()
    config = PTIConfig(projection_steps=len(official))
    assert [learning_rate(step, config) for step in range(len(official))] == pytest.approx(official, rel=1e-12, abs=0)
    assert official[0] == 0.0  # step 0 moves nothing, while Adam counts it


def test_projection_follows_the_official_trajectory(golden_generator):
    golden = projection_golden()
    steps = golden.outputs["w_trajectory"].shape[0]
    projector = Projector(golden_generator, pixel_features, PTIConfig(projection_steps=steps, projection_features="pixels"))
    torch.testing.assert_close(projector.w_avg[0, 0], golden.outputs["w_avg"], rtol=0, atol=1e-6)
    assert projector.w_std == pytest.approx(golden.outputs["w_std"].item(), rel=1e-6)
    codes, trajectory = projector.project(golden.inputs["target"], seeded(0))  # the official run: torch.manual_seed(0)
    torch.testing.assert_close(torch.stack(trajectory), golden.outputs["w_trajectory"], **TRAJECTORY_TOLERANCE)
    assert codes.shape == (golden_generator.num_ws, golden_generator.w_dim)  # all rows, not a hard-coded 18
    torch.testing.assert_close(codes, golden.outputs["w"], **TRAJECTORY_TOLERANCE)


def test_projection_leaves_the_generator_and_its_noise_alone(golden_generator):
    before = {key: value.clone() for key, value in golden_generator.state_dict().items()}
    Projector(golden_generator, pixel_features, PTIConfig(projection_steps=3)).project(projection_golden().inputs["target"], seeded(0))
    for key, value in golden_generator.state_dict().items():
        assert torch.equal(value, before[key]), key


# -- pivotal tuning ----------------------------------------------------------------------------------


def tuner_for(generator, **config) -> PivotalTuner:
    return PivotalTuner(generator, keyed_lpips_vgg(), PTIConfig(lpips_net="vgg", perceptual_init="random", **config))


def assert_tuned(tuner: PivotalTuner, golden: Golden, run: str) -> None:
    prefix = f"{run}_tuned/"
    expected = {key[len(prefix) :]: value for key, value in golden.outputs.items() if key.startswith(prefix)}
    changed = tuner.changed_tensors()
    assert set(changed) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(changed[key], value, **TUNED_TOLERANCE, msg=key)


def losses_of(tuner: PivotalTuner) -> torch.Tensor:
    return torch.tensor([[step.loss, step.l2, step.lpips] for step in tuner.history], dtype=torch.float64)


def test_single_image_tuning_matches_the_official_coach(golden_generator):
    golden = tuning_golden()
    tuner = tuner_for(golden_generator, tuning_steps=30, lpips_threshold=0.0)
    tuner.tune_single(golden.inputs["single_pivots"], golden.inputs["image_a"][None], seeded(0))
    torch.testing.assert_close(losses_of(tuner), golden.outputs["single_losses"], **LOSS_TOLERANCE)
    assert_tuned(tuner, golden, "single")


def test_single_image_tuning_stops_at_the_lpips_threshold_before_that_step(golden_generator):
    golden = tuning_golden()
    threshold = golden.outputs["early_threshold"].item()
    tuner = tuner_for(golden_generator, tuning_steps=30, lpips_threshold=threshold)
    tuner.tune_single(golden.inputs["single_pivots"], golden.inputs["image_a"][None], seeded(0))
    torch.testing.assert_close(losses_of(tuner), golden.outputs["early_losses"], **LOSS_TOLERANCE)
    assert len(tuner.history) == 6 and tuner.history[-1].lpips <= threshold < tuner.history[-2].lpips
    assert_tuned(tuner, golden, "early")


def test_multi_image_tuning_matches_the_official_coach(golden_generator):
    golden = tuning_golden()
    tuner = tuner_for(golden_generator, tuning_steps=10, lpips_threshold=0.06)
    images = torch.stack([golden.inputs["image_a"], golden.inputs["image_b"]])
    tuner.tune_jointly(golden.inputs["multi_pivots"], images, seeded(0))
    assert [step.image for step in tuner.history] == [0, 1] * 10  # one step per image in turn, never stopping early
    torch.testing.assert_close(losses_of(tuner), golden.outputs["multi_losses"], **LOSS_TOLERANCE)
    assert_tuned(tuner, golden, "multi")


def test_the_locality_regulariser_is_zero_before_the_first_update_and_pulls_afterwards(golden_generator):
    golden = tuning_golden()
    plain = tuner_for(golden_generator, tuning_steps=3, lpips_threshold=0.0)
    regularised = tuner_for(golden_generator, tuning_steps=3, lpips_threshold=0.0, locality_regularization=True)
    for tuner in (plain, regularised):
        tuner.tune_single(golden.inputs["single_pivots"], golden.inputs["image_a"][None], seeded(0))
    assert regularised.history[0].loss == pytest.approx(plain.history[0].loss, rel=1e-6)  # the tuned G is still the original
    assert regularised.history[1].loss > plain.history[1].loss


# -- the inverter -------------------------------------------------------------------------------------


def tiny_pti(**config):
    return lswap_core.load_inverter("pti", preset="tiny", **config)


@pytest.fixture(scope="module")
def tiny_generator():
    return lswap_core.load_generator("stylegan2", preset="tiny", init_seed=1)


def photos_of(generator, count: int, seed: int = 4) -> torch.Tensor:
    with torch.no_grad():
        z = torch.randn(count, generator.z_dim, generator=seeded(seed))
        return generator.synthesis(generator.mapping(z)).clamp(-1, 1)


def test_modes_tune_on_the_images_they_name(tiny_generator):
    images = photos_of(tiny_generator, 2)
    multi, target = tiny_pti(mode="multi"), tiny_pti(mode="target")
    multi.invert(images, tiny_generator, rng=seeded(0))
    target_inversion = target.invert(images, tiny_generator, rng=seeded(0))
    assert [step.image for step in multi.tuning_history] == [0, 1] * multi.config.tuning_steps
    assert {step.image for step in target.tuning_history} == {1}  # the target (last) only; the source is only projected
    assert target_inversion.ws.shape == (2, tiny_generator.num_ws, tiny_generator.w_dim)
    assert set(target_inversion.seconds) == {"projection", "tuning"}
    with pytest.raises(InputError, match="one generator per image"):
        tiny_pti().invert(images, tiny_generator)


def test_tuning_improves_the_reconstruction_and_keeps_the_generator(tiny_generator):
    image = photos_of(tiny_generator, 1, seed=9)
    before = {key: value.clone() for key, value in tiny_generator.state_dict().items()}
    inversion = tiny_pti(tuning_steps=20, tuning_lr=3e-3).invert(image, tiny_generator, rng=seeded(0))
    assert inversion.generator_state and set(inversion.generator_state) <= set(before)
    with torch.no_grad():
        projected = tiny_generator.synthesis(inversion.ws)
        tuned = inversion.apply(tiny_generator).synthesis(inversion.ws)
    assert (tuned - image).square().mean() < 0.8 * (projected - image).square().mean()
    for key, value in tiny_generator.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_a_non_finite_loss_names_the_stage_and_the_step(tiny_generator):
    image = photos_of(tiny_generator, 1) * float("nan")
    with pytest.raises(InversionError, match=r"projection's loss became nan at step 1 of 8"):
        tiny_pti().invert(image, tiny_generator, rng=seeded(0))
    with pytest.raises(InversionError, match=r"tuning loss became nan at step 1 of 4"):
        tiny_pti(projection_steps=0).invert(image, tiny_generator, rng=seeded(0))


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="projection_lr must be positive"):
        tiny_pti(projection_lr=0.0)
    with pytest.raises(ConfigError, match="mode"):
        tiny_pti(mode="all")
    with pytest.raises(ConfigError, match="e4e_weights"):
        tiny_pti(pivot="e4e")


def test_cancelling_stops_between_projection_steps(tiny_generator):
    cancel = threading.Event()
    reports = []

    def cancel_at_third(done, total):
        reports.append(done)
        if done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        tiny_pti().invert(photos_of(tiny_generator, 1), tiny_generator, progress=cancel_at_third, cancel=cancel)
    assert reports == [1, 2, 3]


class TestMultiConformance(InverterConformance):
    component_name = "pti"
    preset = "tiny"
    config: ClassVar[dict[str, object]] = {"mode": "multi"}
    generator_name = "stylegan2"
    generator_preset = "tiny"


class TestTargetConformance(TestMultiConformance):
    config: ClassVar[dict[str, object]] = {"mode": "target"}


def test_e4e_pivots_skip_the_projection(tiny_generator):
    image = photos_of(tiny_generator, 1)
    pti = tiny_pti(pivot="e4e", e4e_preset="tiny")
    inversion = pti.invert(image, tiny_generator, rng=seeded(0))
    encoded = lswap_core.load_inverter("e4e", preset="tiny").invert(image, tiny_generator).ws
    torch.testing.assert_close(inversion.ws, encoded)
    assert set(inversion.seconds) == {"encoding", "tuning"} and inversion.generator_state


def test_a_photo_keeps_its_pivot_whoever_it_is_inverted_with(tiny_generator):
    a, b, c = photos_of(tiny_generator, 3, seed=11)
    pti = tiny_pti(mode="multi")
    first = pti.invert(torch.stack([a, b]), tiny_generator, rng=seeded(0))
    reports = []
    second = pti.invert(torch.stack([c, b]), tiny_generator, rng=seeded(0), progress=lambda done, total: reports.append(total))
    assert torch.equal(first.ws[1], second.ws[1])  # b's pivot, reused
    assert reports[-1] == pti.config.projection_steps + pti.config.tuning_steps  # only c was projected
    fresh = tiny_pti(mode="multi").invert(torch.stack([c, b]), tiny_generator, rng=seeded(0))
    assert torch.equal(fresh.ws, second.ws)  # the same as without the earlier inversion
    assert not any(module is tiny_generator for module in pti.modules())  # the cache holds it outside the state
