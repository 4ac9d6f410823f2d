"""Import NVlabs network pickles (stylegan2-ada-pytorch, StyleGAN3's StyleGAN2 configs).

Such a pickle holds ``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}``
whose networks are ``torch_utils.persistence`` objects: the class name, the
constructor arguments and the module state, plus the Python source of the
classes, which NVlabs' own loader executes. lswap reads the file with
`lswap_core.legacy_pickle` (nothing is imported or executed), checks that the
records describe a StyleGAN2 generator the plugin can rebuild, and takes the
tensors under their own names, which are the plugin's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.legacy_pickle import PersistentObject, load_checkpoint, module_tensors
from lswap_core.official_files import file_head

from .convert_common import (
    MALFORMED_RECORD_ERRORS,
    W_AVG_NOTE,
    build_config,
    check_filter,
    check_filter_option,
    check_shapes,
    config_data,
    estimate_w_avg,
    malformed,
)

GENERATOR_CLASSES = {
    "Generator",
    "MappingNetwork",
    "SynthesisNetwork",
    "SynthesisBlock",
    "SynthesisLayer",
    "ToRGBLayer",
    "FullyConnectedLayer",
}
STYLEGAN3_MARKERS = {"SynthesisInput"}  # networks_stylegan3's Fourier-feature input

# Synthesis options lswap supports only at their StyleGAN2 values.
SUPPORTED_FIXED_OPTIONS = {("architecture", "skip"), ("use_noise", True), ("activation", "lrelu"), ("kernel_size", 3)}
# Constructor arguments that change only precision or speed, not the function computed.
IGNORED_OPTIONS = {"num_fp16_res", "fp16_channels_last", "fused_modconv_default"}


class NVlabsPickleConverter(Converter):
    """NVlabs stylegan2-ada-pytorch / StyleGAN3 network pickle (.pkl) with a StyleGAN2 generator."""

    name = "stylegan2-nvlabs"
    description = "NVlabs stylegan2-ada-pytorch or StyleGAN3 network pickle (.pkl) with a StyleGAN2 generator"
    network_keys: ClassVar[tuple[str, ...]] = ("G_ema", "G")  # the averaged generator when present

    @classmethod
    def sniff(cls, path: Path) -> bool:
        # Persistent objects name NVlabs' reconstruction function near the start of the pickle.
        head = file_head(path).head[: 1 << 16]
        is_persistent = head[:1] == b"\x80" and b"torch_utils.persistence" in head
        return is_persistent and b"NeRFSynthesisNetwork" not in file_head(path).head  # StyleNeRF: its own converter

    def convert(self, path: Path) -> ConvertedWeights:
        data = load_checkpoint(path)
        try:
            key, network = self._find_generator(path, data)
            _check_classes(path, network)
            kwargs = network.init_kwargs
            values, notes = _config_values(path, kwargs)
            config = build_config(path, values)
            tensors: dict[str, Tensor] = {}
            for name, tensor in module_tensors(network):
                if name.endswith("resample_filter"):
                    check_filter(path, name, tensor)  # rebuilt from the config, not stored
                    continue
                tensors[name] = tensor.float().contiguous()
        except MALFORMED_RECORD_ERRORS as exc:
            raise malformed(path, "NVlabs network pickle", exc) from None
        check_shapes(path, config, tensors, optional=("mapping.w_avg",))
        if "mapping.w_avg" not in tensors:  # w_avg_beta=None networks track no average
            tensors["mapping.w_avg"] = estimate_w_avg(config, tensors)
            notes["w_avg"] = W_AVG_NOTE
        provenance = {"format": "nvlabs-pickle", "network": key, "source_code_sha256": network.source_sha256, **notes}
        return ConvertedWeights("generator", "stylegan2", config_data(config), tensors, provenance)

    def _find_generator(self, path: Path, data: Any) -> tuple[str, PersistentObject]:
        if not isinstance(data, Mapping):
            raise CheckpointError(f"{path} is not an NVlabs network pickle (it holds a {type(data).__name__})")
        for key in self.network_keys:
            if key in data:
                network = data[key]
                if not isinstance(network, PersistentObject) or network.class_name != "Generator":
                    found = getattr(network, "class_name", type(network).__name__)
                    raise CheckpointError(f"{path}: {key} is a {found}, not an NVlabs Generator")
                return key, network
        if "D" in data:
            raise CheckpointError(
                f"{path} holds only a discriminator", hint="convert the pickle that has G_ema (the generator)"
            )
        raise CheckpointError(f"{path} has no generator (no G_ema or G)", hint="pass an NVlabs network pickle")


def _children(record: PersistentObject) -> dict[str, Any]:
    return dict(record.state.get("_modules") or {})


def _records(record: PersistentObject, path: str = "G") -> Iterator[tuple[str, PersistentObject]]:
    yield path, record
    for name, child in _children(record).items():
        if isinstance(child, PersistentObject):
            yield from _records(child, f"{path}.{name}")


def _check_classes(path: Path, network: PersistentObject) -> None:
    """Refuse StyleGAN3 generators and any class the StyleGAN2 architecture does not have."""
    records = list(_records(network))
    names = {record.class_name for _, record in records}
    synthesis = _children(network).get("synthesis")
    synthesis_children = set(_children(synthesis)) if isinstance(synthesis, PersistentObject) else set()
    if names & STYLEGAN3_MARKERS or any(re.fullmatch(r"L\d+_\d+_\d+", child) for child in synthesis_children):
        raise CheckpointError(
            f"{path} holds a StyleGAN3 generator (config t or r), not StyleGAN2",
            hint="convert a StyleGAN2 network; lswap's stylegan2 generator cannot run StyleGAN3",
        )
    if synthesis is not None and getattr(synthesis, "class_name", None) == "NeRFSynthesisNetwork":
        raise CheckpointError(f"{path} holds a StyleNeRF generator, not StyleGAN2", hint="convert it with --format stylenerf")
    for where, record in records:
        if record.class_name not in GENERATOR_CLASSES:
            raise CheckpointError(
                f"{path}: {where} is a {record.class_name}, which the StyleGAN2 generator does not have",
                hint="only NVlabs StyleGAN2 generators convert",
            )
    for child in _children(network).values():
        if child is not None and not isinstance(child, PersistentObject):
            raise CheckpointError(f"{path}: the generator holds a {type(child).__name__}, which lswap does not read")


def _config_values(path: Path, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Our config from the recorded constructor arguments of ``Generator``; refuses what we cannot build."""
    for required in ("z_dim", "w_dim", "img_resolution"):
        if required not in kwargs:
            raise CheckpointError(f"{path}: the generator record lacks its {required} argument")
    if kwargs.get("c_dim", 0):
        raise CheckpointError(
            f"{path} holds a class-conditional generator (c_dim={kwargs['c_dim']})",
            hint="lswap's StyleGAN2 generator is unconditional",
        )
    if kwargs.get("img_channels", 3) != 3:
        raise CheckpointError(f"{path}: the generator makes {kwargs['img_channels']}-channel images; lswap needs RGB")
    top_level = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}
    # stylegan2-ada nests synthesis options; StyleGAN3's networks_stylegan2 passes them at the top level.
    synthesis = {k: v for k, v in kwargs.items() if k not in top_level}
    synthesis.update(kwargs.get("synthesis_kwargs") or {})
    mapping = dict(kwargs.get("mapping_kwargs") or {})
    values: dict[str, Any] = {
        "resolution": int(kwargs["img_resolution"]),
        "z_dim": int(kwargs["z_dim"]),
        "w_dim": int(kwargs["w_dim"]),
    }
    notes: dict[str, str] = {}
    for option, value in synthesis.items():
        if option == "channel_base":
            values["channel_base"] = int(value)
        elif option == "channel_max":
            values["channel_max"] = int(value)
        elif option == "conv_clamp":
            values["conv_clamp"] = None if value is None else float(value)
        elif option == "resample_filter":
            check_filter_option(path, value)
        elif option in IGNORED_OPTIONS:
            notes[option] = str(value)
        elif (option, value) not in SUPPORTED_FIXED_OPTIONS:
            raise CheckpointError(f"{path}: synthesis option {option}={value!r} is not supported by lswap's StyleGAN2")
    for option, value in mapping.items():
        if option == "num_layers":
            values["mapping_layers"] = int(value)
        elif option == "lr_multiplier":
            values["mapping_lr_multiplier"] = float(value)
        elif option == "w_avg_beta":
            values["w_avg_beta"] = None if value is None else float(value)
        elif option == "embed_features" or (option, value) in {("activation", "lrelu")}:
            continue  # label embedding: unused without classes
        elif option == "layer_features" and value in (None, values["w_dim"]):
            continue
        else:
            raise CheckpointError(f"{path}: mapping option {option}={value!r} is not supported by lswap's StyleGAN2")
    return values, notes
