"""Import of the official perceptual-network files, read as data (nothing in them is executed).

- ``lpips-alex`` / ``lpips-vgg``: a folder holding the ``lpips`` wheel (or
  the bare ``alex.pth`` / ``vgg.pth`` from its ``lpips/weights/v0.1/``) and
  torchvision's ImageNet file (``alexnet-owt-7be5be79.pth`` /
  ``vgg16-397923af.pth``); the heads ``lin{k}.model.1.weight`` and the
  trunk ``features.N.*`` become an LPIPS export.
- ``vgg16-nvidia``: NVIDIA's ``vgg16.pt``, a TorchScript archive. Its
  ``data.pkl`` is read by lswap's restricted unpickler, with the archive's
  ``__torch__`` classes standing for inert records; its ``code/`` is never
  read, let alone run.
"""

from __future__ import annotations

import pickletools
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.legacy_pickle import CORRUPT_FILE_ERRORS, ModuleRecord, corrupt_file_error, load_checkpoint
from lswap_core.official_files import file_head, load_state_dict, require_keys

from .exports import KIND
from .lpips import LPIPS, export_name
from .nvidia_vgg import CONV_COUNT, EXPORT_NAME, NvidiaVGG16
from .trunks import TRUNKS

WHEEL_GLOB = "lpips-*.whl"
HEADS_MEMBER = "lpips/weights/v0.1/{net}.pth"  # inside the wheel
TRUNK_GLOBS = {"alex": "alexnet-*.pth", "vgg": "vgg16-*.pth"}  # torchvision's file names carry a hash prefix
MAX_HEADS_BYTES = 1 << 20  # the heads files are a few kB; refuse a member that would unpack to more


# -- LPIPS ---------------------------------------------------------------------------------------


def _one(folder: Path, pattern: str) -> Path | None:
    matches = sorted(folder.glob(pattern))
    if len(matches) > 1:
        raise CheckpointError(f"{folder} holds several {pattern} files: {', '.join(m.name for m in matches)}", hint="keep one")
    return matches[0] if matches else None


def _heads_source(folder: Path, net: str) -> Path | None:
    bare = folder / f"{net}.pth"
    return bare if bare.is_file() else _one(folder, WHEEL_GLOB)


def read_wheel_heads(wheel: Path, net: str) -> dict[str, torch.Tensor]:
    """The v0.1 heads of trunk ``net`` from the lpips wheel (a zip), read as data."""
    member = HEADS_MEMBER.format(net=net)
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise CheckpointError(f"{wheel} has no {member}, so it is not the lpips 0.1 wheel", hint="fetch lpips-0.1.4-py3-none-any.whl") from None
            if info.file_size > MAX_HEADS_BYTES:
                raise CheckpointError(f"{wheel}: {member} is {info.file_size} bytes, far more than LPIPS heads", hint="use the official wheel")
            data = archive.read(member)
    except CORRUPT_FILE_ERRORS as exc:
        raise corrupt_file_error(wheel, exc) from None
    with tempfile.TemporaryDirectory(prefix="lswap-lpips-") as work:
        path = Path(work) / f"{net}.pth"
        path.write_bytes(data)
        try:
            return load_state_dict(path, None, f"the LPIPS {net} heads")
        except CheckpointError as exc:  # name the wheel, not the temporary file
            raise type(exc)(exc.message.replace(str(path), f"{wheel}:{member}"), hint=exc.hint) from None


def lpips_tensors(heads: dict[str, torch.Tensor], trunk: dict[str, torch.Tensor], net: str, source: Path) -> dict[str, torch.Tensor]:
    """The LPIPS state dict from lpips' heads file and torchvision's trunk file (both as read)."""
    count = len(TRUNKS[net].taps)
    head_keys = [f"lin{k}.model.1.weight" for k in range(count)]
    require_keys(heads, head_keys, source, f"the LPIPS {net} heads file")
    require_keys(trunk, ["features.0.weight"], source, f"torchvision's {net} ImageNet file")
    tensors = {f"lin{k}.weight": heads[key] for k, key in enumerate(head_keys)}
    tensors.update({key: value for key, value in trunk.items() if key.startswith("features.")})  # the classifier is not used
    return tensors


class _LPIPSConverter(Converter):
    net: ClassVar[str]

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return path.is_dir() and _heads_source(path, cls.net) is not None and _one(path, TRUNK_GLOBS[cls.net]) is not None

    def convert(self, path: Path) -> ConvertedWeights:
        net = self.net
        if not path.is_dir():
            raise CheckpointError(f"{path} is a file; LPIPS is made from a folder", hint=f"pass the folder holding the lpips wheel and {TRUNK_GLOBS[net]}")
        heads_path, trunk_path = _heads_source(path, net), _one(path, TRUNK_GLOBS[net])
        if heads_path is None or trunk_path is None:
            raise CheckpointError(f"{path} lacks the lpips wheel or {TRUNK_GLOBS[net]}", hint=f"run `lswap weights fetch {self.asset}`")
        if heads_path.suffix == ".whl":
            heads = read_wheel_heads(heads_path, net)
        else:
            heads = load_state_dict(heads_path, None, f"the LPIPS {net} heads")
        trunk = load_state_dict(trunk_path, None, f"torchvision's {net} ImageNet file")
        return ConvertedWeights(
            kind=KIND,
            name=export_name(net),
            config={"net": net},
            tensors=lpips_tensors(heads, trunk, net, path),
            provenance={"format": "lpips 0.1 heads + torchvision ImageNet trunk", "heads": heads_path.name, "trunk": trunk_path.name},
        )

    def build(self, result: ConvertedWeights) -> nn.Module:
        return LPIPS(self.net, pretrained=False)


