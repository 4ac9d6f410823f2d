"""Import the official StyleNeRF network pickles (``ffhq_256.pkl``... and training snapshots).

They are NVlabs ``torch_utils.persistence`` pickles of ``{'G', 'D', 'G_ema', ...}``
whose ``Generator`` holds a ``NeRFSynthesisNetwork``; the constructor arguments were
built from the official hydra configs, so OmegaConf ``DictConfig``/``ListConfig``
objects and numpy scalars appear in them. lswap reads the file with
`lswap_core.legacy_pickle` (nothing is imported or executed; OmegaConf objects come
back as inert records, read here as plain data), builds the config from the
recorded arguments with the official defaults, and keeps the tensors under their
official names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.legacy_pickle import ModuleRecord, PersistentObject, load_checkpoint, module_tensors
from lswap_core.ops.upfirdn2d import setup_filter
from lswap_core.official_files import file_head

from .config import StyleNeRFConfig
from .upsampler import RESAMPLE_FILTER

MARKER = b"NeRFSynthesisNetwork"  # the synthesis class of every StyleNeRF generator
MALFORMED = (TypeError, ValueError, AttributeError, LookupError, OverflowError, RuntimeError, RecursionError)

# Options lswap's generator has only at these values (official names; a missing one takes the
# official default, which is the first value).
FIXED_SYNTHESIS = {
    "kernel_size": (3, 1), "architecture": ("skip",), "upsample_mode": ("default", "nn_cat"), "use_noise": (True, False),
    "z_dim": (256, 0), "predict_camera": (False,), "rectangular": (None,),
    "interp_steps": (None,), "prog_nerf_only": (False,), "freeze_nerf": (False,), "activation": ("lrelu",),
}
REQUIRED_SYNTHESIS = {"kernel_size": 1, "upsample_mode": "nn_cat", "use_noise": False, "z_dim": 0}
FIXED_CAMERA = {"gaussian_camera": True, "angular_camera": True, "depth_transform": None, "dists_normalized": False,
                "ray_align_corner": False, "intersect_ball": False}
FIXED_RENDERER = {"no_background": False, "white_background": False, "sigma_type": "relu", "fine_only": False,
                  "n_final_samples": None, "pre_volume_size": None}
FIXED_NERF = {"positional_encoding": "normal", "downscale_p_by": 1, "use_viewdirs": False, "predict_rgb": True,
              "use_skip": False, "add_rgb": False, "merge_sigma_feat": False, "no_sigma": False, "use_pos": False,
              "use_normal": False, "use_sdf": None, "tcnn_backend": False, "normalized_feat": False,
              "final_sigmoid_act": False, "shuffle_factor": 1, "disable_latents": False}
FIXED_UPSAMPLER = {"no_2d_renderer": False, "no_residual_img": False, "block_reses": None, "shared_rgb_style": False,
                   "channel_base_sz": None, "channel_dict": None, "out_channel_dict": None}


def plain(value: Any) -> Any:
    """OmegaConf containers and nodes (inert records), EasyDicts and numpy scalars as plain data."""
    if isinstance(value, ModuleRecord):
        state = value.state if isinstance(value.state, dict) else {}
        if "_content" in state:
            return plain(state["_content"])
        if "_val" in state:
            return plain(state["_val"])
        raise TypeError(f"an unreadable {value.qualified_name} record")
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class StyleNeRFPickleConverter(Converter):
    """Official StyleNeRF network pickle (.pkl)."""

    name = "stylenerf"
    description = "official StyleNeRF network pickle (.pkl, facebookresearch/StyleNeRF)"
    network_keys: ClassVar[tuple[str, ...]] = ("G_ema", "G")  # the averaged generator when present

    @classmethod
    def sniff(cls, path: Path) -> bool:
        head = file_head(path).head
        return head[:1] == b"\x80" and b"torch_utils.persistence" in head and MARKER in head

    def convert(self, path: Path) -> ConvertedWeights:
        data = load_checkpoint(path)
        key, network = self._find_generator(path, data)
        try:
            config, notes = _config(path, network)
            tensors: dict[str, Tensor] = {}
            for name, tensor in module_tensors(network):
                if name.endswith("resample_filter"):
                    _check_filter(path, name, tensor)  # rebuilt by the generator, not stored
                elif name != "synthesis.alpha":
                    tensors[name] = tensor.float().contiguous()
        except MALFORMED as exc:
            raise CheckpointError(f"{path} holds a malformed StyleNeRF pickle ({type(exc).__name__}: {str(exc)[:200]})",
                                  hint="pass the official file unmodified") from None
        _check_shapes(path, config, tensors)
        provenance = {"format": "stylenerf-pickle", "network": key, "source_code_sha256": network.source_sha256, **notes}
        return ConvertedWeights("generator", "stylenerf", dataclasses.asdict(config), tensors, provenance)

    def _find_generator(self, path: Path, data: Any) -> tuple[str, PersistentObject]:
        if not isinstance(data, Mapping):
            raise CheckpointError(f"{path} is not a StyleNeRF network pickle (it holds a {type(data).__name__})")
        for key in self.network_keys:
            if key in data:
                network = data[key]
                if not isinstance(network, PersistentObject) or network.class_name != "Generator":
                    raise CheckpointError(f"{path}: {key} is a {getattr(network, 'class_name', type(network).__name__)}, not a Generator")
                synthesis = (network.state.get("_modules") or {}).get("synthesis")
                found = getattr(synthesis, "class_name", type(synthesis).__name__)
                if found == "SynthesisNetwork":
                    raise CheckpointError(f"{path} holds a StyleGAN2 generator, not StyleNeRF",
                                          hint="convert it with --format stylegan2-nvlabs")
                if found != "NeRFSynthesisNetwork":
                    raise CheckpointError(f"{path}: the generator's synthesis is a {found}, not StyleNeRF's NeRFSynthesisNetwork")
                return key, network
        raise CheckpointError(f"{path} has no generator (no G_ema or G)", hint="pass a StyleNeRF network pickle")


def _require(path: Path, where: str, options: Mapping[str, Any], fixed: Mapping[str, Any]) -> None:
    for option, expected in fixed.items():
        if option in options and options[option] != expected and not (expected is None and options[option] == "None"):
            raise CheckpointError(f"{path}: {where} option {option}={options[option]!r} is not supported by lswap's StyleNeRF")


def _config(path: Path, network: PersistentObject) -> tuple[StyleNeRFConfig, dict[str, str]]:
    """Our config from the recorded ``Generator`` arguments, with the official defaults for absent ones."""
    kwargs = plain(network.init_kwargs)
    for required in ("z_dim", "w_dim", "img_resolution"):
        if required not in kwargs:
            raise CheckpointError(f"{path}: the generator record lacks its {required} argument")
    if kwargs.get("c_dim", 0) or kwargs.get("img_channels", 3) != 3 or kwargs.get("encoder_kwargs"):
        raise CheckpointError(f"{path} holds a conditional, non-RGB or encoder-equipped generator, which lswap does not build")
    syn = dict(kwargs.get("synthesis_kwargs") or {})
    mapping = dict(kwargs.get("mapping_kwargs") or {})
    for option, values in FIXED_SYNTHESIS.items():
        if syn.get(option, values[0]) not in values or (option in REQUIRED_SYNTHESIS and syn.get(option, values[0]) != REQUIRED_SYNTHESIS[option]):
            raise CheckpointError(f"{path}: synthesis option {option}={syn.get(option, values[0])!r} is not supported by lswap's StyleNeRF")
    if syn.get("input_kwargs") or syn.get("regularization") not in (None, []):
        raise CheckpointError(f"{path}: NeRF input encodings (hash grids, tri-planes) are not supported by lswap's StyleNeRF")
    if syn.get("resolution_start") not in (None, syn.get("resolution_vol", 32)):
        raise CheckpointError(f"{path}: resolution_start {syn['resolution_start']} differs from resolution_vol, "
                              "which lswap's StyleNeRF does not support")
    camera, renderer = dict(syn.get("camera_kwargs") or {}), dict(syn.get("renderer_kwargs") or {})
    fg, bg, up = (dict(syn.get(k) or {}) for k in ("foreground_kwargs", "background_kwargs", "upsampler_kwargs"))
    _require(path, "camera", camera, FIXED_CAMERA)
    _require(path, "renderer", renderer, FIXED_RENDERER)
    _require(path, "foreground", fg, FIXED_NERF)
    _require(path, "background", {**bg, "inverse_sphere": bg.get("inverse_sphere", False)}, {**FIXED_NERF, "inverse_sphere": True})
    _require(path, "upsampler", up, FIXED_UPSAMPLER)
    if fg.get("n_freq_posenc", 10) != bg.get("n_freq_posenc", 10):
        raise CheckpointError(f"{path}: different positional encodings for the two NeRFs are not supported")
    range_radius = [float(r) for r in camera.get("range_radius", (2.732, 2.732))]
    if range_radius[0] != range_radius[1]:
        raise CheckpointError(f"{path}: a camera radius range {range_radius} is not supported (lswap's cameras keep one radius)")
    ema_beta = float(syn.get("magnitude_ema_beta", -1))
    values = dict(
        resolution=int(kwargs["img_resolution"]), z_dim=int(kwargs["z_dim"]), w_dim=int(kwargs["w_dim"]),
        mapping_layers=int(mapping.get("num_layers", 8)), mapping_lr_multiplier=float(mapping.get("lr_multiplier", 0.01)),
        w_avg_beta=None if mapping.get("w_avg_beta", 0.995) is None else float(mapping.get("w_avg_beta", 0.995)),
        resolution_vol=int(syn.get("resolution_vol", 32)), rgb_out_dim=int(syn.get("rgb_out_dim", 256)),
        fg_hidden=int(fg.get("hidden_size", 128)), fg_blocks=int(fg.get("n_blocks", 8)),
        bg_hidden=int(bg.get("hidden_size", 128)), bg_blocks=int(bg.get("n_blocks", 8)),
        z_dim_bg=int(syn.get("z_dim_bg", 128)), pe_freqs=int(fg.get("n_freq_posenc", 10)),
        n_ray_samples=int(renderer.get("n_ray_samples", 14)), n_bg_samples=int(renderer.get("n_bg_samples", 4)),
        hierarchical=bool(renderer.get("hierarchical", True)), fov=float(camera.get("fov", 49.13)),
        range_u=tuple(camera.get("range_u", (0, 0))), range_v=tuple(camera.get("range_v", (0.25, 0.25))),
        radius=range_radius[0], depth_range=tuple(camera.get("depth_range", (0.5, 6.0))),
        bg_start=float(camera.get("bg_start", 1.0)), channel_base=int(float(syn.get("channel_base", 1)) * 32768),
        channel_max=int(syn.get("channel_max", 1024)),
        conv_clamp=None if syn.get("conv_clamp") is None else float(syn["conv_clamp"]),
        magnitude_ema=ema_beta > 0, magnitude_ema_beta=ema_beta if ema_beta > 0 else 0.999,
    )
    notes: dict[str, str] = {}
    alpha = _alpha(path, network)
    if alpha == -1:  # the official renderer takes 20 coarse samples while alpha is -1 ("memory safe")
        values["n_ray_samples"] = 20
        notes["alpha"] = "-1: rendered with 20 coarse samples per ray, as the official code does"
    try:
        return StyleNeRFConfig(**values), notes
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} holds a StyleNeRF generator lswap cannot build: {exc}") from None


def _alpha(path: Path, network: PersistentObject) -> float:
    """The progressive-growing blend of the file; only finished networks (1, or -1 untrained) convert."""
    synthesis = network.state["_modules"]["synthesis"]
    buffer = (synthesis.state.get("_buffers") or {}).get("alpha")
    alpha = float(buffer) if isinstance(buffer, Tensor) and buffer.numel() == 1 else 1.0
    if alpha not in (1.0, -1.0):
        raise CheckpointError(f"{path} is a snapshot taken while the resolution was still growing (alpha {alpha:g})",
                              hint="convert a snapshot from after the growing phase (5,000 kimg in the FFHQ runs)")
    return alpha


def _check_filter(path: Path, name: str, taps: Tensor) -> None:
    expected = setup_filter(RESAMPLE_FILTER)
    if tuple(taps.shape) != tuple(expected.shape) or not torch.allclose(taps.float(), expected, rtol=1e-5, atol=1e-6):
        raise CheckpointError(f"{path}: {name} is not the [1, 3, 3, 1] filter lswap's StyleNeRF uses")


def _check_shapes(path: Path, config: StyleNeRFConfig, tensors: Mapping[str, Tensor]) -> None:
    """Refuse tensors that do not fit the generator the records describe, before building it
    (on fake tensors, which hold no memory, as a hostile config could ask for a lot)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from .generator import StyleNeRFGenerator

    with FakeTensorMode():
        expected = {k: tuple(v.shape) for k, v in StyleNeRFGenerator(config).state_dict().items()}
    problems = []
    for label, keys in (
        ("missing", sorted(set(expected) - set(tensors))),
        ("unexpected", sorted(set(tensors) - set(expected))),
        ("wrong shape", sorted(k for k in set(expected) & set(tensors) if tuple(tensors[k].shape) != expected[k])),
    ):
        if keys:
            problems.append(f"{label}: {', '.join(keys[:6])}" + (f" and {len(keys) - 6} more" if len(keys) > 6 else ""))
    if problems:
        raise CheckpointError(f"{path}: the tensors do not fit the generator its records describe ({'; '.join(problems)})",
                              hint="pass the official file unmodified")
