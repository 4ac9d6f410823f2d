"""The latent mixer: architecture, parameter count, official layout, exports."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lswap_core.checkpoints import save_export
from lswap_core.errors import CheckpointError, IncompatibleLatentError
from lswap_core.mixer import LatentMixer, MixerConfig, load_mixer, mixer_for, save_mixer
from tests.support import ToyConfig, ToyGenerator


def per_row_reference(mixer: LatentMixer, source, target):
    """The official layout: one nn.Sequential of five Linear layers per W+ row, SiLU between."""
    outputs = []
    for row in range(source.shape[1]):
        layers = []
        for k, (weight, bias) in enumerate(zip(mixer.weights, mixer.biases)):
            linear = nn.Linear(weight.shape[2], weight.shape[1])
            linear.weight.data = weight[row].detach().clone()
            linear.bias.data = bias[row, 0].detach().clone()
            layers += [linear, nn.SiLU()] if k < len(mixer.weights) - 1 else [linear]
        outputs.append(nn.Sequential(*layers)(torch.cat([source[:, row], target[:, row]], dim=1)))
    return torch.stack(outputs, dim=1) + mixer.config.residual_coefficient * target


def test_parameter_count_matches_the_official_mixer():
    mixer = LatentMixer(MixerConfig(num_ws=18, w_dim=512))
    assert sum(p.numel() for p in mixer.parameters()) == 56_687_616


def test_stacked_rows_compute_what_separate_mlps_compute():
    mixer = LatentMixer(MixerConfig(num_ws=4, w_dim=8, hidden=(16, 16, 8, 8), residual_coefficient=0.5))
    source, target = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    torch.testing.assert_close(mixer(source, target), per_row_reference(mixer, source, target), rtol=1e-5, atol=1e-5)


def test_rows_are_independent():
    mixer = LatentMixer(MixerConfig(num_ws=3, w_dim=4, hidden=(8,)))
    source, target = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    changed = source.clone()
    changed[:, 1] += 1
    before, after = mixer(source, target), mixer(changed, target)
    assert torch.equal(before[:, [0, 2]], after[:, [0, 2]]) and not torch.equal(before[:, 1], after[:, 1])


def test_w_and_z_spaces_share_one_mlp():
    w_mixer = LatentMixer(MixerConfig(num_ws=5, w_dim=6, space="w", hidden=(8,)))
    assert w_mixer.groups == 1
    w_s, w_t = torch.randn(2, 6), torch.randn(2, 6)
    single = w_mixer(w_s, w_t)
    broadcast = w_mixer(w_s[:, None].expand(-1, 5, -1), w_t[:, None].expand(-1, 5, -1))
    assert broadcast.shape == (2, 5, 6) and torch.allclose(broadcast, single[:, None].expand(-1, 5, -1))
    z_mixer = LatentMixer(MixerConfig(num_ws=5, w_dim=6, space="z", hidden=(8,)))
    assert z_mixer(w_s, w_t).shape == (2, 6)


def test_identical_weights_make_zero_residual_when_coefficient_is_zero():
    mixer = LatentMixer(MixerConfig(num_ws=2, w_dim=4, hidden=(8,), residual_coefficient=0.0))
    for weight in mixer.weights:
        nn.init.zeros_(weight)
    for bias in mixer.biases:
        nn.init.zeros_(bias)
    assert torch.equal(mixer(torch.randn(1, 2, 4), torch.randn(1, 2, 4)), torch.zeros(1, 2, 4))


def test_wrong_shapes_are_clear_errors():
    mixer = LatentMixer(MixerConfig(num_ws=18, w_dim=512, hidden=(8,)))
    with pytest.raises(IncompatibleLatentError, match=r"\(N, 18, 512\), got \(1, 21, 512\)"):
        mixer(torch.zeros(1, 21, 512), torch.zeros(1, 21, 512))
    with pytest.raises(IncompatibleLatentError, match="differ in shape"):
        mixer(torch.zeros(1, 18, 512), torch.zeros(2, 18, 512))


def test_mixer_for_sizes_itself_from_the_generator_and_checks_others():
    generator = ToyGenerator(ToyConfig(num_ws=3, w_dim=4))
    mixer = mixer_for(generator, hidden=(8,))
    assert (mixer.config.num_ws, mixer.config.w_dim) == (3, 4)
    mixer.check_generator(generator)
    other = ToyGenerator(ToyConfig(num_ws=5, w_dim=4))
    with pytest.raises(IncompatibleLatentError, match=r"trained for 3×4 codes, but generator 'toy' uses 5×4"):
        mixer.check_generator(other)


def test_export_round_trip(tmp_path):
    mixer = LatentMixer(MixerConfig(num_ws=3, w_dim=4, hidden=(8, 8), residual_coefficient=0.7))
    loaded = load_mixer(save_mixer(mixer, tmp_path / "mixer.safetensors"))
    assert loaded.config == mixer.config and not loaded.training
    source, target = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.equal(loaded(source, target), mixer(source, target))


def test_load_mixer_refuses_other_exports(tmp_path):
    path = save_export(tmp_path / "g.safetensors", kind="generator", name="toy", config={}, tensors={"w": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="holds a generator 'toy', not a latent mixer"):
        load_mixer(path)


@pytest.mark.parametrize("batch", [3, 20])  # the row-by-row and the batched forward
def test_outputs_and_gradients_match_separate_mlps(batch):
    torch.manual_seed(0)
    mixer = LatentMixer(MixerConfig(num_ws=4, w_dim=8, hidden=(16, 12, 8, 8)))
    source = torch.randn(batch, 4, 8, requires_grad=True)
    target = torch.randn(batch, 4, 8, requires_grad=True)
    reference_rows = []
    for row in range(4):
        layers = []
        for k, (weight, bias) in enumerate(zip(mixer.weights, mixer.biases)):
            linear = nn.Linear(weight.shape[2], weight.shape[1])
            linear.weight.data, linear.bias.data = weight[row].detach().clone(), bias[row, 0].detach().clone()
            layers += [linear, nn.SiLU()] if k < len(mixer.weights) - 1 else [linear]
        reference_rows.append(nn.Sequential(*layers))
    src_ref, tgt_ref = source.detach().clone().requires_grad_(True), target.detach().clone().requires_grad_(True)
    expected = torch.stack([m(torch.cat([src_ref[:, r], tgt_ref[:, r]], 1)) for r, m in enumerate(reference_rows)], 1) + tgt_ref
    out = mixer(source, target)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(source.grad, src_ref.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(target.grad, tgt_ref.grad, rtol=1e-4, atol=1e-5)
    for k in range(len(mixer.weights)):
        for row, reference in enumerate(reference_rows):
            linear = reference[2 * k]
            torch.testing.assert_close(mixer.weights[k].grad[row], linear.weight.grad, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(mixer.biases[k].grad[row, 0], linear.bias.grad, rtol=1e-4, atol=1e-5)


def test_gradients_accumulate_and_reuse_their_memory():
    mixer = LatentMixer(MixerConfig(num_ws=2, w_dim=4, hidden=(8,)))
    source, target = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    mixer(source, target).sum().backward()
    first = mixer.weights[0].grad.clone()
    pointer = mixer.weights[0].grad.data_ptr()
    mixer(source, target).sum().backward()
    torch.testing.assert_close(mixer.weights[0].grad, 2 * first)
    mixer.zero_grad(set_to_none=True)
    mixer(source, target).sum().backward()
    torch.testing.assert_close(mixer.weights[0].grad, first)
    assert mixer.weights[0].grad.data_ptr() == pointer
