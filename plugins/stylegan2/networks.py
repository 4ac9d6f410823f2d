"""The StyleGAN2 mapping and synthesis networks.

After NVlabs' stylegan2-ada-pytorch ``training/networks.py`` (the generator
StyleGAN3's ``networks_stylegan2.py`` also holds): the same modules, the
same parameter and buffer names (so ``state_dict`` keys match the official
networks) and the same arithmetic, from Karras et al., "Analyzing and
Improving the Image Quality of StyleGAN" (CVPR 2020):

- the mapping network normalises z and applies equalised-learning-rate
  fully connected layers (learning-rate multiplier 0.01) with leaky ReLU;
- each synthesis block doubles the resolution with a modulated, demodulated
  3x3 transposed convolution and the [1, 3, 3, 1] FIR filter, adds per-pixel
  noise with a learned strength, applies bias and leaky ReLU with gain √2,
  and adds its RGB output to the upsampled RGB of the block below ("skip"
  architecture of the paper's figure 7).

Synthesis has two implementations with the same results: ``"reference"``
(NVlabs' algorithm, `reference.modulated_conv2d` and the reference ops) and
``"auto"`` (`fast`: fewer memory passes and far less memory for gradients).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from lswap_core.interfaces import NoiseMode
from lswap_core.ops.bias_act import bias_act
from lswap_core.ops.upfirdn2d import setup_filter, upsample2d

from . import fast, reference
from .config import StyleGAN2Config

# "auto": the CPU-built fast path; "reference": NVlabs' algorithm with the PyTorch reference ops (the
# benchmark baseline); "kernels": NVlabs' algorithm with the project's ops, CUDA kernels on CUDA tensors.
Impl = Literal["auto", "reference", "kernels"]
RESAMPLE_FILTER = (1, 3, 3, 1)  # FIR filter of the up-sampling (NVlabs' resample_filter default)
LRELU_GAIN = math.sqrt(2)


def ops_for(impl: Impl) -> Literal["ref", "auto"]:
    """The `lswap_core.ops` implementation a synthesis path uses."""
    return "ref" if impl == "reference" else "auto"


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Scale each row to unit mean square (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """A fully connected layer with an equalised learning rate.

    Weights are stored divided by ``lr_multiplier`` and scaled at run time
    by ``lr_multiplier / sqrt(in_features)`` (the equalised learning rate of
    Karras et al. 2018, "Progressive Growing of GANs", section 4.1), so the
    stored tensors equal the official ones.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        activation: Literal["linear", "lrelu"] = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], np.float32(bias_init)))
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor, impl: Impl = "auto") -> Tensor:
        """``x: (N, in_features) -> (N, out_features)``."""
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype)
        if self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation, impl=ops_for(impl))


