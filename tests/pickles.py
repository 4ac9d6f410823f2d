"""Writers of small files in official pickle formats, for converter tests.

NVlabs network pickles reference ``torch_utils.persistence`` and
``dnnlib.util.EasyDict``, modules that only exist in NVlabs' code. To write
such a pickle without that code, short-lived stand-in modules are put in
``sys.modules`` while pickling and removed afterwards, so the reader under
test never finds them.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch


class NVlabsObject:
    """Pickles as a ``persistence``-decorated object: class name, state, module source."""

    def __init__(self, class_name: str, state: Mapping[str, Any], module_src: str = "# network source\n") -> None:
        self.meta = {"type": "class", "version": 6, "module_src": module_src, "class_name": class_name, "state": dict(state)}


class EasyDict(dict):
    """Pickles as ``dnnlib.util.EasyDict``."""


def nvlabs_module(
    class_name: str,
    *,
    parameters: Mapping[str, torch.Tensor] | None = None,
    buffers: Mapping[str, torch.Tensor] | None = None,
    modules: Mapping[str, Any] | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    **attributes: Any,
) -> NVlabsObject:
    """A persistent ``torch.nn.Module`` record laid out as NVlabs' pickles hold it."""
    state = {
        "training": False,
        "_parameters": {k: torch.nn.Parameter(v.clone()) for k, v in (parameters or {}).items()},
        "_buffers": {k: v.clone() for k, v in (buffers or {}).items()},
        "_non_persistent_buffers_set": set(),
        "_modules": dict(modules or {}),
        "_init_args": (),
        "_init_kwargs": EasyDict(init_kwargs or {}),
        **attributes,
    }
    return NVlabsObject(class_name, state)


