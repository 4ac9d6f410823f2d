"""Writers of small files in official pickle formats, for converter tests.

NVlabs network pickles reference ``torch_utils.persistence`` and
``dnnlib.util.EasyDict``, modules that only exist in NVlabs' code. To write
such a pickle without that code, short-lived stand-in modules are put in
``sys.modules`` while pickling and removed afterwards, so the reader under
test never finds them.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests.golden import Golden


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


# -- Official StyleGAN2 files from golden fixtures ----------------------------------------------


def nvlabs_golden_records(
    golden: Golden, *, init_kwargs: Mapping[str, Any] | None = None, scale: float = 1.0
) -> NVlabsObject:
    """The persistent-object tree of the NVlabs ``Generator`` recorded in ``golden``.

    Rebuilt from the fixture's module tree (class, constructor arguments and
    plain attributes of every module, which of its tensors are parameters and
    which buffers) and its official state dict, laid out as
    ``torch_utils.persistence`` pickles it. ``init_kwargs`` replaces the
    generator's recorded constructor arguments; ``scale`` multiplies every
    parameter (a training ``G`` that differs from ``G_ema``, whose buffers
    the training loop copies from ``G``).
    """
    meta = golden.meta
    modules = meta["modules"]
    easydicts = set(meta.get("easydict_init_kwargs", ()))

    def kwargs_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: EasyDict(v) if k in easydicts and isinstance(v, Mapping) else v for k, v in kwargs.items()}

    def record(index: int) -> NVlabsObject:
        module = modules[index]
        path = module["path"]
        prefix = f"{path}." if path else ""
        children = {
            other["path"][len(prefix):]: record(j)
            for j, other in enumerate(modules)
            if other["path"].startswith(prefix) and other["path"] != path and "." not in other["path"][len(prefix):]
        }
        attributes = dict(module["attributes"])
        for name in module.get("numpy_float64_attributes", ()):
            attributes[name] = np.float64(attributes[name])
        kwargs = init_kwargs if (path == "" and init_kwargs is not None) else module["init_kwargs"]
        return nvlabs_module(
            module["class"],
            parameters={k: golden.state[prefix + k] * scale for k in module["parameters"]},
            buffers={k: golden.state[prefix + k] for k in module["buffers"]},
            modules=children,
            init_kwargs=kwargs_of(kwargs),
            _init_args=tuple(module["init_args"]),
            **attributes,
        )

    (root,) = [i for i, module in enumerate(modules) if module["path"] == ""]
    return record(root)


def nvlabs_golden_init_kwargs(golden: Golden, **synthesis_extra: Any) -> dict[str, Any]:
    """The recorded ``Generator`` arguments (``EasyDict`` where train.py passes one), plus synthesis options."""
    kwargs = {k: EasyDict(v) if isinstance(v, Mapping) else v for k, v in golden.meta["init_kwargs"].items()}
    kwargs["synthesis_kwargs"] = EasyDict({**kwargs["synthesis_kwargs"], **synthesis_extra})
    return kwargs


def write_nvlabs_golden(path: Path, golden: Golden, **synthesis_extra: Any) -> Path:
    """A network pickle as stylegan2-ada-pytorch's training loop writes it, with the golden ``G_ema``.

    ``G`` holds the same network with every parameter halved, so a reader
    that takes ``G`` instead of ``G_ema`` gets other images.
    """
    kwargs = nvlabs_golden_init_kwargs(golden, **synthesis_extra)
    discriminator = nvlabs_module("Discriminator", parameters={"b16.fromrgb.weight": torch.ones(8, 3, 1, 1)})
    payload = {
        "G": nvlabs_golden_records(golden, init_kwargs=kwargs, scale=0.5),
        "D": discriminator,
        "G_ema": nvlabs_golden_records(golden, init_kwargs=kwargs),
        "augment_pipe": None,
        "training_set_kwargs": EasyDict(resolution=golden.meta["init_kwargs"]["img_resolution"]),
    }
    return write_nvlabs_pickle(path, payload)


def rosinality_golden_checkpoint(golden: Golden, *, latent_avg: bool = True, args: bool = True) -> dict[str, Any]:
    """``{'g_ema', 'latent_avg', 'args'}`` as rosinality's scripts save them, from the golden state dict."""
    keys = golden.meta.get("state_keys") or list(golden.state)  # the official state dict's order
    checkpoint: dict[str, Any] = {"g_ema": {k: golden.state[k].clone() for k in keys}}
    if latent_avg:
        checkpoint["latent_avg"] = golden.inputs["latent_avg"].clone()
    if args:
        checkpoint["args"] = argparse.Namespace(**golden.meta["args"])
    return checkpoint