class MappingNetwork(nn.Module):
    """z ``(N, z_dim)`` to W+ ``(N, num_ws, w_dim)``, with the tracked average ``w_avg`` for truncation."""

    def __init__(self, config: StyleGAN2Config, num_ws: int) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws = config.z_dim, config.w_dim, num_ws
        self.num_layers = config.mapping_layers
        self.w_avg_beta = config.w_avg_beta
        features = [config.z_dim] + [config.w_dim] * config.mapping_layers
        for index in range(config.mapping_layers):
            layer = FullyConnectedLayer(
                features[index],
                features[index + 1],
                activation="lrelu",
                lr_multiplier=config.mapping_lr_multiplier,
            )
            setattr(self, f"fc{index}", layer)
        self.register_buffer("w_avg", torch.zeros([config.w_dim]))

    def embed(self, z: Tensor, impl: Impl = "auto") -> Tensor:
        """One W row per sample: ``(N, z_dim) -> (N, w_dim)``, without tracking or truncation."""
        x = normalize_2nd_moment(z.to(torch.float32))
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x, impl=impl)
        return x

    def forward(
        self,
        z: Tensor,
        *,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        impl: Impl = "auto",
    ) -> Tensor:
        x = self.embed(z, impl=impl)
        if self.training and self.w_avg_beta is not None:
            # Exponential moving average of W while training (NVlabs: w_avg_beta 0.995).
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            rows = slice(None, truncation_cutoff)
            x[:, rows] = self.w_avg.lerp(x[:, rows], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (upsampling by ``up``), noise, bias and leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,
        up: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.padding = 1
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_FILTER), persistent=False)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self._weight_forms: tuple[tuple[object, ...], Tensor, Tensor | None] | None = None  # frozen_weight_forms

    def frozen_weight_forms(self) -> tuple[Tensor | None, Tensor | None]:
        """`fast.kernel_norms` of the weights and, for upsampling, the weights transposed.

        Computed once while the weights stay unchanged and untrained (the
        usual case: a frozen generator); ``(None, None)`` when gradients may
        flow to the weights, which must then be part of the graph.
        """
        if self.weight.requires_grad and torch.is_grad_enabled():
            return None, None
        key = (self.weight.data_ptr(), self.weight._version, self.weight.dtype, self.weight.device)
        if self._weight_forms is None or self._weight_forms[0] != key:
            with torch.no_grad():
                transposed = self.weight.transpose(0, 1).contiguous() if self.up > 1 else None
                self._weight_forms = (key, fast.kernel_norms(self.weight), transposed)
        return self._weight_forms[1], self._weight_forms[2]

    def noise(self, mode: NoiseMode, random_noise: Tensor | None) -> Tensor | None:
        """The noise added to this layer's output, scaled by its strength, or ``None``.

        :param random_noise: for ``mode="random"``, unit normal noise ``(N, 1, res, res)``.
        """
        if mode == "random":
            assert random_noise is not None
            return random_noise * self.noise_strength
        if mode == "const":
            return self.noise_const * self.noise_strength
        return None

    def forward(
        self,
        x: Tensor,
        w: Tensor,
        *,
        noise_mode: NoiseMode = "const",
        random_noise: Tensor | None = None,
        fused_modconv: bool = True,
        impl: Impl = "auto",
    ) -> Tensor:
        """``x: (N, in_channels, res / up, res / up)``, ``w: (N, w_dim)`` -> ``(N, out_channels, res, res)``."""
        styles = self.affine(w, impl=impl)
        noise = self.noise(noise_mode, random_noise)
        if impl == "auto":
            norms, transposed = self.frozen_weight_forms()
            return fast.synthesis_layer(
                x,
                styles,
                self.weight,
                self.bias,
                noise,
                up=self.up,
                resample_filter=self.resample_filter,
                gain=LRELU_GAIN,
                clamp=self.conv_clamp,
                norms=norms,
                transposed=transposed,
            )
        x = reference.modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,  # the transposed convolution of upsampling layers convolves
            fused_modconv=fused_modconv,
            ops=ops_for(impl),
        )
        return bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=LRELU_GAIN, clamp=self.conv_clamp, impl=ops_for(impl))


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to RGB, without demodulation."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor, *, fused_modconv: bool = True, impl: Impl = "auto") -> Tensor:
        """``x: (N, in_channels, H, W)``, ``w: (N, w_dim)`` -> ``(N, 3, H, W)``."""
        styles = self.affine(w, impl=impl) * self.weight_gain
        if impl == "auto":
            return fast.to_rgb(x, styles, self.weight, self.bias, clamp=self.conv_clamp)
        x = reference.modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv, ops=ops_for(impl))
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp, impl=ops_for(impl))


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (upsampling) conv0, conv1 and ToRGB."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_FILTER), persistent=False)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2, conv_clamp=conv_clamp
            )
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp
        )
        self.torgb = ToRGBLayer(out_channels, 3, w_dim=w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def layers(self) -> list[SynthesisLayer]:
        return [self.conv0, self.conv1] if self.in_channels else [self.conv1]

    def forward(
        self,
        x: Tensor | None,
        img: Tensor | None,
        ws: Tensor,
        *,
        noise_mode: NoiseMode,
        random_noise: list[Tensor] | None,
        fused_modconv: bool,
        impl: Impl,
    ) -> tuple[Tensor, Tensor]:
        """Features ``x`` and RGB ``img`` at half this resolution (``None`` for the first block) to this one.

        :param ws: ``(N, num_conv + num_torgb, w_dim)``: the rows for conv0, conv1, torgb.
        :param random_noise: for ``noise_mode="random"``, one unit normal ``(N, 1, res, res)`` per layer.
        """
        w_iter = iter(ws.unbind(dim=1))
        noise_iter = iter(random_noise or [None] * self.num_conv)
        options = {"noise_mode": noise_mode, "fused_modconv": fused_modconv, "impl": impl}
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            if impl == "auto":
                x = x.contiguous(memory_format=torch.channels_last)
        else:
            x = self.conv0(x, next(w_iter), random_noise=next(noise_iter), **options)
        x = self.conv1(x, next(w_iter), random_noise=next(noise_iter), **options)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv, impl=impl)
        if img is None:
            return x, y
        if impl == "auto":
            return x, fast.upsample_add(img, y, self.resample_filter)
        return x, upsample2d(img, self.resample_filter, impl=ops_for(impl)).add_(y.to(img.dtype))


