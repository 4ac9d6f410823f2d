"""A restricted unpickler for official checkpoints (``.pkl``, ``.pt``, ``.pth``, ``.ckpt``).

Official checkpoints are pickles, and a pickle can name any Python callable
for the loader to call. NVlabs network pickles go further: they carry the
source code of their classes, which NVlabs' loader executes. This module
reads such files without importing or executing anything the file names:

- a short allow-list of harmless callables (tensor and storage rebuilding,
  ``OrderedDict``, numpy array reconstruction...) is mapped to our own
  implementations, which only rebuild data;
- NVlabs persistent objects become inert `PersistentObject` records holding
  the class name, constructor arguments and state; the stored source is
  never executed (only its hash is kept);
- ``torch.nn`` module objects become inert `ModuleRecord` records, and so do
  the configuration objects PyTorch Lightning stores beside the weights
  (OmegaConf containers in ``hyper_parameters``, callback classes used as
  keys of ``callbacks`` by Lightning < 1.5);
- a converter may map a few more names to inert data (``argparse.Namespace``);
- any other global, such as ``os.system``, stops loading with
  `UnsafePickleError` before anything is called.

Tensors come back as plain CPU ``torch.Tensor`` objects.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import io
import pickle
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .errors import CheckpointError

STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
_TORCH_DTYPES = {name for name in dir(torch) if isinstance(getattr(torch, name), torch.dtype)}


class UnsafePickleError(CheckpointError):
    """The file names a callable that lswap does not load."""


def _lzma_error() -> tuple[type[Exception], ...]:
    try:
        import lzma
    except ImportError:  # a Python built without lzma
        return ()
    return (lzma.LZMAError,)


# What reading a damaged or hostile file raises besides pickle's own errors: a BUILD or REDUCE
# applied to the wrong object (AttributeError, TypeError, IndexError), lengths beyond any limit
# (OverflowError, MemoryError), zip records that point outside the file (OSError, EOFError),
# damaged compressed members (zlib.error, bz2's OSError, LZMAError), zip features Python lacks
# (NotImplementedError, a RuntimeError), torch's own checks of legacy files (AssertionError,
# struct.error), and numpy's dtype.__setstate__, which fails on some malformed states without
# setting an exception (SystemError). Found by tests/fuzz; anything else escaping a loader is a bug.
CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError, EOFError, ValueError, LookupError, RuntimeError, TypeError, AttributeError,
    OverflowError, MemoryError, OSError, AssertionError, SystemError, struct.error, zlib.error, zipfile.BadZipFile,
    *_lzma_error(),
)


def corrupt_file_error(path: Path, exc: BaseException) -> CheckpointError:
    """The `CheckpointError` for a file that raised one of `CORRUPT_FILE_ERRORS` while being read."""
    if isinstance(exc, MemoryError):
        return CheckpointError(
            f"{path} is corrupt or too large to load: it asks for more memory than is available", hint="re-download it"
        )
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    return CheckpointError(f"{path} is truncated or not a checkpoint ({reason})", hint="re-download it")


@dataclasses.dataclass
class StorageRef:
    """A flat, typed block of memory from which tensors are views."""

    flat: torch.Tensor  # 1-D


@dataclasses.dataclass
class PersistentObject:
    """An NVlabs ``persistence``-decorated object, kept as data.

    :param class_name: the class name in the pickled module (``Generator``...).
    :param state: the object's ``__dict__`` (``_parameters``, ``_buffers``,
        ``_modules``, ``_init_args``, ``_init_kwargs``, plain attributes).
    :param source_sha256: hash of the module source stored in the pickle,
        which is never executed.
    """

    class_name: str
    state: dict[str, Any]
    source_sha256: str
    version: int | None = None

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def init_args(self) -> tuple[Any, ...]:
        return tuple(self.state.get("_init_args") or ())


class ModuleRecord:
    """An instance of a ``torch.nn`` class (or of an allow-listed configuration
    class), kept as data (its ``__dict__`` in `state`).

    Each pickled class gets its own subclass, whose ``qualified_name`` says
    which class the file named.
    """

    qualified_name: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, Mapping) else {"state": state}


class AttributeDict(dict):
    """Stand-in for dict subclasses with attribute access (``EasyDict``, ``AttributeDict``)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, Mapping):
            self.update(state)


