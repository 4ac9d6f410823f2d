"""StyleGAN2 synthesis under autocast (bf16, fp16) against float32, forward and backward to ``ws``,
through every branch of both paths: per-sample (128² and up) and batched blocks, noise on and off,
the clamp active and not.

Stated tolerances (measured here on the CPU, about half these):
- bf16: image within 2 % of its range, ``ws`` gradient within 15 % relative (cosine ≥ 0.99);
- fp16: image within 0.5 % of its range, ``ws`` gradient within 5 % relative.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from lswap_plugins.stylegan2.config import StyleGAN2Config
from lswap_plugins.stylegan2.generator import StyleGAN2Generator

from lswap_core.config import load_config
from lswap_core.training import train

TOLERANCES = {torch.bfloat16: (0.02, 0.15), torch.float16: (0.005, 0.05)}  # image (of its range), gradient (relative)


def generator(clamp: float | None) -> StyleGAN2Generator:
    torch.manual_seed(0)
    model = StyleGAN2Generator(
        StyleGAN2Config(resolution=128, w_dim=512, z_dim=512, channel_base=1024, channel_max=32, conv_clamp=clamp)
    ).eval().requires_grad_(False)
    with torch.no_grad():  # non-zero biases and noise strengths, so every term of the layer counts
        for parameter in model.parameters():
            if parameter.ndim <= 1:
                parameter += 0.3 * torch.randn_like(parameter)
    return model


def render(model: StyleGAN2Generator, ws: torch.Tensor, dtype: torch.dtype | None, mode: str, impl: str) -> tuple[torch.Tensor, torch.Tensor]:
    codes = ws.clone().requires_grad_(True)
    weights = torch.randn(ws.shape[0], 3, 128, 128, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        image = model.synthesis(codes, noise_mode=mode, impl=impl)
    (image.float() * weights).sum().backward()
    return image.detach().float(), codes.grad


@pytest.mark.parametrize(
    ("clamp", "mode", "impl"), list(itertools.product([None, 0.5], ["const", "none"], ["auto", "reference", "kernels"]))
)
def test_reduced_precision_follows_float32(clamp, mode, impl):
    model = generator(clamp)
    ws = model.mapping(torch.randn(2, 512, generator=torch.Generator().manual_seed(1))).detach()
    reference_image, reference_grad = render(model, ws, None, mode, impl)
    for dtype, (image_tolerance, grad_tolerance) in TOLERANCES.items():
        image, grad = render(model, ws, dtype, mode, impl)
        assert torch.isfinite(image).all() and torch.isfinite(grad).all()
        assert (image - reference_image).abs().max() <= image_tolerance * reference_image.abs().max(), dtype
        relative = (grad - reference_grad).norm() / reference_grad.norm()
        assert relative <= grad_tolerance, (dtype, float(relative))
        assert torch.nn.functional.cosine_similarity(grad.flatten(), reference_grad.flatten(), dim=0) >= 0.99


def test_bf16_training_with_a_512_wide_generator(tmp_path):
    """The configuration whose bf16 backward used to fail (a 64² generator with w_dim 512)."""
    overrides = ["generator.options={resolution: 64, w_dim: 512, z_dim: 512, channel_base: 1024, channel_max: 32}",
                 "generator.preset=null", "mixer.hidden=[64, 64]", "train.precision=bf16", "train.steps=2",
                 "train.batch_size=2", "train.validation_pairs=2", "train.device=cpu"]
    result = train(load_config("tiny", overrides, kind="train"), tmp_path / "run")
    assert result.steps_done == 2 and all(torch.isfinite(torch.tensor(v)) for v in result.final_metrics.values())


def test_weight_gradients_under_autocast_as_pti_tunes():
    """Tuning calls backward inside the autocast block: the layer's own backward must not be cast."""
    import lswap_core

    model = lswap_core.load_generator("stylegan2", preset="tiny")
    image = model.synthesis(model.mapping(torch.randn(1, model.z_dim, generator=torch.Generator().manual_seed(3)))).detach().clamp(-1, 1)
    pti = lswap_core.load_inverter("pti", preset="tiny")
    for dtype in TOLERANCES:
        with torch.autocast("cpu", dtype=dtype):
            inversion = pti.invert(image, model, rng=torch.Generator().manual_seed(0))
        assert inversion.generator_state and all(torch.isfinite(t).all() for t in inversion.generator_state.values())


@pytest.mark.parametrize("impl", ["auto", "reference"])
@pytest.mark.parametrize("blocks", [1, 3, 6])
def test_float16_in_the_highest_resolutions_follows_float32(impl, blocks):
    """NVlabs' num_fp16_res: the top blocks under float16 autocast, the image back in float32, within
    the fp16 tolerances (6 is every block of this 128² generator)."""
    model = generator(0.5)
    ws = model.mapping(torch.randn(2, 512, generator=torch.Generator().manual_seed(1))).detach()
    weights = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(2))

    def run(num_fp16_res: int) -> tuple[torch.Tensor, torch.Tensor]:
        codes = ws.clone().requires_grad_(True)
        image = model.synthesis(codes, impl=impl, num_fp16_res=num_fp16_res)
        (image * weights).sum().backward()
        return image.detach(), codes.grad

    reference_image, reference_grad = run(0)
    image, grad = run(blocks)
    image_tolerance, grad_tolerance = TOLERANCES[torch.float16]
    assert image.dtype == torch.float32 and not torch.equal(image, reference_image)
    assert (image - reference_image).abs().max() <= image_tolerance * reference_image.abs().max()
    assert (grad - reference_grad).norm() <= grad_tolerance * reference_grad.norm()


def test_the_kernels_path_is_the_reference_algorithm():
    """On a CPU the project's ops run their PyTorch paths: the kernels path is NVlabs' algorithm."""
    model = generator(0.5)
    ws = model.mapping(torch.randn(2, 512, generator=torch.Generator().manual_seed(1))).detach()
    reference_image, reference_grad = render(model, ws, None, "const", "reference")
    image, grad = render(model, ws, None, "const", "kernels")
    assert (image - reference_image).abs().max() <= 1e-5 * reference_image.abs().max()
    assert (grad - reference_grad).norm() <= 1e-5 * reference_grad.norm()
    with pytest.raises(Exception, match="num_fp16_res 7 is outside 0..6"):
        model.synthesis(ws, num_fp16_res=7)
