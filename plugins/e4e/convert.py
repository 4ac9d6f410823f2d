"""Import of the official e4e checkpoint (``e4e_ffhq_encode.pt``) and of the generator inside it.

The official training (omertov/encoder4editing ``training/coach.py``) saves
``{'state_dict': net.state_dict(), 'opts': vars(opts), 'latent_avg': ...}``
with ``torch.save``; the pSp wrapper's state dict holds the encoder under
``encoder.`` and the rosinality StyleGAN2 generator it was trained against
under ``decoder.``. Two converters read it:

- ``e4e`` (recognised automatically): the encoder and ``latent_avg`` as an
  ``inverter`` export. ``opts.stylegan_size`` gives the rows (2·log2(size) − 2)
  and must agree with the style heads in the file; pSp encoders
  (``encoder_type`` ``GradualStyleEncoder``), whose tensors look the same but
  whose forward pass differs, are refused.
- ``e4e-decoder`` (chosen with ``--format e4e-decoder``; it never claims a
  file by itself, so that ``lswap convert`` picks ``e4e`` for these files): the
  ``decoder.*`` tensors as a ``stylegan2`` export, through the rosinality
  converter. Its ``w_avg`` is the checkpoint's ``latent_avg`` row, which the
  official training took from the rosinality checkpoint of that generator.

The file is read with the restricted unpickler; nothing in it is executed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.legacy_pickle import load_checkpoint
from lswap_core.official_files import file_head, reading_structure, require_keys, tensor_mapping
from lswap_plugins.backbones.irse import stage_blocks
from lswap_plugins.stylegan2.convert_rosinality import convert_g_ema

from .config import E4EConfig

ENCODER, DECODER = "encoder.", "decoder."
ENCODER_TYPE = "Encoder4Editing"
SIGNATURE = (
    "encoder.input_layer.0.weight",
    "encoder.body.0.res_layer.1.weight",
    "encoder.styles.0.linear.weight",
    "encoder.latlayer1.weight",
    "encoder.latlayer2.weight",
)
WHAT = "an e4e checkpoint (state_dict with encoder.* and decoder.*, opts, latent_avg)"
HEAD_SIDE = 16  # the deepest tap, which style head 0 reads, is input_size / 16 wide


class E4EConverter(Converter):
    """The encoder of an official e4e checkpoint (``e4e_ffhq_encode.pt``...)."""

    name = "e4e"
    description = "encoder4editing checkpoint (e4e_ffhq_encode.pt): the encoder and latent_avg"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        head = file_head(path)
        state = head.state_dict("state_dict")
        if state is None or not all(key in state for key in SIGNATURE):
            return False
        checkpoint = head.peek()
        opts = checkpoint.get("opts") if isinstance(checkpoint, Mapping) else None
        return _encoder_type(opts) in (None, ENCODER_TYPE)

    def convert(self, path: Path) -> ConvertedWeights:
        checkpoint, state = read_checkpoint(path)
        opts = _opts(checkpoint)
        encoder_type = _encoder_type(opts)
        if encoder_type not in (None, ENCODER_TYPE):
            raise CheckpointError(
                f"{path} holds a {encoder_type} encoder (pSp), not e4e's {ENCODER_TYPE}",
                hint="only e4e encoders convert; their tensors look alike but they compute otherwise",
            )
        require_keys(state, list(SIGNATURE), path, WHAT)
        tensors = {key[len(ENCODER) :]: value for key, value in state.items() if key.startswith(ENCODER)}
        with reading_structure(path, WHAT):
            config = _config(path, tensors, opts)
            _check_shapes(path, config, tensors)
            latent_avg, note = _latent_avg(path, checkpoint, state, opts, config)
        provenance = {"format": "encoder4editing checkpoint", "latent_avg": note}
        if "stylegan_size" in opts:
            provenance["stylegan_size"] = str(opts["stylegan_size"])
        return ConvertedWeights(
            kind="inverter",
            name="e4e",
            config={
                "style_count": config.style_count,
                "style_dim": config.style_dim,
                "blocks": list(config.blocks),
                "width": config.width,
                "input_size": config.input_size,
            },
            tensors={**{ENCODER + key: value for key, value in tensors.items()}, "latent_avg": latent_avg},
            provenance=provenance,
        )


class E4EDecoderConverter(Converter):
    """The StyleGAN2 generator an e4e checkpoint was trained with (its ``decoder.*``), as a ``stylegan2`` export."""

    name = "e4e-decoder"
    description = "the StyleGAN2 generator inside an e4e checkpoint (decoder.*); choose with --format e4e-decoder"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return False  # the file is an e4e checkpoint first: `lswap convert` picks `e4e` unless told otherwise

    def convert(self, path: Path) -> ConvertedWeights:
        checkpoint, state = read_checkpoint(path)
        opts = _opts(checkpoint)
        decoder = {key[len(DECODER) :]: value for key, value in state.items() if key.startswith(DECODER)}
        if not decoder:
            raise CheckpointError(
                f"{path} has no decoder.* tensors, so it is not {WHAT}", hint="pass the official file"
            )
        args = {"size": opts["stylegan_size"]} if "stylegan_size" in opts else {}
        latent_avg = checkpoint.get("latent_avg")
        w_avg = None
        if isinstance(latent_avg, Tensor) and latent_avg.ndim >= 1 and latent_avg.numel() > 0:
            rows = latent_avg.reshape(-1, latent_avg.shape[-1]).float()
            if torch.equal(rows, rows[:1].expand_as(rows)):  # training repeats the generator's mean W over the rows
                w_avg = rows[0]
        result = convert_g_ema(path, decoder, args, w_avg, what="e4e decoder")
        result.provenance["format"] = "encoder4editing checkpoint, decoder (rosinality stylegan2-pytorch)"
        if w_avg is not None:
            result.provenance["w_avg"] = "the e4e checkpoint's latent_avg (the generator's mean W)"
        return result


def read_checkpoint(path: Path) -> tuple[Mapping[str, Any], dict[str, Tensor]]:
    """The checkpoint and its ``state_dict`` (float tensors), read without executing anything."""
    checkpoint = load_checkpoint(path)
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"{path} holds a {type(checkpoint).__name__}, not {WHAT}", hint="pass the official file")
    state = tensor_mapping(checkpoint, "state_dict")
    if state is None:
        found = ", ".join(map(str, list(checkpoint)[:8]))
        raise CheckpointError(
            f"{path} holds no state_dict of tensors (it has {found}), so it is not {WHAT}",
            hint="pass the official file",
        )
    return checkpoint, {key: value.float() if value.is_floating_point() else value for key, value in state.items()}


def _opts(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    opts = checkpoint.get("opts")
    return opts if isinstance(opts, Mapping) else {}  # a dict (vars(opts)); argparse.Namespace reads as one too


def _encoder_type(opts: Any) -> str | None:
    value = opts.get("encoder_type") if isinstance(opts, Mapping) else None
    return str(value) if value is not None else None


def _indices(tensors: Mapping[str, Tensor], pattern: str) -> list[int]:
    found = {m.group(1) for key in tensors if (m := re.fullmatch(pattern, key))}
    return sorted(int(number) for number in found)


def _config(path: Path, tensors: Mapping[str, Tensor], opts: Mapping[str, Any]) -> E4EConfig:
    """The architecture from the tensor shapes, checked against ``opts.stylegan_size``."""
    heads = _indices(tensors, r"styles\.(\d+)\.linear\.weight")
    if heads != list(range(len(heads))):
        raise CheckpointError(f"{path}: the style heads are not numbered 0 to {len(heads) - 1}, so it is not {WHAT}")
    size = opts.get("stylegan_size")
    if size is not None:
        rows = 2 * int(math.log2(int(size))) - 2
        if rows != len(heads):
            raise CheckpointError(
                f"{path}: opts.stylegan_size {size} means {rows} style heads, but the file has {len(heads)}"
            )
    head_convs = _indices(tensors, r"styles\.0\.convs\.(\d+)\.weight")
    shapes = {key: tuple(value.shape) for key, value in tensors.items()}
    values = {
        "style_count": len(heads),
        "style_dim": shapes["styles.0.linear.weight"][0],
        "blocks": stage_blocks(shapes),
        "width": shapes["input_layer.0.weight"][0],
        "input_size": HEAD_SIDE * 2 ** len(head_convs),  # head 0 halves the 16x16 tap of a 256 input 4 times
    }
    try:
        return E4EConfig(**values)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} holds an encoder lswap cannot build: {exc}") from None


def _check_shapes(path: Path, config: E4EConfig, tensors: Mapping[str, Tensor]) -> None:
    """Refuse tensors that are not exactly the encoder's, before building it (the config comes
    from the file; shapes of a network built on fake tensors cost no memory)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from .network import Encoder4Editing

    with FakeTensorMode():
        expected = {key: tuple(value.shape) for key, value in Encoder4Editing(config).state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    misshapen = sorted(key for key in set(expected) & set(tensors) if tuple(tensors[key].shape) != expected[key])
    problems = [
        f"{label}: {', '.join(keys[:6])}" + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen))
        if keys
    ]
    if problems:
        raise CheckpointError(
            f"{path}: the encoder tensors do not fit an e4e encoder ({'; '.join(problems)})",
            hint="pass the official file unmodified",
        )