class Namespace(AttributeDict):
    """Stand-in for ``argparse.Namespace``: its attributes become dict items."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)


_record_classes: dict[str, type[ModuleRecord]] = {}


def _record_class(qualified_name: str) -> type[ModuleRecord]:
    if qualified_name not in _record_classes:
        short = qualified_name.rsplit(".", 1)[-1]
        _record_classes[qualified_name] = type(short, (ModuleRecord,), {"qualified_name": qualified_name})
    return _record_classes[qualified_name]


# -- the allow-list ----------------------------------------------------------------------


def _rebuild_tensor(storage: StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> torch.Tensor:
    if not isinstance(storage, StorageRef):
        raise UnsafePickleError("a tensor in the file is not backed by storage", hint="the file is corrupt")
    return storage.flat.as_strided(tuple(size), tuple(stride), offset)


def _rebuild_parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


def _load_storage_bytes(data: bytes) -> StorageRef:
    """A storage pickled by plain ``pickle`` (a nested legacy ``torch.save`` blob)."""
    storage = torch.load(io.BytesIO(data), weights_only=True)
    flat = torch.empty(0, dtype=storage.dtype)
    flat.set_(storage.untyped_storage() if hasattr(storage, "untyped_storage") else storage._untyped_storage)
    return StorageRef(flat)


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1').
    if encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"unexpected byte encoding {encoding!r} in the file")
    return text.encode("latin1")


def _reconstruct_persistent(meta: Mapping[str, Any]) -> PersistentObject:
    source = str(meta.get("module_src", ""))
    if meta.get("type") != "class":
        raise UnsafePickleError(f"unsupported persistent object type {meta.get('type')!r}")
    state = meta.get("state") or {}
    return PersistentObject(
        class_name=str(meta.get("class_name")),
        state=dict(state),
        source_sha256=hashlib.sha256(source.encode()).hexdigest(),
        version=meta.get("version"),
    )


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]

    reconstruct, scalar = multiarray._reconstruct, multiarray.scalar  # array rebuilding only
    allowed: dict[tuple[str, str], Any] = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


def _base_allow_list() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("builtins", "object"): object,
        ("_codecs", "encode"): _codecs_encode,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent,
        ("dnnlib.util", "EasyDict"): AttributeDict,
        ("dnnlib", "EasyDict"): AttributeDict,
        ("argparse", "Namespace"): Namespace,
        ("pytorch_lightning.utilities.parsing", "AttributeDict"): AttributeDict,
        ("lightning.fabric.utilities.data", "AttributeDict"): AttributeDict,
        ("lightning_fabric.utilities.data", "AttributeDict"): AttributeDict,
    }
    allowed.update({("torch", name): getattr(torch, name) for name in _TORCH_DTYPES})
    allowed.update(_numpy_globals())
    allowed.update(_lightning_globals())
    return allowed


# Plain-data classes that PyTorch Lightning checkpoints name: OmegaConf containers in
# ``hyper_parameters`` and, before Lightning 1.5, callback classes as keys of ``callbacks``.
_LIGHTNING_RECORDS = (
    "omegaconf.dictconfig.DictConfig",
    "omegaconf.listconfig.ListConfig",
    "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata",
    "omegaconf.nodes.AnyNode",
    "omegaconf.nodes.StringNode",
    "omegaconf.nodes.IntegerNode",
    "omegaconf.nodes.FloatNode",
    "omegaconf.nodes.BooleanNode",
    "omegaconf.nodes.BytesNode",
    "omegaconf.nodes.PathNode",
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    "pytorch_lightning.callbacks.early_stopping.EarlyStopping",
    "pytorch_lightning.callbacks.lr_monitor.LearningRateMonitor",
)


def _lightning_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {}
    for qualified_name in _LIGHTNING_RECORDS:
        module, _, name = qualified_name.rpartition(".")
        allowed[(module, name)] = _record_class(qualified_name)
    # Types OmegaConf metadata refers to (never called with file data beyond building plain values).
    allowed.update(
        {
            ("typing", "Any"): Any,
            ("builtins", "dict"): dict,
            ("builtins", "list"): list,
            ("builtins", "tuple"): tuple,
            ("builtins", "str"): str,
            ("builtins", "int"): int,
            ("builtins", "long"): int,  # Python 2 name, as protocol-2 pickles spell it
            ("builtins", "float"): float,
            ("builtins", "bool"): bool,
            ("collections", "defaultdict"): collections.defaultdict,
        }
    )
    return allowed


_PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """A ``pickle.Unpickler`` that resolves only allow-listed globals.

    It is pickle's Python implementation: the C one keeps its memo in an array
    as long as the largest index a file names, so one ``LONG_BINPUT`` with an
    index of 2**30 makes it allocate and clear 16 GB (found by tests/fuzz);
    the Python one keeps a dict. Official files hold few, large opcodes, so
    the speed is the same.

    :param storages: for ``torch.save`` files, a function from a storage
        key, its dtype and its element count (when the file records it) to
        the flat tensor holding it.
    :param extra: more ``(module, name) -> replacement`` pairs; replacements
        must build inert data.
    """

    def __init__(
        self,
        stream: Any,
        *,
        source: str,
        storages: Callable[[str, torch.dtype, int | None], torch.Tensor] | None = None,
        extra: Mapping[tuple[str, str], Any] | None = None,
    ) -> None:
        super().__init__(stream)
        self._source = source
        self._storages = storages
        self._allowed = {**_base_allow_list(), **(extra or {})}

    def find_class(self, module: str, name: str) -> Any:
        module = _PYTHON2_MODULES.get(module, module)  # protocol 0-2 pickles use Python 2 names
        replacement = self._allowed.get((module, name))
        if replacement is not None:
            return replacement
        if module == "copyreg" and name == "_reconstructor":
            return _inert_reconstructor
        if module.startswith("torch.nn.modules.") and name[:1].isupper():
            return _record_class(f"{module}.{name}")
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise UnsafePickleError(
            f"{self._source} refers to {module}.{name}, which lswap will not load",
            hint="only tensors and plain data are read from checkpoints; export the weights as a state dict",
        )

    def load_build(self) -> None:
        """``BUILD``, except that numpy dtypes and arrays take only the states of plain numbers.

        numpy's ``__setstate__`` accepts states it then fails on (found by tests/fuzz): a
        float32 dtype flagged as holding objects, an array turned into an object array over
        raw bytes when its ``__setstate__`` fails half-way, which crashes the process when it
        is freed (SystemError, "get_clear_loop not set", a segmentation fault).
        """
        state, target = self.stack[-1], self.stack[-2] if len(self.stack) > 1 else None
        if isinstance(target, np.dtype) and (target.hasobject or not _plain_dtype_state(state)):
            raise UnsafePickleError(f"{self._source} holds a numpy dtype with an unusual state", hint="the file is corrupt")
        if isinstance(target, np.ndarray) and (target.dtype.hasobject or not _plain_array_state(state)):
            raise UnsafePickleError(f"{self._source} holds a numpy array that is not of plain numbers", hint="the file is corrupt")
        super().load_build()

    dispatch: ClassVar[dict[int, Any]] = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: load_build}  # type: ignore[attr-defined]

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and self._storages is not None):
            raise UnsafePickleError(f"{self._source} has an unsupported persistent record", hint="the file is corrupt")
        storage_type, key = pid[1], str(pid[2])
        dtype = storage_type if isinstance(storage_type, torch.dtype) else None
        if dtype is None:
            raise UnsafePickleError(f"{self._source} has a storage of unknown type {storage_type!r}")
        numel = pid[4] if len(pid) > 4 and isinstance(pid[4], int) else None  # both formats record it here
        return StorageRef(self._storages(key, dtype, numel))


def _plain_dtype_state(state: Any) -> bool:
    """The pickled state of a dtype that is no subarray, no record and holds no objects
    (``(3, '<', None, None, None, -1, -1, 0)`` for float32; flags 8 for unicode strings)."""
    return (
        isinstance(state, tuple)
        and len(state) in (8, 9)
        and state[0] in (3, 4)
        and isinstance(state[1], str)
        and len(state[1]) == 1
        and state[2] is None
        and state[3] is None
        and state[4] is None
        and all(isinstance(value, int) for value in state[5:8])
        and state[7] in (0, 8)
    )


def _plain_array_state(state: Any) -> bool:
    """The pickled state of an array of numbers: ``([version,] shape, dtype, is_fortran, raw bytes)``."""
    return (
        isinstance(state, tuple)
        and len(state) in (4, 5)
        and isinstance(state[-3], np.dtype)
        and not state[-3].hasobject
        and isinstance(state[-1], (bytes, bytearray))
    )


def _inert_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0 and 1 objects), limited to the inert classes above."""
    if isinstance(cls, type) and issubclass(cls, (AttributeDict, ModuleRecord, collections.OrderedDict)):
        return cls.__new__(cls)
    raise UnsafePickleError(f"refusing to reconstruct {cls!r}")