class LPIPSAlexConverter(_LPIPSConverter):
    """LPIPS v0.1 with torchvision's AlexNet trunk."""

    net = "alex"
    asset = "lpips"
    name = "lpips-alex"
    description = "LPIPS v0.1 AlexNet: a folder with the lpips wheel (or alex.pth) and alexnet-owt-7be5be79.pth"


class LPIPSVGGConverter(_LPIPSConverter):
    """LPIPS v0.1 with torchvision's VGG16 trunk."""

    net = "vgg"
    asset = "lpips-vgg"
    name = "lpips-vgg"
    description = "LPIPS v0.1 VGG16: a folder with the lpips wheel (or vgg.pth) and vgg16-397923af.pth"


# -- NVIDIA vgg16.pt -------------------------------------------------------------------------------


class ScriptObject(ModuleRecord):
    """A TorchScript module object of the archive, kept as data: its attributes in ``state``."""

    qualified_name = "TorchScript object"


def _as_list(data: Any, *_: Any) -> list[Any]:
    return list(data)


def _keep(value: Any, *_: Any) -> Any:
    return value


# Functions older TorchScript archives name to rebuild typed lists and containers; these stand-ins only
# pass the data through.
_SCRIPT_HELPERS = {
    ("torch.jit._pickle", "build_intlist"): _as_list,
    ("torch.jit._pickle", "build_doublelist"): _as_list,
    ("torch.jit._pickle", "build_boollist"): _as_list,
    ("torch.jit._pickle", "build_tensorlist"): _as_list,
    ("torch.jit._pickle", "restore_type_tag"): _keep,
}


def script_classes(data_pkl: bytes) -> set[tuple[str, str]]:
    """The ``__torch__`` classes a TorchScript ``data.pkl`` names (read by opcode, nothing executed)."""
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(data_pkl):
        if opcode.name == "GLOBAL":
            module, _, name = str(arg).partition(" ")
            if module == "__torch__" or module.startswith("__torch__."):
                found.add((module, name))
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
            module, name = strings[-2], strings[-1]
            if module == "__torch__" or module.startswith("__torch__."):
                found.add((module, name))
        if isinstance(arg, str):
            strings.append(arg)
    return found


def _script_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    for name, value in (getattr(obj, "state", None) or {}).items():
        if isinstance(value, torch.Tensor):
            yield f"{prefix}{name}", value
        elif isinstance(value, ScriptObject):
            yield from _script_tensors(value, f"{prefix}{name}.")


def read_script_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a TorchScript archive by attribute path (``layers.conv1.weight``), read as data."""
    head = file_head(path)
    if not head.is_zip or not head.archive_pickle:
        raise CheckpointError(f"{path} is not a TorchScript archive (no data.pkl in a zip)", hint="pass NVIDIA's vgg16.pt")
    try:
        classes = script_classes(head.archive_pickle)
    except CORRUPT_FILE_ERRORS as exc:
        raise corrupt_file_error(path, exc) from None
    extra = {**_SCRIPT_HELPERS, **{key: ScriptObject for key in classes}}
    root = load_checkpoint(path, extra=extra)
    if not isinstance(root, ScriptObject):
        raise CheckpointError(f"{path} holds {type(root).__name__}, not a TorchScript module", hint="pass NVIDIA's vgg16.pt")
    return {name: tensor.detach().clone().float() for name, tensor in _script_tensors(root)}


def nvidia_vgg_tensors(found: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The `NvidiaVGG16` state dict from the archive's tensors: the 13 convolutions and the 5 heads."""
    convs = [f"layers.conv{k}.{part}" for k in range(1, CONV_COUNT + 1) for part in ("weight", "bias")]
    heads = [f"lpips{k}" for k in range(5)]
    require_keys(found, convs + heads, path, "NVIDIA's VGG16 perceptual network (vgg16.pt)")
    tensors = {key: found[key] for key in convs}
    channels = TRUNKS["vgg"].channels
    for k, key in enumerate(heads):
        head = found[key].reshape(-1)
        if head.numel() != channels[k]:
            raise CheckpointError(f"{path}: {key} has {head.numel()} weights, not {channels[k]}", hint="pass NVIDIA's vgg16.pt")
        if not bool((head >= 0).all()):  # the features carry sqrt(w): LPIPS heads are trained non-negative
            raise CheckpointError(f"{path}: {key} has negative weights, which LPIPS heads never have", hint="pass NVIDIA's vgg16.pt")
        tensors[key] = head
    return tensors


class NvidiaVGG16Converter(Converter):
    """NVIDIA's ``vgg16.pt`` (stylegan2-ada-pytorch metrics), a TorchScript archive read as data."""

    name = "vgg16-nvidia"
    description = "NVIDIA's VGG16 LPIPS features (vgg16.pt of stylegan2-ada-pytorch, TorchScript, read as data)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        head = file_head(path)
        return head.is_zip and b"lpips0" in head.archive_pickle and b"conv13" in head.archive_pickle

    def convert(self, path: Path) -> ConvertedWeights:
        return ConvertedWeights(
            kind=KIND,
            name=EXPORT_NAME,
            config={},
            tensors=nvidia_vgg_tensors(read_script_tensors(path), path),
            provenance={"format": "NVIDIA vgg16.pt (TorchScript archive, tensors only)"},
        )

    def build(self, result: ConvertedWeights) -> nn.Module:
        return NvidiaVGG16()