@contextlib.contextmanager
def _stand_in_modules() -> Iterator[dict[str, Any]]:
    names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"]
    saved = {name: sys.modules.get(name) for name in names}
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta: Any) -> Any:  # never called: only its name is pickled
        raise AssertionError("stand-in called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    stand_in_easydict = type("EasyDict", (dict,), {"__module__": "dnnlib.util", "__qualname__": "EasyDict"})
    util.EasyDict = stand_in_easydict
    sys.modules.update(
        {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
         "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}
    )
    try:
        yield {"reconstruct": _reconstruct_persistent_obj, "EasyDict": stand_in_easydict}
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def write_nvlabs_pickle(path: Path, payload: Mapping[str, Any], protocol: int = 4) -> Path:
    """Write ``payload`` (a dict such as ``{'G_ema': nvlabs_module(...)}``) as NVlabs' ``pickle.dump`` would."""
    with _stand_in_modules() as stand_ins:

        class Pickler(pickle.Pickler):
            def reducer_override(self, obj: Any) -> Any:
                if isinstance(obj, NVlabsObject):
                    return stand_ins["reconstruct"], (obj.meta,)
                if type(obj) is EasyDict:
                    return stand_ins["EasyDict"], (), None, None, iter(obj.items())
                return NotImplemented

        with open(path, "wb") as handle:
            Pickler(handle, protocol=protocol).dump(dict(payload))
    return path


# -- PyTorch Lightning checkpoints ------------------------------------------------------------

_LIGHTNING_CLASSES = {
    "omegaconf.dictconfig": ("DictConfig",),
    "omegaconf.listconfig": ("ListConfig",),
    "omegaconf.base": ("ContainerMetadata", "Metadata"),
    "omegaconf.nodes": ("AnyNode",),
    "pytorch_lightning.callbacks.model_checkpoint": ("ModelCheckpoint",),
}


@contextlib.contextmanager
def _lightning_stand_ins() -> Iterator[dict[str, type]]:
    """Short-lived modules with classes named like OmegaConf's and Lightning's (plain data holders)."""
    created: dict[str, type] = {}
    saved = {}
    for module_name, class_names in _LIGHTNING_CLASSES.items():
        parts = module_name.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name not in saved:
                saved[name] = sys.modules.get(name)
                sys.modules[name] = types.ModuleType(name)
        module = sys.modules[module_name]
        for class_name in class_names:
            cls = type(class_name, (), {"__module__": module_name, "__qualname__": class_name})
            setattr(module, class_name, cls)
            created[class_name] = cls
    try:
        yield created
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _instance(cls: type, **state: Any) -> Any:
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


def write_lightning_checkpoint(path: Path, state_dict: Mapping[str, torch.Tensor], hyper_parameters: Mapping[str, Any]) -> Path:
    """Write a checkpoint laid out as PyTorch Lightning 1.x saves one: the module's ``state_dict``,
    optimizer state, OmegaConf ``hyper_parameters``, and callback state keyed by the callback class."""
    with _lightning_stand_ins() as cls:

        def metadata(object_type: type) -> Any:
            return _instance(cls["ContainerMetadata"], ref_type=Any, object_type=object_type, optional=True, key=None,
                             flags={}, key_type=Any, element_type=Any)

        def node(value: Any) -> Any:
            if isinstance(value, Mapping):
                return _instance(cls["DictConfig"], _metadata=metadata(dict), _parent=None,
                                 _content={key: node(item) for key, item in value.items()})
            if isinstance(value, list):
                return _instance(cls["ListConfig"], _metadata=metadata(list), _parent=None, _content=[node(v) for v in value])
            return _instance(cls["AnyNode"], _val=value, _metadata=_instance(cls["Metadata"], ref_type=Any, object_type=None,
                                                                               optional=True, key=None, flags={}))

        checkpoint = {
            "epoch": 5,
            "global_step": 109999,
            "pytorch-lightning_version": "1.4.9",
            "state_dict": dict(state_dict),
            "callbacks": {cls["ModelCheckpoint"]: {"best_model_score": torch.tensor(0.5), "dirpath": "/checkpoints"}},
            "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 1e-4, "params": [0]}]}],
            "lr_schedulers": [],
            "hparams_name": "hp",
            "hyper_parameters": node(dict(hyper_parameters)),
        }
        torch.save(checkpoint, path)
    return path
def nvlabs_generator_records(generator: torch.nn.Module, init_kwargs: Mapping[str, Any]) -> NVlabsObject:
    """The persistent-object tree NVlabs' pickles hold for a StyleGAN2 ``Generator``.

    ``generator`` is lswap's `StyleGAN2Generator`, whose modules have NVlabs'
    class names and layout; every buffer is stored, as NVlabs' modules
    register their resampling filters as persistent buffers.
    """

    def record(module: torch.nn.Module, class_name: str, kwargs: Mapping[str, Any]) -> NVlabsObject:
        children = {name: record(child, type(child).__name__, {}) for name, child in module.named_children()}
        return nvlabs_module(
            class_name,
            parameters={k: v.detach() for k, v in module._parameters.items() if v is not None},
            buffers={k: v for k, v in module._buffers.items() if v is not None},
            modules=children,
            init_kwargs=kwargs,
        )

    return record(generator, "Generator", init_kwargs)


def nvlabs_init_kwargs(config: Any, **synthesis_extra: Any) -> dict[str, Any]:
    """``Generator`` constructor arguments, as stylegan2-ada-pytorch's train.py records them."""
    return {
        "z_dim": config.z_dim,
        "c_dim": 0,
        "w_dim": config.w_dim,
        "img_resolution": config.resolution,
        "img_channels": 3,
        "mapping_kwargs": EasyDict(num_layers=config.mapping_layers, lr_multiplier=config.mapping_lr_multiplier),
        "synthesis_kwargs": EasyDict(
            channel_base=config.channel_base,
            channel_max=config.channel_max,
            num_fp16_res=4,
            conv_clamp=config.conv_clamp,
            **synthesis_extra,
        ),
    }


def rosinality_state_dict(generator: Any) -> dict[str, torch.Tensor]:
    """The ``g_ema`` state dict rosinality's ``model.Generator`` would have with these weights.

    Written from rosinality's module layout: ``style.{1..n}`` after a
    ``PixelNorm``, ``input.input``, ``conv1``/``to_rgb1``, ``convs``,
    ``to_rgbs``, ``noises.noise_{i}`` and the blur kernels (the [1, 3, 3, 1]
    filter normalised and times 4).
    """
    sd = generator.state_dict()
    config = generator.config
    k1 = torch.tensor([1.0, 3.0, 3.0, 1.0])
    blur = torch.outer(k1, k1) / torch.outer(k1, k1).sum() * 4
    state: dict[str, torch.Tensor] = {}
    for i in range(config.mapping_layers):
        state[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        state[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    state["input.input"] = sd["synthesis.b4.const"][None]

    def styled(prefix: str, layer: str) -> None:
        state[f"{prefix}.conv.weight"] = sd[f"{layer}.weight"][None]
        state[f"{prefix}.conv.modulation.weight"] = sd[f"{layer}.affine.weight"]
        state[f"{prefix}.conv.modulation.bias"] = sd[f"{layer}.affine.bias"]
        state[f"{prefix}.noise.weight"] = sd[f"{layer}.noise_strength"].reshape(1)
        state[f"{prefix}.activate.bias"] = sd[f"{layer}.bias"]

    def rgb(prefix: str, layer: str) -> None:
        state[f"{prefix}.conv.weight"] = sd[f"{layer}.weight"][None]
        state[f"{prefix}.conv.modulation.weight"] = sd[f"{layer}.affine.weight"]
        state[f"{prefix}.conv.modulation.bias"] = sd[f"{layer}.affine.bias"]
        state[f"{prefix}.bias"] = sd[f"{layer}.bias"].reshape(1, 3, 1, 1)

    styled("conv1", "synthesis.b4.conv1")
    rgb("to_rgb1", "synthesis.b4.torgb")
    noises = [sd["synthesis.b4.conv1.noise_const"]]
    for k, res in enumerate(config.block_resolutions[1:]):
        styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0")
        state[f"convs.{2 * k}.conv.blur.kernel"] = blur
        styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1")
        rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
        state[f"to_rgbs.{k}.upsample.kernel"] = blur
        noises += [sd[f"synthesis.b{res}.conv0.noise_const"], sd[f"synthesis.b{res}.conv1.noise_const"]]
    for i, noise in enumerate(noises):
        state[f"noises.noise_{i}"] = noise[None, None]
    return {key: value.clone() for key, value in state.items()}
