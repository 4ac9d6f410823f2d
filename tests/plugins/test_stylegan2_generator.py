"""The StyleGAN2 generator: conformance, geometry, truncation, and the fast path against the reference."""

from __future__ import annotations

import itertools

import pytest
import torch

import lswap_core
from lswap_core.errors import ConfigError, IncompatibleLatentError, InputError
from lswap_core.testing import GeneratorConformance, seeded
from lswap_plugins.stylegan2 import fast
from lswap_plugins.stylegan2.config import StyleGAN2Config
from lswap_plugins.stylegan2.generator import StyleGAN2Generator

SMALL = {"resolution": 16, "z_dim": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8, "mapping_layers": 2}


class TestStyleGAN2Conformance(GeneratorConformance):
    component_name = "stylegan2"
    preset = "tiny"
    # Untrained, the skip architecture sums one unit-variance RGB image per block: std ~2, peaks ~12.
    output_bound = 16.0


def small_generator(**overrides) -> StyleGAN2Generator:
    """A random generator whose biases and noise strengths are not zero, so every parameter matters."""
    torch.manual_seed(0)
    generator = StyleGAN2Generator(StyleGAN2Config(**{**SMALL, **overrides}))
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                parameter.add_(torch.randn(parameter.shape, generator=seeded(len(name))) * 0.3)
        generator.w_avg.copy_(generator.mean_w(256))
    return generator.eval()


@pytest.mark.parametrize(
    ("resolution", "num_ws"), [(8, 4), (16, 6), (64, 10), (256, 14), (1024, 18)]
)
def test_num_ws_and_layer_resolutions_follow_the_blocks(resolution, num_ws):
    # channel_base == resolution keeps the 1024x1024 network tiny (one feature map at the top).
    config = StyleGAN2Config(resolution=resolution, channel_base=resolution, channel_max=4, z_dim=4, w_dim=4)
    generator = StyleGAN2Generator(config)
    assert generator.num_ws == num_ws
    expected = [4, 4] + [r for r in (2**k for k in range(3, resolution.bit_length())) for _ in (0, 1)]
    assert list(generator.layer_resolutions) == expected


def test_presets_match_the_official_architectures():
    ffhq = StyleGAN2Config(**StyleGAN2Generator.presets["ffhq1024"])
    assert [ffhq.channels(r) for r in ffhq.block_resolutions] == [512, 512, 512, 512, 512, 256, 128, 64, 32]
    paper = StyleGAN2Config(**StyleGAN2Generator.presets["paper256"])
    assert [paper.channels(r) for r in paper.block_resolutions] == [512, 512, 512, 512, 256, 128, 64]
    assert paper.conv_clamp == 256
    tiny = lswap_core.load_generator("stylegan2", preset="tiny")
    assert (tiny.resolution, tiny.num_ws, tiny.w_dim) == (64, 10, 64)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"resolution": 48}, "power of two"),
        ({"resolution": 4096}, "power of two"),
        ({"resolution": 64, "channel_base": 32}, "channel_base 32 leaves no feature maps"),
        ({"channel_max": 0}, "channel_max must be at least 1"),
        ({"conv_clamp": -1.0}, "conv_clamp must be positive"),
    ],
)
def test_unsupported_configurations_are_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        lswap_core.load_generator("stylegan2", **values)


def test_state_dict_uses_nvlabs_names():
    keys = set(small_generator().state_dict())
    for key in (
        "mapping.fc0.weight",
        "mapping.fc1.bias",
        "mapping.w_avg",
        "synthesis.b4.const",
        "synthesis.b4.conv1.affine.weight",
        "synthesis.b4.conv1.noise_const",
        "synthesis.b8.conv0.weight",
        "synthesis.b16.conv1.noise_strength",
        "synthesis.b16.torgb.bias",
    ):
        assert key in keys
    assert not any("resample_filter" in key for key in keys)  # rebuilt from the architecture


def test_truncation_pulls_rows_towards_w_avg():
    generator = small_generator()
    z = torch.randn(3, 8, generator=seeded(2))
    with torch.no_grad():
        free = generator.mapping(z)
        half = generator.mapping(z, truncation_psi=0.5)
        cut = generator.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(half, generator.w_avg + 0.5 * (free - generator.w_avg))
    torch.testing.assert_close(cut[:, :2], half[:, :2])
    torch.testing.assert_close(cut[:, 2:], free[:, 2:])
    assert torch.equal(free[:, 0], free[:, -1])  # W broadcast to W+


def test_w_avg_is_tracked_only_in_training():
    generator = small_generator()
    before = generator.w_avg.clone()
    z = torch.randn(4, 8, generator=seeded(3))
    generator.mapping(z)
    assert torch.equal(generator.w_avg, before)
    generator.train()
    w = generator.mapping_network.embed(z).detach()
    generator.mapping(z)
    torch.testing.assert_close(generator.w_avg, w.mean(0).lerp(before, 0.995))


