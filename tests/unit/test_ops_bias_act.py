"""bias_act against plain torch formulas, with gradients, for every activation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lswap_core.ops.bias_act import ACTIVATIONS, bias_act, second_derivative

FORMULAS = {
    "linear": lambda v: v,
    "relu": lambda v: v.clamp(min=0),
    "lrelu": lambda v: torch.where(v > 0, v, 0.2 * v),
    "tanh": torch.tanh,
    "sigmoid": lambda v: 1 / (1 + torch.exp(-v)),
    "elu": lambda v: torch.where(v > 0, v, torch.exp(v) - 1),
    "selu": lambda v: 1.0507009873554805 * torch.where(v > 0, v, 1.6732632423543772 * (torch.exp(v) - 1)),
    "softplus": lambda v: torch.log1p(torch.exp(v)),
    "swish": lambda v: v / (1 + torch.exp(-v)),
}
DEFAULT_GAINS = {"relu": math.sqrt(2), "lrelu": math.sqrt(2), "swish": math.sqrt(2)}


@pytest.mark.parametrize("impl", ["ref", "auto"])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("clamp", [None, 0.6])
def test_matches_the_formula(impl, act, clamp):
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    b = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = FORMULAS[act](x + b.reshape(1, -1, 1, 1)) * DEFAULT_GAINS.get(act, 1.0)
    if clamp is not None:
        expected = expected.clamp(-clamp, clamp)
    torch.testing.assert_close(bias_act(x, b, act=act, clamp=clamp, impl=impl), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["ref", "auto"])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_gradients(impl, act):
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, b: bias_act(x, b, act=act, gain=1.5, clamp=1.2, impl=impl), (x, b))
    assert torch.autograd.gradgradcheck(lambda x, b: bias_act(x, b, act=act, gain=1.5, impl=impl), (x, b))


def test_options_dim_alpha_and_no_bias():
    x = torch.randn(4, 6, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    expected = F.leaky_relu(x + b[:, None], 0.1)
    torch.testing.assert_close(bias_act(x, b, dim=0, act="lrelu", alpha=0.1, gain=1.0), expected)
    torch.testing.assert_close(bias_act(x), x)
    torch.testing.assert_close(bias_act(x, act="relu", gain=3.0), x.clamp(min=0) * 3)


def test_the_input_is_never_modified():
    for b in (None, torch.zeros(3)):
        x = torch.randn(2, 3, 4)
        before = x.clone()
        for act in ("linear", "relu", "lrelu"):
            bias_act(x, b, act=act, gain=1.0)
            bias_act(x, b, act=act)
        assert torch.equal(x, before)


def test_second_derivative_helper():
    v = torch.linspace(-3, 3, 13, dtype=torch.float64)
    torch.testing.assert_close(second_derivative("tanh", v, 0.0), -2 * torch.tanh(v) * (1 - torch.tanh(v) ** 2))
    assert torch.equal(second_derivative("lrelu", v, 0.2), torch.zeros_like(v))


def test_bad_arguments():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="does not fit"):
        bias_act(x, torch.zeros(2))
    with pytest.raises(ValueError, match="clamp"):
        bias_act(x, clamp=-1.0)
