"""Import rosinality stylegan2-pytorch checkpoints (``.pt`` files with ``g_ema``).

rosinality's ``model.Generator`` computes the same function as NVlabs'
generator with other names and a few other conventions, mapped here:

- ``style.{i+1}`` (``EqualLinear`` with ``lr_mul`` 0.01 after ``PixelNorm``)
  is ``mapping.fc{i}``: both store the weights divided by the learning-rate
  multiplier and scale weights by ``lr_mul / sqrt(in)`` and the bias by
  ``lr_mul`` at run time, so the tensors copy unchanged;
- ``input.input`` ``(1, C, 4, 4)`` is ``synthesis.b4.const`` ``(C, 4, 4)``;
- ``conv1`` / ``to_rgb1`` are block 4's ``conv1`` / ``torgb``; ``convs.{2k}``,
  ``convs.{2k+1}`` and ``to_rgbs.{k}`` are ``conv0``, ``conv1`` and ``torgb``
  of the block at ``2**(k+3)``;
- in a ``StyledConv``: ``conv.weight`` ``(1, O, I, 3, 3)`` drops its leading
  axis; ``conv.modulation`` is ``affine`` (``bias_init`` 1 in both);
  ``noise.weight`` ``(1,)`` is the scalar ``noise_strength``;
  ``activate.bias`` (``FusedLeakyReLU``: bias, leaky ReLU 0.2, gain √2) is
  ``bias``. rosinality multiplies the kernel by ``1/sqrt(fan_in)`` before
  demodulating, which the demodulation cancels (up to its 1e-8 epsilon);
- ``noises.noise_{i}`` ``(1, 1, r, r)`` are the ``noise_const`` buffers in
  layer order (``noise_0`` is block 4's ``conv1``);
- upsampling convolutions: rosinality runs ``conv_transpose2d`` with the
  kernel transposed and then ``Blur`` (the [1, 3, 3, 1] filter times 4,
  padding 1, 1); NVlabs' ``conv2d_resample`` does the same with
  ``flip_weight=False``, so the kernels copy without flipping (rosinality's
  TensorFlow converter flips them because TensorFlow's op differs). Its
  ``blur.kernel`` and ``upsample.kernel`` buffers are checked against that
  filter and dropped;
- ``ToRGB``: the same ``1/sqrt(in)`` style scaling; ``bias`` ``(1, 3, 1, 1)``
  becomes ``(3,)``;
- ``latent_avg`` (present in checkpoints converted from NVlabs' TensorFlow
  networks) is ``mapping.w_avg``; training checkpoints lack it, and then it is
  estimated as the mean W of 10000 seeded samples (rosinality's scripts
  average 4096 unseeded ones).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.legacy_pickle import load_checkpoint
from lswap_core.official_files import file_head

from .convert_common import (
    MALFORMED_RECORD_ERRORS,
    W_AVG_NOTE,
    build_config,
    check_filter,
    check_shapes,
    config_data,
    estimate_w_avg,
    malformed,
)
from .config import StyleGAN2Config

DEFAULT_LR_MLP = 0.01  # rosinality's Generator(lr_mlp=0.01); its train.py does not change it
STYLED_CONV = {
    "conv.weight": "weight",
    "conv.modulation.weight": "affine.weight",
    "conv.modulation.bias": "affine.bias",
    "noise.weight": "noise_strength",
    "activate.bias": "bias",
}
TO_RGB = {
    "conv.weight": "weight",
    "conv.modulation.weight": "affine.weight",
    "conv.modulation.bias": "affine.bias",
    "bias": "bias",
}


class RosinalityConverter(Converter):
    """rosinality stylegan2-pytorch checkpoint (``.pt`` with ``g_ema``)."""

    name = "stylegan2-rosinality"
    description = "rosinality stylegan2-pytorch checkpoint (.pt with g_ema)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        head = file_head(path)
        if head.is_zip:
            return b"g_ema" in head.archive_pickle
        start = head.head  # legacy torch.save: the pickled dict precedes the tensor data
        return start[:1] == b"\x80" and b"g_ema" in start and b"torch_utils.persistence" not in start

    def convert(self, path: Path) -> ConvertedWeights:
        data = load_checkpoint(path)
        if not isinstance(data, Mapping) or "g_ema" not in data:
            if isinstance(data, Mapping) and "d" in data:
                raise CheckpointError(f"{path} holds only a discriminator", hint="convert a checkpoint with g_ema")
            raise CheckpointError(
                f"{path} has no g_ema generator", hint="pass a rosinality stylegan2-pytorch checkpoint"
            )
        args = data.get("args") if isinstance(data.get("args"), Mapping) else {}
        return convert_g_ema(path, data["g_ema"], args, data.get("latent_avg"))


def convert_g_ema(
    path: Path, state: Any, args: Mapping[str, Any], latent_avg: Any, what: str = "rosinality checkpoint"
) -> ConvertedWeights:
    """A rosinality ``Generator`` state dict as a ``stylegan2`` export (shared with checkpoints
    that embed one, such as e4e's ``decoder.*``).

    :param args: the training arguments saved beside it (``size``, ``lr_mlp``), possibly empty.
    :param latent_avg: its mean W, ``(w_dim,)``, or ``None`` to estimate one.
    :param what: how errors name the file.
    """
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: the generator is not a state dict of tensors")
    try:
        config = build_config(path, _config_values(path, state, args))
        tensors, unused = _rename(path, state, config)
    except MALFORMED_RECORD_ERRORS as exc:
        raise malformed(path, what, exc) from None
    if unused:
        shown = ", ".join(sorted(unused)[:6]) + (f" and {len(unused) - 6} more" if len(unused) > 6 else "")
        raise CheckpointError(f"{path}: the generator has tensors a StyleGAN2 generator does not ({shown})")
    provenance = {"format": "rosinality-stylegan2-pytorch"}
    if isinstance(latent_avg, Tensor) and latent_avg.numel() == config.w_dim:
        tensors["mapping.w_avg"] = latent_avg.reshape(-1).float().contiguous()
    else:
        check_shapes(path, config, tensors, optional=("mapping.w_avg",))
        tensors["mapping.w_avg"] = estimate_w_avg(config, tensors)
        provenance["w_avg"] = W_AVG_NOTE
    if "lr_mlp" not in args:
        provenance["mapping_lr_multiplier"] = f"rosinality's default {DEFAULT_LR_MLP} (not recorded in the file)"
    return ConvertedWeights("generator", "stylegan2", config_data(config), tensors, provenance)


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    return len({m.group(1) for key in state if (m := re.fullmatch(pattern, key))})


def _require(path: Path, state: Mapping[str, Tensor], key: str) -> Tensor:
    if key not in state:
        raise CheckpointError(f"{path}: g_ema lacks {key}", hint="the checkpoint is incomplete or of another model")
    return state[key]


def _config_values(path: Path, state: Mapping[str, Tensor], args: Mapping[str, Any]) -> dict[str, Any]:
    """Architecture from the tensor shapes (the ``args`` saved beside them are optional)."""
    n_mlp = _count(state, r"style\.(\d+)\.weight")
    blocks_above_4 = _count(state, r"to_rgbs\.(\d+)\.conv\.weight")
    if n_mlp == 0:
        raise CheckpointError(f"{path}: g_ema has no mapping layers (style.N.weight)")
    resolution = 2 ** (blocks_above_4 + 2)
    style_dim = _require(path, state, "style.1.weight").shape[0]
    channels = {4: int(_require(path, state, "input.input").shape[1])}
    for k in range(blocks_above_4):
        channels[2 ** (k + 3)] = int(_require(path, state, f"convs.{2 * k}.conv.weight").shape[1])
    channel_max = max(channels.values())
    # rosinality's channel table is NVlabs' min(channel_base // res, channel_max) for every multiplier.
    below_max = [c * r for r, c in channels.items() if c < channel_max]
    channel_base = max(below_max) if below_max else channel_max * resolution
    if any(min(channel_base // r, channel_max) != c for r, c in channels.items()):
        raise CheckpointError(
            f"{path}: the channel counts {dict(sorted(channels.items()))} are not of the form "
            f"min(channel_base // resolution, channel_max), which lswap's StyleGAN2 needs"
        )
    size = args.get("size")
    if size is not None and int(size) != resolution:
        raise CheckpointError(f"{path}: args.size is {size} but the tensors make a {resolution}x{resolution} generator")
    return {
        "resolution": resolution,
        "z_dim": int(style_dim),
        "w_dim": int(style_dim),
        "channel_base": int(channel_base),
        "channel_max": int(channel_max),
        "mapping_layers": n_mlp,
        "mapping_lr_multiplier": float(args.get("lr_mlp", DEFAULT_LR_MLP)),
        "conv_clamp": None,
    }


def _rename(path: Path, state: Mapping[str, Tensor], config: StyleGAN2Config) -> tuple[dict[str, Tensor], set[str]]:
    """rosinality names and shapes to NVlabs'; returns the tensors and the keys left unused."""
    unused = set(state)
    tensors: dict[str, Tensor] = {}

    def take(source: str, target: str, shape: tuple[int, ...] | None = None) -> None:
        tensor = _require(path, state, source).float()
        tensors[target] = (tensor.reshape(shape) if shape is not None else tensor).contiguous()
        unused.discard(source)

    for i in range(config.mapping_layers):
        take(f"style.{i + 1}.weight", f"mapping.fc{i}.weight")
        take(f"style.{i + 1}.bias", f"mapping.fc{i}.bias")

    def layer(source: str, target: str, noise: int) -> None:
        for suffix, name in STYLED_CONV.items():
            take(f"{source}.{suffix}", f"{target}.{name}", () if name == "noise_strength" else None)
        tensors[f"{target}.weight"] = tensors[f"{target}.weight"].squeeze(0).contiguous()
        size = _require(path, state, f"noises.noise_{noise}").shape[-2:]
        take(f"noises.noise_{noise}", f"{target}.noise_const", tuple(size))

    def rgb(source: str, target: str) -> None:
        for suffix, name in TO_RGB.items():
            take(f"{source}.{suffix}", f"{target}.{name}")
        tensors[f"{target}.weight"] = tensors[f"{target}.weight"].squeeze(0).contiguous()
        tensors[f"{target}.bias"] = tensors[f"{target}.bias"].reshape(-1).contiguous()

    take("input.input", "synthesis.b4.const", (config.channels(4), 4, 4))
    layer("conv1", "synthesis.b4.conv1", noise=0)
    rgb("to_rgb1", "synthesis.b4.torgb")
    for k, res in enumerate(config.block_resolutions[1:]):
        layer(f"convs.{2 * k}", f"synthesis.b{res}.conv0", noise=2 * k + 1)
        layer(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", noise=2 * k + 2)
        rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
        for buffer in (f"convs.{2 * k}.conv.blur.kernel", f"to_rgbs.{k}.upsample.kernel"):
            if buffer in state:
                check_filter(path, buffer, state[buffer], gain=4.0)  # Blur / Upsample scale by factor**2
                unused.discard(buffer)
    return tensors, unused