def test_bad_inputs_are_clear_errors():
    generator = small_generator()
    with pytest.raises(IncompatibleLatentError, match=r"takes \(N, 6, 8\)"):
        generator.synthesis(torch.zeros(1, 5, 8))
    with pytest.raises(IncompatibleLatentError, match=r"takes \(N, 8\)"):
        generator.mapping(torch.zeros(1, 9))
    ws = torch.zeros(1, 6, 8)
    with pytest.raises(InputError, match="noise mode"):
        generator.synthesis(ws, noise_mode="loud")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no camera"):
        generator.synthesis(ws, camera=torch.zeros(1, 25))
    with pytest.raises(InputError, match="unknown synthesis implementation"):
        generator.synthesis(ws, impl="cuda")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="cutoff 9"):
        generator.mapping(torch.zeros(1, 8), truncation_cutoff=9)


def test_random_noise_follows_the_rng():
    generator = small_generator()
    ws = generator.mapping(torch.randn(2, 8, generator=seeded(4)))
    with torch.no_grad():
        first = generator.synthesis(ws, noise_mode="random", rng=seeded(9))
        again = generator.synthesis(ws, noise_mode="random", rng=seeded(9))
        other = generator.synthesis(ws, noise_mode="random", rng=seeded(10))
        const = generator.synthesis(ws, noise_mode="const")
        none = generator.synthesis(ws, noise_mode="none")
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert not torch.allclose(const, none)


CASES = list(itertools.product([None, 0.7], [True, False], [1, 3], ["const", "random", "none"]))


@pytest.mark.parametrize(("clamp", "split", "batch", "noise_mode"), CASES)
def test_fast_path_matches_the_reference_in_value_and_gradient(monkeypatch, clamp, split, batch, noise_mode):
    # float64 makes any difference in the arithmetic, not rounding, visible. `split`: run the
    # blocks from 8x8 up one sample at a time, or every block batched.
    monkeypatch.setattr(fast, "PER_SAMPLE_FROM", 8 if split else 1 << 30)
    generator = small_generator(conv_clamp=clamp).double()
    ws = (torch.randn(batch, generator.num_ws, 8, generator=seeded(5), dtype=torch.float64) * 1.5).requires_grad_(True)
    peaks: list[float] = []  # largest activation of each synthesis layer call
    for module in generator.modules():
        if type(module).__name__ == "SynthesisLayer":
            module.register_forward_hook(lambda m, i, o: peaks.append(o.detach().abs().max().item()))
    results = {}
    for impl in ("reference", "auto"):
        generator.zero_grad()
        ws.grad = None
        image = generator.synthesis(ws, noise_mode=noise_mode, impl=impl, rng=seeded(6))
        (image * torch.randn(image.shape, generator=seeded(7), dtype=torch.float64)).sum().backward()
        grads = {name: p.grad.clone() for name, p in generator.named_parameters() if p.grad is not None}
        results[impl] = image.detach(), ws.grad.clone(), grads
    (ref_image, ref_ws, ref_grads), (image, ws_grad, grads) = results["reference"], results["auto"]
    torch.testing.assert_close(image, ref_image, rtol=0, atol=1e-12)
    torch.testing.assert_close(ws_grad, ref_ws, rtol=0, atol=1e-12)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=0, atol=1e-11, msg=name)
    if clamp is not None:  # the case exercised clamped activations in both paths
        half = len(peaks) // 2
        assert max(peaks[:half]) == pytest.approx(clamp) and max(peaks[half:]) == pytest.approx(clamp)


def test_reference_modulation_variants_agree():
    generator = small_generator()
    ws = generator.mapping(torch.randn(2, 8, generator=seeded(8)))
    with torch.no_grad():
        fused = generator.synthesis(ws, impl="reference", fused_modconv=True)
        scaled = generator.synthesis(ws, impl="reference", fused_modconv=False)
    torch.testing.assert_close(fused, scaled, rtol=0, atol=1e-5)


def test_double_backward_through_the_fast_path_is_refused():
    generator = small_generator()
    ws = generator.mapping(torch.randn(1, 8, generator=seeded(9))).detach().requires_grad_(True)
    image = generator.synthesis(ws)
    (grad,) = torch.autograd.grad(image.sum(), ws, create_graph=True)
    with pytest.raises(RuntimeError, match="(?i)once_differentiable|double backward|does not require grad"):
        grad.sum().backward()


def test_mean_w_is_seeded():
    generator = small_generator()
    torch.testing.assert_close(generator.mean_w(64, rng=seeded(1)), generator.mean_w(64, rng=seeded(1)))
    assert generator.mean_w(64, rng=seeded(1)).shape == (8,)
    z = torch.randn(64, 8, generator=seeded(1))
    torch.testing.assert_close(generator.mean_w(64, rng=seeded(1)), generator.mapping(z)[:, 0].mean(0))


def test_cached_weight_forms_follow_weight_updates():
    # A frozen generator caches kernel norms and transposed kernels; changing weights must refresh them.
    generator = small_generator().requires_grad_(False)
    ws = generator.mapping(torch.randn(2, 8, generator=seeded(11)))
    with torch.no_grad():
        before = generator.synthesis(ws)
        for name, parameter in generator.named_parameters():
            if name.endswith("conv0.weight") or name.endswith("conv1.weight"):
                parameter.mul_(torch.rand(parameter.shape, generator=seeded(12)) + 0.5)
        after = generator.synthesis(ws)
        expected = generator.synthesis(ws, impl="reference")
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, rtol=0, atol=1e-4)
