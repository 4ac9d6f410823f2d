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


class OmegaConfLike:
    """Pickles as an ``omegaconf.dictconfig.DictConfig`` holding ``content`` (nodes as ``AnyNode``)."""

    def __init__(self, content: Mapping[str, Any]) -> None:
        self.content = dict(content)


@contextlib.contextmanager
def _omegaconf_stand_ins() -> Iterator[dict[str, type]]:
    names = ["omegaconf", "omegaconf.dictconfig", "omegaconf.nodes"]
    saved = {name: sys.modules.get(name) for name in names}
    dictconfig, nodes = types.ModuleType("omegaconf.dictconfig"), types.ModuleType("omegaconf.nodes")
    DictConfig = type("DictConfig", (), {"__module__": "omegaconf.dictconfig", "__qualname__": "DictConfig"})
    AnyNode = type("AnyNode", (), {"__module__": "omegaconf.nodes", "__qualname__": "AnyNode"})
    dictconfig.DictConfig, nodes.AnyNode = DictConfig, AnyNode
    sys.modules.update({"omegaconf": types.ModuleType("omegaconf"), "omegaconf.dictconfig": dictconfig, "omegaconf.nodes": nodes})
    try:
        yield {"DictConfig": DictConfig, "AnyNode": AnyNode}
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def write_lightning_checkpoint(path: Path, state_dict: Mapping[str, torch.Tensor], hp: Mapping[str, Any]) -> Path:
    """A PyTorch Lightning checkpoint as ``torch.save`` writes it, ``hp`` as an OmegaConf config."""
    with _omegaconf_stand_ins() as stand_ins:

        def build(value: Any) -> Any:
            if isinstance(value, Mapping):
                config = stand_ins["DictConfig"].__new__(stand_ins["DictConfig"])
                config.__dict__.update({"_content": {k: build(v) for k, v in value.items()}, "_parent": None})
                return config
            node = stand_ins["AnyNode"].__new__(stand_ins["AnyNode"])
            node.__dict__.update({"_val": value, "_parent": None})
            return node

        torch.save(
            {
                "epoch": 3,
                "global_step": 25000,
                "pytorch-lightning_version": "1.5.10",
                "state_dict": dict(state_dict),
                "hyper_parameters": {"hp": build(hp)},
            },
            path,
        )
    return path