def write_rosinality_golden(path: Path, golden: Golden, *, legacy: bool = False, **options: Any) -> Path:
    """``torch.save`` of `rosinality_golden_checkpoint`; ``legacy`` writes torch < 1.6's format."""
    torch.save(rosinality_golden_checkpoint(golden, **options), path, _use_new_zipfile_serialization=not legacy)
    return path


# -- Official StyleNeRF files from golden fixtures ----------------------------------------------


def write_stylenerf_golden(path: Path, golden: Golden, *, alpha: float = 1.0, drop: tuple[str, ...] = (),
                           synthesis_extra: Mapping[str, Any] | None = None) -> Path:
    """A StyleNeRF network pickle as the official training loop writes it, with the golden ``G_ema``.

    The generator's constructor arguments are OmegaConf ``DictConfig``/``ListConfig`` objects (the
    official script builds them from its hydra config), with numpy scalars among them; ``G`` holds
    the same network with every parameter halved. ``alpha`` is the ``synthesis.alpha`` buffer,
    ``drop`` removes tensors and ``synthesis_extra`` changes recorded synthesis options.
    """
    meta = golden.meta
    with _lightning_stand_ins() as omegaconf:

        def node(value: Any) -> Any:
            metadata = _instance(omegaconf["ContainerMetadata"], ref_type=Any, object_type=dict, optional=True, key=None, flags={})
            if isinstance(value, Mapping):
                return _instance(omegaconf["DictConfig"], _metadata=metadata, _parent=None,
                                 _content={key: node(item) for key, item in value.items()})
            if isinstance(value, list):
                return _instance(omegaconf["ListConfig"], _metadata=metadata, _parent=None, _content=[node(v) for v in value])
            return _instance(omegaconf["AnyNode"], _val=value, _metadata=_instance(omegaconf["Metadata"], ref_type=Any,
                                                                                   object_type=None, optional=True, key=None, flags={}))

        kwargs = dict(meta["recorded_init_kwargs"])
        synthesis = {**kwargs["synthesis_kwargs"], **(synthesis_extra or {})}
        synthesis["camera_kwargs"] = {**synthesis["camera_kwargs"], "fov": np.float64(synthesis["camera_kwargs"]["fov"])}
        kwargs["mapping_kwargs"] = node({"num_layers": np.int64(kwargs["mapping_kwargs"]["num_layers"])})
        kwargs["synthesis_kwargs"] = node(synthesis)

        def objects() -> dict[str, NVlabsObject]:
            made: dict[str, NVlabsObject] = {}
            for key in ("C", "V", "U"):
                record = meta["objects"][key]
                state = {**record["attributes"], "_init_args": (EasyDict(record["init_args"][0]),), "_init_kwargs": EasyDict()}
                if key == "V":
                    state["C"] = made["C"]
                made[key] = NVlabsObject(record["cls"], state)
            return made

        def generator(scale: float) -> NVlabsObject:
            modules = meta["modules"]

            def record(index: int) -> Any:
                module, prefix = modules[index], (modules[index]["path"] + "." if modules[index]["path"] else "")
                children = {
                    other["path"][len(prefix):]: record(j) for j, other in enumerate(modules)
                    if other["path"].startswith(prefix) and other["path"] != module["path"] and "." not in other["path"][len(prefix):]
                }
                if module["cls"].startswith("torch.nn."):  # ModuleList / Sequential: plain torch modules
                    container = torch.nn.ModuleList() if module["cls"].endswith("ModuleList") else torch.nn.Sequential()
                    container._modules.update(children)
                    return container
                state_of = {k: golden.state[prefix + k] for k in module["parameters"] + module["buffers"] if prefix + k not in drop}
                buffers = {k: v for k, v in state_of.items() if k in module["buffers"]}
                if module["path"] == "synthesis":
                    buffers["alpha"] = torch.tensor(float(alpha))
                extra = objects() if module["path"] == "synthesis" else {}
                return nvlabs_module(
                    module["cls"],
                    parameters={k: v * scale for k, v in state_of.items() if k in module["parameters"]},
                    buffers=buffers, modules=children,
                    init_kwargs=kwargs if module["path"] == "" else EasyDict(module["init_kwargs"]),
                    **extra,
                )

            (root,) = [i for i, module in enumerate(modules) if module["path"] == ""]
            return record(root)

        payload = {
            "G": generator(0.5),
            "D": nvlabs_module("Discriminator", parameters={"b64.fromrgb.weight": torch.ones(8, 3, 1, 1)}),
            "G_ema": generator(1.0),
            "augment_pipe": None,
            "training_set_kwargs": EasyDict(resolution=meta["init_kwargs"]["img_resolution"], max_size=np.int64(70000)),
        }
        return write_nvlabs_pickle(path, payload)