class SynthesisNetwork(nn.Module):
    """W+ ``(N, num_ws, w_dim)`` to images ``(N, 3, resolution, resolution)``."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.w_dim = config.w_dim
        self.block_resolutions = config.block_resolutions
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                config.channels(res // 2) if res > 4 else 0,
                config.channels(res),
                w_dim=config.w_dim,
                resolution=res,
                conv_clamp=config.conv_clamp,
            )
            # A block's ToRGB shares its W row with the next block's first conv.
            self.num_ws += block.num_conv + (block.num_torgb if res == config.resolution else 0)
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def layer_resolutions(self) -> tuple[int, ...]:
        """Per W+ row, the lowest resolution among the layers it drives: 4, 4, 8, 8, ...

        A row shared by a block's ToRGB and the next block's first convolution
        counts at the ToRGB's resolution, the usual coarse/middle/fine grouping.
        """
        lowest: dict[int, int] = {}
        w_index = 0
        for block in self.blocks():  # from low to high resolution
            for row in range(w_index, w_index + block.num_conv + block.num_torgb):
                lowest.setdefault(row, block.resolution)
            w_index += block.num_conv
        return tuple(lowest[row] for row in range(self.num_ws))

    def forward(
        self,
        ws: Tensor,
        *,
        noise_mode: NoiseMode = "const",
        fused_modconv: bool | None = None,
        impl: Impl = "auto",
        rng: torch.Generator | None = None,
        num_fp16_res: int = 0,
    ) -> Tensor:
        if fused_modconv is None:  # NVlabs' default: grouped convolutions for inference only
            fused_modconv = not self.training
        ws = ws.to(self.b4.const.dtype)  # float32, unless the module was converted
        blocks = self.blocks()
        block_ws, w_index = [], 0
        for block in blocks:
            block_ws.append(ws.narrow(1, w_index, block.num_conv + block.num_torgb))
            w_index += block.num_conv
        # Random noise drawn layer by layer in NVlabs' order, so a seeded global RNG gives its images.
        noise: list[list[Tensor] | None] = [None] * len(blocks)
        if noise_mode == "random":
            n, options_random = ws.shape[0], {"device": ws.device, "dtype": ws.dtype, "generator": rng}
            noise = [
                [torch.randn([n, 1, b.resolution, b.resolution], **options_random) for _ in b.layers()] for b in blocks
            ]
        options = {"noise_mode": noise_mode, "fused_modconv": fused_modconv, "impl": impl}

        # The fast path runs high-resolution blocks one sample at a time (see `fast`).
        split = len(blocks)
        if impl == "auto" and ws.shape[0] > 1:
            split = next((i for i, b in enumerate(blocks) if b.resolution >= fast.PER_SAMPLE_FROM), len(blocks))
        reduced = _reduced_precision(blocks, num_fp16_res, ws.device)
        x = img = None
        for index, (block, w, block_noise) in enumerate(zip(blocks[:split], block_ws[:split], noise[:split])):
            with reduced(index):
                x, img = block(x, img, w, random_noise=block_noise, **options)
        if split == len(blocks):
            assert img is not None
            return img.float().contiguous()
        images = []
        for i in range(ws.shape[0]):
            xi = x[i : i + 1] if x is not None else None
            imgi = img[i : i + 1] if img is not None else None
            for index, (block, w, block_noise) in enumerate(zip(blocks[split:], block_ws[split:], noise[split:]), start=split):
                sample_noise = [t[i : i + 1] for t in block_noise] if block_noise is not None else None
                with reduced(index):
                    xi, imgi = block(xi, imgi, w[i : i + 1], random_noise=sample_noise, **options)
            images.append(imgi)
        return torch.cat(images).float().contiguous()


def _reduced_precision(blocks: list[SynthesisBlock], num_fp16_res: int, device: torch.device) -> Any:
    """``reduced(index)``: a float16 autocast for the ``num_fp16_res`` highest-resolution blocks (NVlabs'
    ``num_fp16_res``: its released configs run their 4 highest resolutions in float16 on GPUs, with
    ``conv_clamp`` keeping activations in range), nothing for the others."""
    if not 0 <= num_fp16_res <= len(blocks):
        raise ValueError(f"num_fp16_res must be between 0 and {len(blocks)}, got {num_fp16_res}")
    first = len(blocks) - num_fp16_res

    def reduced(index: int) -> Any:
        return torch.autocast(device.type, dtype=torch.float16) if index >= first else contextlib.nullcontext()

    return reduced
