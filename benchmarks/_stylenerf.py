"""Helpers of ``lswap bench generator --generator stylenerf``: StyleNeRF rendering against the official algorithm's path.

The baseline runs the same weights through the operations the official code
(facebookresearch/StyleNeRF, ``training/stylenerf.py`` and ``training/networks.py``)
uses at inference:

- the foreground NeRF in its ``batch_reshape`` layout: the points of each ray step
  become an image, ``b (h w s) d -> (b s) d h w``, the styles are repeated per step,
  and every modulated layer is NVlabs' fused ``modulated_conv2d`` (one grouped
  convolution over the ``b·s`` samples) followed by the reference ``bias_act``;
- the upsampler's modulated 1x1 layers and ToRGB layers as fused grouped
  convolutions, its adapters as ``Conv2dLayer`` (``conv2d`` + ``bias_act``), the
  nn_cat sub-pixels built in a zero-padded copy, and the blur and skip upsampling
  by the reference ``upfirdn2d`` (padding plus a depthwise convolution).

Sampling, volume rendering and the background NeRF are shared with lswap's path,
so the two differ only in how the networks are evaluated; the report gives the
largest difference between their images beside the times.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lswap_core.ops.bias_act import bias_act
from lswap_core.ops.upfirdn2d import filter2d, upsample2d
from lswap_plugins.stylegan2.reference import modulated_conv2d
from lswap_plugins.stylenerf.config import StyleNeRFConfig
from lswap_plugins.stylenerf.generator import StyleNeRFGenerator
from lswap_plugins.stylenerf.layers import Conv1x1, ModulatedPointLayer
from lswap_plugins.stylenerf.nerf import ForegroundNeRF, positional_encoding
from lswap_plugins.stylenerf.upsampler import SynthesisBlock, SynthesisLayer, ToRGBLayer

def generator(resolution: int, device: Any = "cpu") -> StyleNeRFGenerator:
    """The official FFHQ configuration at ``resolution`` (the ``ffhq256``... presets) with seeded
    random weights, frozen."""
    torch.manual_seed(0)
    model = StyleNeRFGenerator(StyleNeRFConfig(resolution=resolution))
    return model.eval().requires_grad_(False).to(device)


def official_path(model: StyleNeRFGenerator) -> StyleNeRFGenerator:
    """A copy of ``model`` whose networks run the official operations (see the module docstring)."""
    baseline = copy.deepcopy(model)
    synthesis = baseline.synthesis_network
    synthesis.fg_nerf = _OfficialForeground(synthesis.fg_nerf, synthesis.config.n_ray_samples)
    for name in synthesis.block_names:
        setattr(synthesis, name, _OfficialBlock(getattr(synthesis, name)))
    return baseline


def _conv1x1(layer: Conv1x1, x: Tensor) -> Tensor:
    """Official ``Conv2dLayer`` with a 1x1 kernel: ``conv2d`` then ``bias_act``."""
    x = F.conv2d(x, layer.weight * layer.weight_gain)
    if layer.activation == "lrelu":
        return bias_act(x, layer.bias, act="lrelu", impl="ref")
    return bias_act(x, layer.bias, impl="ref")


def _style_layer(layer: ModulatedPointLayer, x: Tensor, w: Tensor, repeats: int) -> Tensor:
    """Official ``Style2Layer`` (demodulated, lrelu) or NeRF ``ToRGBLayer`` on ``(b·s, C, h, w)``."""
    styles = layer.affine(w)
    if layer.style_gain != 1:
        styles = styles * layer.style_gain
    styles = styles.repeat_interleave(repeats, dim=0)  # official repeat 'b c -> (b s) c'
    x = modulated_conv2d(x, layer.weight, styles, demodulate=layer.demodulate)
    return bias_act(x, layer.bias, act="lrelu" if layer.demodulate else "linear", impl="ref")


class _OfficialForeground(nn.Module):
    def __init__(self, nerf: ForegroundNeRF, steps: int) -> None:
        super().__init__()
        self.nerf, self.steps = nerf, steps
        self.num_ws = nerf.num_ws

    def forward(self, points: Tensor, ws: Tensor) -> tuple[Tensor, Tensor]:
        n, count, _ = points.shape
        s = self.steps
        side = math.isqrt(count // s)
        x = points.reshape(n, side, side, s, 3).permute(0, 3, 4, 1, 2).reshape(n * s, 3, side, side)
        x = positional_encoding(x.permute(0, 2, 3, 1), self.nerf.octaves).permute(0, 3, 1, 2)
        nerf = self.nerf
        x = _style_layer(nerf.fc_in, x, ws[:, 0], s)
        for index, block in enumerate(nerf.blocks):
            x = _style_layer(block, x, ws[:, index + 1], s)
        sigma = _style_layer(nerf.sigma_out, x, ws[:, len(nerf.blocks) + 1], s)
        feat = _style_layer(nerf.feat_out, x, ws[:, len(nerf.blocks) + 2], s)
        feat = torch.cat([_conv1x1(nerf.to_rgb, feat), feat], dim=1)

        def back(t: Tensor) -> Tensor:  # '(b s) d h w -> b (h w s) d'
            return t.reshape(n, s, -1, side, side).permute(0, 3, 4, 1, 2).reshape(n, count, -1)

        return back(feat), back(sigma)[..., 0]


def _synthesis_layer(layer: SynthesisLayer, x: Tensor, w: Tensor) -> Tensor:
    if hasattr(layer, "w_avg"):
        x = x * layer.w_avg.rsqrt()
    x = modulated_conv2d(x, layer.weight, layer.affine(w))
    if layer.up:
        padded = x.new_zeros(*x.shape[:2], x.shape[-2] + 2, x.shape[-1] + 2)
        padded[..., 1:-1, 1:-1] = x
        xl, xu = padded[..., 1:-1, :-2], padded[..., :-2, 1:-1]
        xd, xr = padded[..., 2:, 1:-1], padded[..., 1:-1, 2:]
        quads = torch.stack([xl + xu, xu + xr, xl + xd, xr + xd], 2) / 2
        subpixels = torch.pixel_shuffle(quads.view(quads.size(0), -1, quads.size(-2), quads.size(-1)), 2)
        nearest = F.interpolate(x, size=(2 * x.shape[-2], 2 * x.shape[-1]), mode="nearest")
        adapted = _conv1x1(layer.adapter[1], _conv1x1(layer.adapter[0], torch.cat([nearest, subpixels], 1)))
        x = filter2d(nearest + adapted, layer.resample_filter, impl="ref")
    return bias_act(x, layer.bias, act="lrelu", clamp=layer.clamp, impl="ref")


def _torgb(layer: ToRGBLayer, x: Tensor, w: Tensor) -> Tensor:
    x = modulated_conv2d(x, layer.weight, layer.affine(w) * layer.weight_gain, demodulate=False)
    return bias_act(x, layer.bias, clamp=layer.clamp, impl="ref")


class _OfficialBlock(nn.Module):
    def __init__(self, block: SynthesisBlock) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor, img: Tensor, ws: Tensor) -> tuple[Tensor, Tensor]:
        block = self.block
        x = _synthesis_layer(block.conv0, x, ws[:, 0])
        x = _synthesis_layer(block.conv1, x, ws[:, 1])
        img = upsample2d(img, block.resample_filter, impl="ref") + _torgb(block.torgb, x, ws[:, 2])
        return x, img


def measure(resolutions: list[int], batches: list[int], repeats: int, device: Any) -> list[dict[str, Any]]:
    """Forward and forward + backward (to W+) of both paths per resolution and batch, front view."""
    from lswap_benchmarks.generator import _time

    rows = []
    for res in resolutions:
        lswap = generator(res, device)
        paths = {"official": official_path(lswap), "lswap": lswap}
        for batch in batches:
            z = torch.randn(batch, lswap.z_dim, generator=torch.Generator().manual_seed(batch)).to(device)
            ws = lswap.mapping(z)
            with torch.no_grad():
                images = {name: model.synthesis(ws) for name, model in paths.items()}
                coarse = {name: model.synthesis(ws, hierarchical=False) for name, model in paths.items()}
            upstream = torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(0)).to(device)

            def forward(model: StyleNeRFGenerator) -> None:
                with torch.no_grad():
                    model.synthesis(ws)

            def forward_backward(model: StyleNeRFGenerator) -> None:
                codes = ws.detach().requires_grad_(True)
                torch.autograd.grad(model.synthesis(codes), codes, upstream)

            difference = (images["official"] - images["lswap"]).abs().max().item()
            coarse_difference = (coarse["official"] - coarse["lswap"]).abs().max().item()
            for label, fn in (("fwd", forward), ("fwd+bwd", forward_backward)):
                times = {name: _time(lambda model=model: fn(model), repeats, device) for name, model in paths.items()}
                rows.append({"resolution": res, "batch": batch, "pass": label, "official_ms": times["official"],
                             "lswap_ms": times["lswap"], "max_abs_difference": difference,
                             "coarse_max_abs_difference": coarse_difference})
    return rows


_MEMORY_PROBE = """
import json, torch
from lswap_benchmarks.common import peak_rss_gib
from lswap_benchmarks._stylenerf import generator, official_path
torch.set_num_threads({threads})
device = torch.device({device!r})
model = generator({res}, device)
if {official}:
    model = official_path(model)
codes = model.mapping(torch.randn({batch}, model.z_dim).to(device)).detach().requires_grad_(True)
image = model.synthesis(codes)
torch.autograd.grad(image, codes, torch.ones_like(image))
peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else peak_rss_gib()
print(json.dumps({{"peak_gib": peak}}))
"""


def peak_memory(res: int, batch: int, threads: int, device: str = "cpu") -> dict[str, float]:
    """Peak memory of one forward + backward per path, each in a fresh interpreter."""
    from lswap_benchmarks.common import run_fresh

    return {
        label: run_fresh(_MEMORY_PROBE.format(res=res, batch=batch, threads=threads, device=device, official=official))[
            "peak_gib"
        ]
        for label, official in (("official", True), ("lswap", False))
    }
