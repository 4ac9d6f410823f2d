"""The VGG16 perceptual features of NVIDIA's ``vgg16.pt`` (stylegan2-ada-pytorch ``metrics``), as the
StyleGAN2-ADA projector and PTI use them: ``vgg16(img_0_255, resize_images=False, return_lpips=True)``.

That file is a TorchScript archive; lswap reads only its tensors (never its
code) into this module. What the call computes, as far as it is documented
and tested in public:

- the input is (N, 3, H, W) RGB in [0, 255], used at its own size;
- it is LPIPS-VGG (v0.1) in feature form: for image batches a, b,
  ``(vgg16(a) - vgg16(b)).square().sum(1)`` is the LPIPS-VGG distance, to
  1e-5 (torch-fidelity's ``tests/tf1/lpips/test_lpips.py`` checks exactly this
  against its LPIPS built from torchvision's VGG16 and lpips' ``vgg.pth``,
  inputs 32 to 299 px, inputs in [0, 255] mapped to [-1, 1]);
- the archive's tensors are ``layers.conv1 ... conv13`` (the 13 3x3
  convolutions, PyTorch layout), ``layers.fc1 ... fc3`` (the classifier, not
  used for this call) and ``lpips0 ... lpips4`` (the LPIPS heads, one weight
  per channel).

So the features are, for each tapped ReLU k (relu1_2, relu2_2, relu3_3,
relu4_3, relu5_3), the channel-normalised activation times
sqrt(w_k / (H_k W_k)), flattened and concatenated: their squared distance is
sum_k mean_hw(w_k . (n0 - n1)^2), the LPIPS sum. Only that squared distance
is what the projector uses and what is verified; the order of the elements
inside NVIDIA's vector is not known and does not matter to it. The
``resize_images=True`` path of the original (a resize to 224x224) is not
reproduced.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lswap_core.errors import InputError

from .exports import load_into, read_perceptual_export
from .lpips import EPS, SCALE, SHIFT
from .trunks import VGG16, init_trunk_

EXPORT_NAME = "vgg16-nvidia"
DEFAULT_ASSET = "vgg16"
CONV_COUNT = 13


class NvidiaVGG16(nn.Module):
    """VGG16 LPIPS features of NVIDIA's ``vgg16.pt``: images (N, 3, H, W) in [0, 255] -> (N, D).

    State dict, named as in the archive: ``layers.conv{1..13}.weight|bias``
    and ``lpips{0..4}`` (the heads, (C_k,), non-negative).

    :param init_seed: seed of the random initialisation used when no weights are loaded.
    """

    def __init__(self, *, init_seed: int = 0) -> None:
        super().__init__()
        self.spec = VGG16
        self.layers = nn.Module()
        convs = [self.spec.layers[i] for i in self.spec.conv_indices()]
        with torch.device("meta"):  # no default initialisation from the global RNG: it is overwritten below
            for k, (_, cin, cout, kernel, stride, padding) in enumerate(convs, 1):
                self.layers.add_module(f"conv{k}", nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding))
        self.to_empty(device="cpu")
        for k, channels in enumerate(self.spec.channels):
            self.register_buffer(f"lpips{k}", torch.ones(channels))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        rng = torch.Generator().manual_seed(init_seed)
        init_trunk_(nn.Sequential(*self.convs), rng)
        for k in range(len(self.spec.taps)):
            getattr(self, f"lpips{k}").copy_(torch.randn(self.spec.channels[k], generator=rng).abs() * 0.1)
        self.eval().requires_grad_(False)

    @property
    def convs(self) -> list[nn.Conv2d]:
        return [getattr(self.layers, f"conv{k}") for k in range(1, CONV_COUNT + 1)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 255], at least 16x16 -> features (N, D); distances are squared L2 sums."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"VGG16 features take (N, 3, H, W) images, got {tuple(images.shape)}", hint="pass RGB batches")
        if min(images.shape[2:]) < self.spec.min_size:
            raise InputError(f"VGG16 features need images of at least 16x16, got {tuple(images.shape[2:])}", hint="upsample them")
        x = (images.to(self.shift.dtype) / 127.5 - 1 - self.shift) / self.scale  # [0, 255] -> [-1, 1] -> ScalingLayer
        convs = iter(self.convs)
        parts = []
        for index, layer in enumerate(self.spec.layers[: self.spec.taps[-1] + 1]):
            if layer[0] == "conv":
                x = next(convs)(x)
            elif layer[0] == "relu":
                x = torch.relu(x)
            else:
                x = nn.functional.max_pool2d(x, kernel_size=layer[1], stride=layer[2])
            if index in self.spec.taps:
                k = self.spec.taps.index(index)
                normalised = x / (x.square().sum(dim=1, keepdim=True).sqrt() + EPS)
                weight = getattr(self, f"lpips{k}").view(1, -1, 1, 1)  # >= 0, checked on import
                parts.append((normalised * (weight / (x.shape[2] * x.shape[3])).sqrt()).flatten(1))
        return torch.cat(parts, dim=1)


def feature_distance(features0: torch.Tensor, features1: torch.Tensor) -> torch.Tensor:
    """The projector's distance of two feature batches: (N, D), (N, D) -> (N,)."""
    return (features0 - features1).square().sum(dim=1)


def load_vgg16(weights: str | Path | None = None, *, device: str | torch.device = "cpu") -> NvidiaVGG16:
    """NVIDIA's VGG16 features from an export path or asset name (default: ``lswap weights fetch vgg16``)."""
    source = weights if weights is not None else DEFAULT_ASSET
    model = NvidiaVGG16()
    load_into(model, read_perceptual_export(source, EXPORT_NAME), source)
    return model.to(device)