# -- files --------------------------------------------------------------------------------


def load_checkpoint(path: str | Path, *, extra: Mapping[tuple[str, str], Any] | None = None) -> Any:
    """Read a pickle-based checkpoint without executing any code from it.

    Handles ``torch.save`` zip archives, legacy ``torch.save`` files and
    plain pickles (NVlabs network pickles).

    :raises UnsafePickleError: when the file names a callable off the allow-list.
    :raises CheckpointError: when the file is missing, truncated or not a pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist", hint="check the path")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path, extra)
        with open(path, "rb") as handle:
            head = handle.read(64)
            handle.seek(0)
            if _is_legacy_torch_save(head):
                return _load_legacy_torch_save(handle, path)
            return RestrictedUnpickler(handle, source=str(path), extra=extra).load()
    except CheckpointError:
        raise
    except CORRUPT_FILE_ERRORS as exc:
        raise corrupt_file_error(path, exc) from None


def _load_legacy_torch_save(handle: Any, path: Path) -> Any:
    """A pre-1.6 ``torch.save`` file, through torch's weights-only unpickler.

    ``argparse.Namespace`` (training scripts save their arguments) is allowed
    and comes back as a `Namespace` stand-in, as from the other formats.
    """
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise UnsafePickleError(
                f"{path} refers to {found.group(1)}, which lswap will not load",
                hint="only tensors and plain data are read from checkpoints; export the weights as a state dict",
            ) from None
        raise
    if isinstance(data, dict):
        data = {
            key: Namespace(**vars(value)) if isinstance(value, argparse.Namespace) else value
            for key, value in data.items()
        }
    return data


def _is_legacy_torch_save(head: bytes) -> bool:
    # Legacy torch.save files start with a pickled magic number (a long int).
    return head[:2] == b"\x80\x02" and head[2:3] == b"\x8a" and head[4:14] == b"\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def peek_checkpoint(path: str | Path, *, extra: Mapping[tuple[str, str], Any] | None = None) -> Any:
    """Like `load_checkpoint` for ``torch.save`` files (zip archives and the legacy format),
    but tensors come back as ``meta`` tensors (shape and dtype, no data) and the
    tensor data is never read.

    For recognising a format cheaply (`Converter.sniff`).

    :raises CheckpointError: for any other file (plain pickles are only read in full).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist", hint="check the path")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path, extra, meta=True)
        with open(path, "rb") as handle:
            if not _is_legacy_torch_save(handle.read(64)):
                raise CheckpointError(f"{path} is not a torch.save file", hint="only torch.save files can be peeked at")
            handle.seek(0)
            return _peek_legacy_torch_save(handle, path, extra)
    except CheckpointError:
        raise
    except CORRUPT_FILE_ERRORS as exc:
        raise corrupt_file_error(path, exc) from None