def _latent_avg(
    path: Path, checkpoint: Mapping[str, Any], state: Mapping[str, Tensor], opts: Mapping[str, Any], config: E4EConfig
) -> tuple[Tensor, str]:
    """``latent_avg`` as ``(style_count, style_dim)``, and a note on where it came from.

    As pSp's ``__load_latent_avg``: the stored one (a row repeated per style, or one row);
    without one, the decoder's mean W when ``opts.start_from_latent_avg`` is set, else zero
    (the official forward then adds nothing).
    """
    rows, width = config.style_count, config.style_dim
    stored = checkpoint.get("latent_avg")
    if isinstance(stored, Tensor):
        stored = stored.detach().float()
        if stored.numel() == rows * width:
            return stored.reshape(rows, width).contiguous(), "stored in the checkpoint"
        if stored.numel() == width:
            return stored.reshape(1, width).repeat(rows, 1), "stored in the checkpoint (one row, repeated)"
        raise CheckpointError(f"{path}: latent_avg has shape {tuple(stored.shape)}, not ({rows}, {width})")
    if not opts.get("start_from_latent_avg"):
        return torch.zeros(rows, width), "none (opts.start_from_latent_avg is off): zero"
    decoder = {key[len(DECODER) :]: value for key, value in state.items() if key.startswith(DECODER)}
    generator = convert_g_ema(path, decoder, {}, None, what="e4e decoder")
    w_avg = generator.tensors["mapping.w_avg"]
    if w_avg.numel() != width:
        raise CheckpointError(f"{path}: the decoder's codes are {w_avg.numel()} wide, the encoder's {width}")
    note = "the decoder's mean W (10000 samples of z, seed 0), as pSp computes it"
    return w_avg.reshape(1, width).repeat(rows, 1), note