def _peek_legacy_torch_save(handle: Any, path: Path, extra: Mapping[tuple[str, str], Any] | None) -> Any:
    """The object of a legacy ``torch.save`` file, read up to its tensor data.

    Such a file is four pickles (magic number, protocol version, system
    information, the object) followed by the storage keys and raw storages;
    the object's storages are persistent records that give their size.
    """

    def meta_storage(key: str, dtype: torch.dtype, numel: int | None) -> torch.Tensor:
        return torch.empty(numel or 0, dtype=dtype, device="meta")

    for _ in range(3):
        RestrictedUnpickler(handle, source=str(path)).load()
    return RestrictedUnpickler(handle, source=str(path), storages=meta_storage, extra=extra).load()


def _load_zip(path: Path, extra: Mapping[tuple[str, str], Any] | None, *, meta: bool = False) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if not pickles:
            raise CheckpointError(f"{path} is a zip file but not a torch checkpoint (no data.pkl)")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = archive.read(f"{prefix}byteorder").decode() if f"{prefix}byteorder" in names else "little"
        if byteorder != "little":
            raise CheckpointError(f"{path} was saved on a big-endian machine, which lswap does not read")
        cache: dict[str, torch.Tensor] = {}

        def storage(key: str, dtype: torch.dtype, numel: int | None) -> torch.Tensor:
            if meta:
                numel = archive.getinfo(f"{prefix}data/{key}").file_size // dtype.itemsize
                return torch.empty(numel, dtype=dtype, device="meta")
            if key not in cache:
                raw = bytearray(archive.read(f"{prefix}data/{key}"))
                cache[key] = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            return cache[key]

        with archive.open(pickles[0]) as stream:
            return RestrictedUnpickler(io.BufferedReader(stream), source=str(path), storages=storage, extra=extra).load()


# -- walking loaded objects ------------------------------------------------------------------


def module_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``state_dict``-style ``(name, tensor)`` pairs of a `PersistentObject` or `ModuleRecord` tree."""
    state = getattr(obj, "state", None) if isinstance(obj, (PersistentObject, ModuleRecord)) else None
    state = state or {}
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if isinstance(tensor, torch.Tensor):
                yield f"{prefix}{name}", tensor
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            yield from module_tensors(child, f"{prefix}{name}.")
