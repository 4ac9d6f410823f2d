"""Mutators that turn a valid file into a nearby broken one, written once for two drivers.

Every mutator takes a `Source` of choices and the bytes to mutate. A source is
either hypothesis' ``st.data()`` (`HypothesisSource`: the tests in
``tests/fuzz``, which shrink a failing input to a small one) or a seeded
``random.Random`` (`RandomSource`: the stress script, which needs a hundred
thousand inputs per loader fast). The same mutators serve both, so the stress
script runs the properties the tests state, only more often.

Generic mutators work on any bytes (bit flips, truncation, splicing...).
Format-aware ones reach deeper than random bytes do: they edit a
safetensors header and keep the file otherwise valid, repack a zip archive
with a mutated member and correct CRCs, rewrite a field of a zip record,
replace, drop or duplicate pickle opcodes or their arguments, splice in
*gadgets* (pickle fragments that call something: ``os.system``, ``eval``,
allow-listed callables with odd arguments, deep nesting), edit JSON
documents structurally, and rewrite PNG chunks with valid CRCs.
"""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import random
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from typing import Any

INTERESTING_INTS = (
    0, 1, -1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095, 4096, 65535, 65536,
    2**31 - 1, 2**31, -(2**31), 2**32 - 1, 2**32, 2**40, 2**53, 2**62, 2**63 - 1, -(2**63), 2**64 - 1,
)
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x20, 0x0A, 0x2E, 0x5B, 0x7B)


class Source:
    """Where a mutator's choices come from."""

    def integer(self, low: int, high: int) -> int:
        raise NotImplementedError

    def binary(self, max_size: int) -> bytes:
        raise NotImplementedError

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.integer(0, len(options) - 1)]

    def chance(self, percent: int) -> bool:
        return self.integer(0, 99) < percent


class RandomSource(Source):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def binary(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


class HypothesisSource(Source):
    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._st = st
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(self._st.integers(low, high))

    def binary(self, max_size: int) -> bytes:
        return self.data.draw(self._st.binary(max_size=max_size))


Mutator = Callable[[Source, bytes], bytes]


def interesting_int(src: Source) -> int:
    if src.chance(80):
        return src.choice(INTERESTING_INTS)
    return src.integer(-(2**64), 2**64)


def position(src: Source, data: bytes, *, end: bool = False) -> int:
    """A position in ``data``, often near its start where the headers are."""
    size = len(data) + (1 if end else 0)
    if size <= 0:
        return 0
    if src.chance(50):
        return src.integer(0, min(size, 256) - 1)
    return src.integer(0, size - 1)


# -- generic byte mutators ------------------------------------------------------------------


def flip_bits(src: Source, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(src.integer(1, 8)):
        at = position(src, out)
        out[at] ^= 1 << src.integer(0, 7)
    return bytes(out)


def set_byte(src: Source, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    out[position(src, out)] = src.choice(INTERESTING_BYTES) if src.chance(70) else src.integer(0, 255)
    return bytes(out)


def set_integer(src: Source, data: bytes) -> bytes:
    """Overwrite a 1, 2, 4 or 8-byte little or big-endian integer with an interesting value."""
    width = src.choice((1, 2, 4, 8))
    if len(data) < width:
        return data
    at = src.integer(0, len(data) - width) if src.chance(50) else src.integer(0, max(0, min(len(data), 256) - width))
    value = interesting_int(src) % (1 << (8 * width))
    order = src.choice(("little", "big"))
    return data[:at] + value.to_bytes(width, order) + data[at + width :]


def truncate(src: Source, data: bytes) -> bytes:
    return data[: position(src, data, end=True)]


def delete_range(src: Source, data: bytes) -> bytes:
    if not data:
        return data
    start = position(src, data)
    return data[:start] + data[start + src.integer(1, 64) :]


def insert_bytes(src: Source, data: bytes) -> bytes:
    at = position(src, data, end=True)
    if src.chance(50):
        chunk = bytes([src.choice(INTERESTING_BYTES)]) * src.integer(1, 64)
    else:
        chunk = src.binary(32)
    return data[:at] + chunk + data[at:]


def duplicate_range(src: Source, data: bytes) -> bytes:
    if not data:
        return data
    start = position(src, data)
    chunk = data[start : start + src.integer(1, 128)]
    at = position(src, data, end=True)
    return data[:at] + chunk + data[at:]


def random_bytes(src: Source, data: bytes) -> bytes:
    """Replace everything: random bytes, or random bytes behind this format's first bytes."""
    noise = src.binary(512)
    return data[: src.integer(0, 16)] + noise if src.chance(50) else noise


GENERIC: tuple[Mutator, ...] = (
    flip_bits, set_byte, set_integer, truncate, delete_range, insert_bytes, duplicate_range, random_bytes,
)


def splice(src: Source, data: bytes, others: Sequence[bytes]) -> bytes:
    """The start of ``data`` and the rest of another seed (spliced bytes)."""
    if not others:
        return data
    other = src.choice(others)
    return data[: position(src, data, end=True)] + other[position(src, other, end=True) :]


def mutate(
    src: Source,
    data: bytes,
    mutators: Sequence[Mutator],
    *,
    others: Sequence[bytes] = (),
    rounds: int = 3,
) -> bytes:
    """Apply 1 to ``rounds`` mutators (format-aware ones as often as generic ones)."""
    for _ in range(src.integer(1, rounds)):
        if others and src.chance(5):
            data = splice(src, data, others)
        else:
            mutator = src.choice(mutators) if mutators and src.chance(60) else src.choice(GENERIC)
            try:
                data = mutator(src, data)
            except (LookupError, ValueError, TypeError, AttributeError, RecursionError, struct.error):
                pass  # a format-aware mutator shown data an earlier round already broke
    return data


# -- pickles ---------------------------------------------------------------------------------

_OPCODE_BYTES = sorted({op.code.encode("latin1") for op in pickletools.opcodes})
_INT_ARG_FORMATS = {
    "BININT": "<i", "BININT1": "<B", "BININT2": "<H", "BINGET": "<B", "BINPUT": "<B",
    "LONG_BINGET": "<I", "LONG_BINPUT": "<I", "FRAME": "<Q", "EXT1": "<B", "EXT2": "<H", "EXT4": "<i", "PROTO": "<B",
}
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "SHORT_BINBYTES",
               "BINBYTES", "BINBYTES8", "UNICODE", "STRING"}
_PUSH_OPS = {"BININT", "BININT1", "BININT2", "LONG1", "NONE", "NEWTRUE", "NEWFALSE", "BINFLOAT", "EMPTY_DICT",
             "EMPTY_LIST", "EMPTY_TUPLE", "SHORT_BINUNICODE", "BINUNICODE", "SHORT_BINBYTES", "BINBYTES", "INT",
             "BINGET", "LONG_BINGET", "BINUNICODE8", "BINBYTES8", "SHORT_BINSTRING", "BINSTRING", "UNICODE", "STRING"}
NAMES = (
    "os", "system", "posix", "nt", "subprocess", "call", "Popen", "check_output", "builtins", "__builtin__", "eval",
    "exec", "open", "getattr", "setattr", "__import__", "compile", "apply", "globals", "lswap_fuzz_canary", "run",
    "torch", "FloatStorage", "float32", "Size", "device", "torch._utils", "_rebuild_tensor_v2", "_rebuild_parameter",
    "torch.storage", "_load_from_bytes", "collections", "OrderedDict", "defaultdict", "copyreg", "_reconstructor",
    "_codecs", "encode", "numpy", "dtype", "ndarray", "numpy.core.multiarray", "_reconstruct", "scalar",
    "torch_utils.persistence", "_reconstruct_persistent_obj", "dnnlib.util", "EasyDict", "argparse", "Namespace",
    "torch.nn.modules.linear", "Linear", "omegaconf.dictconfig", "DictConfig", "storage", "cpu", "meta", "cuda",
    "state_dict", "g_ema", "G_ema", "identity_mixer.mixer.0.0.weight", "net_recon", "", "\x00", "latin1", "utf-8",
    "class", "module_src", "_init_kwargs", "_modules", "_parameters", "weights.0", "/dev/zero", "../../etc/passwd",
)


_OPS_CACHE: dict[bytes, list[tuple[str, Any, int, int]]] = {}


def pickle_ops(data: bytes, start: int = 0) -> list[tuple[str, Any, int, int]]:
    """``(opcode name, argument, start, end)`` of each opcode of the pickles from ``start`` on
    (several for legacy ``torch.save`` files), as far as they parse."""
    cached = _OPS_CACHE.get(data) if start == 0 else None
    if cached is not None:
        return cached
    ops = _parse_ops(data, start)
    if start == 0:
        if len(_OPS_CACHE) > 64:
            _OPS_CACHE.clear()
        _OPS_CACHE[data] = ops
    return ops


def _parse_ops(data: bytes, start: int) -> list[tuple[str, Any, int, int]]:
    ops: list[tuple[str, Any, int, int]] = []
    offset = start
    while offset < len(data) and data[offset : offset + 1] == b"\x80":
        stream = io.BytesIO(data)
        stream.seek(offset)
        previous = None
        try:
            for opcode, arg, pos in pickletools.genops(stream):
                if previous is not None:
                    ops.append((previous[0], previous[1], previous[2], pos))
                previous = (opcode.name, arg, pos)
            if previous is not None:
                ops.append((previous[0], previous[1], previous[2], stream.tell()))
        except Exception:  # noqa: BLE001 - a mutated or partly binary stream: keep what parsed
            break
        if stream.tell() <= offset:
            break
        offset = stream.tell()
    return ops


def _encode_string(name: str, text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    if name in ("SHORT_BINUNICODE", "SHORT_BINBYTES", "SHORT_BINSTRING") and len(raw) < 256:
        return {"SHORT_BINUNICODE": b"\x8c", "SHORT_BINBYTES": b"C", "SHORT_BINSTRING": b"U"}[name] + bytes([len(raw)]) + raw
    if name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
        return b"B" + struct.pack("<I", len(raw)) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def _mutated_text(src: Source, text: str) -> str:
    if src.chance(60):
        return src.choice(NAMES)
    if not text:
        return src.binary(8).decode("latin1")
    at = src.integer(0, len(text) - 1)
    return text[:at] + src.choice(("", "x", ".", "\x00", "0", "-1", "\n")) + text[at + 1 :]


def pickle_op_edit(src: Source, data: bytes) -> bytes:
    """Replace, drop, duplicate or swap an opcode, or change its argument."""
    ops = pickle_ops(data)
    if not ops:
        return data
    name, arg, start, end = src.choice(ops)
    action = src.integer(0, 5)
    if action == 0:  # another opcode byte
        return data[:start] + src.choice(_OPCODE_BYTES) + data[start + 1 :]
    if action == 1:  # drop the opcode
        return data[:start] + data[end:]
    if action == 2:  # duplicate it
        return data[:end] + data[start:end] + data[end:]
    if action == 3:  # swap with another opcode
        other = src.choice(ops)
        a, b = sorted([(start, end), (other[2], other[3])])
        if a[1] > b[0]:
            return data
        return data[: a[0]] + data[b[0] : b[1]] + data[a[1] : b[0]] + data[a[0] : a[1]] + data[b[1] :]
    if name in _INT_ARG_FORMATS and end - start > 1:
        fmt = _INT_ARG_FORMATS[name]
        bits = 8 * struct.calcsize(fmt)
        value = interesting_int(src) % (1 << bits)
        if fmt.endswith(("i", "q")) and value >= 1 << (bits - 1):
            value -= 1 << bits
        return data[:start + 1] + struct.pack(fmt, value) + data[end:]
    if name in ("LONG1", "LONG4"):
        encoded = pickle.encode_long(interesting_int(src))
        return data[:start] + b"\x8a" + bytes([len(encoded)]) + encoded + data[end:]
    if name in _STRING_OPS and isinstance(arg, (str, bytes)):
        text = arg if isinstance(arg, str) else arg.decode("latin1")
        return data[:start] + _encode_string(name, _mutated_text(src, text)) + data[end:]
    if name in ("GLOBAL", "INST") and isinstance(arg, str):
        module, _, attr = arg.partition(" ")
        if src.chance(50):
            module = _mutated_text(src, module)
        else:
            attr = _mutated_text(src, attr)
        opcode = b"c" if name == "GLOBAL" else b"i"
        return data[:start] + opcode + f"{module}\n{attr}\n".encode("utf-8", "surrogatepass") + data[end:]
    if name == "FRAME":
        return data[:start] + data[end:]  # frames are optional
    return data[:start] + src.choice(_OPCODE_BYTES) + data[start + 1 :]


def pickle_gadget(src: Source, data: bytes) -> bytes:
    """Replace an opcode that pushes a value with a gadget that pushes another (often calling something)."""
    ops = [op for op in pickle_ops(data) if op[0] in _PUSH_OPS]
    if not ops:
        return data
    _, _, start, end = src.choice(ops)
    return data[:start] + src.choice(GADGETS) + data[end:]


def pickle_build(src: Source, data: bytes) -> bytes:
    """Apply ``BUILD`` (``__setstate__`` / ``__dict__`` update) with odd state to whatever was just pushed."""
    ops = pickle_ops(data)
    if not ops:
        return data
    _, _, _, end = src.choice(ops)
    state = src.choice((b"}", b"}X\x01\x00\x00\x00aK\x01s", b"N}\x86", b"K\x01", b")", b"]", b"(K\x01K\x02K\x03K\x04t"))
    return data[:end] + state + b"b" + data[end:]


PICKLE: tuple[Mutator, ...] = (pickle_op_edit, pickle_op_edit, pickle_gadget, pickle_build)


# -- gadgets ---------------------------------------------------------------------------------

MARKER_TOKEN = "@@MARKER@@"  # replaced with the path of the marker file by `gadgets_for`


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _stack_global(module: str, name: str) -> bytes:
    return _str(module) + _str(name) + b"\x93"


def code_gadgets(marker: str) -> list[bytes]:
    """Pickle fragments, each pushing one value, that would create ``marker`` if anything they name ran."""
    touch = f"touch {marker}"
    gadgets = [
        _global("os", "system") + b"(" + _str(touch) + b"tR",
        _global("posix", "system") + b"(" + _str(touch) + b"tR",
        _stack_global("os", "system") + _str(touch) + b"\x85R",
        _global("subprocess", "call") + b"((" + _str("touch") + _str(marker) + b"ltR",
        _global("subprocess", "Popen") + b"(" + _str(touch) + b"tR",
        _global("builtins", "eval") + b"(" + _str(f"open({marker!r}, 'w')") + b"tR",
        _global("builtins", "exec") + b"(" + _str(f"open({marker!r}, 'w')") + b"tR",
        _global("__builtin__", "eval") + b"(" + _str(f"open({marker!r}, 'w')") + b"tR",
        _global("builtins", "open") + b"(" + _str(marker) + _str("w") + b"tR",
        _global("io", "open") + b"(" + _str(marker) + _str("w") + b"tR",
        # getattr(__import__('os'), 'system')(touch)
        _global("builtins", "getattr") + b"(" + _global("builtins", "__import__") + b"(" + _str("os") + b"tR"
        + _str("system") + b"tR(" + _str(touch) + b"tR",
        _global("builtins", "getattr") + b"(" + _global("builtins", "dict") + _str("get") + b"tR",
        # INST, OBJ and NEWOBJ call classes (or callables) too
        b"(" + _str(touch) + b"ios\nsystem\n",
        b"(" + _global("os", "system") + _str(touch) + b"o",
        _global("os", "system") + b"(" + _str(touch) + b"t\x81",
        _global("copyreg", "_reconstructor") + b"(" + _global("os", "system") + _global("builtins", "object") + b"NtR",
        _global("copy_reg", "_reconstructor") + b"(" + _global("builtins", "object") + _global("builtins", "object") + b"NtR",
        _global("collections", "defaultdict") + b"(" + _global("os", "system") + b"tR",
        _global("lswap_fuzz_canary", "run") + b"(tR",
        _stack_global("lswap_fuzz_canary", "run") + b")R",
        _global("pickle", "loads") + b"(" + b"C\x01." + b"tR",
        _global("torch.serialization", "load") + b"(" + _str(marker) + b"tR",
        _global("numpy", "load") + b"(" + _str(marker) + b"tR",
        _global("torch", "load") + b"(" + _str(marker) + b"tR",
        _global("runpy", "run_path") + b"(" + _str(marker) + b"tR",
        b"\x82\x01",  # EXT1: an extension-registry lookup
    ]
    return gadgets


ODD_GADGETS = [
    # allow-listed callables with odd arguments
    _global("collections", "OrderedDict") + b"(K\x01tR",
    _global("collections", "OrderedDict") + b"(]tR",
    _global("_codecs", "encode") + b"(K\x01tR",
    _global("_codecs", "encode") + b"(" + _str("\u20ac") + _str("latin1") + b"tR",
    _global("_codecs", "encode") + b"(" + _str("abc") + _str("rot13") + b"tR",
    _global("torch._utils", "_rebuild_tensor_v2") + b"(K\x01K\x00)tR",
    _global("torch._utils", "_rebuild_tensor_v2") + b"(NK\x00K\x01\x85K\x01\x85\x89tR",
    _global("torch._utils", "_rebuild_parameter") + b"(tR",
    _global("torch.storage", "_load_from_bytes") + b"(C\x04abcdtR",
    _global("torch", "Size") + b"(K\x01tR",
    _global("torch", "Size") + b"(" + _str("abc") + b"tR",
    _global("torch", "device") + b"(" + _str("quantum") + b"tR",
    _global("torch", "device") + b"(" + _str("cuda:99") + b"tR",
    _global("torch", "FloatStorage") + b"(tR",
    _global("torch", "float32") + b"(tR",
    _global("numpy", "dtype") + b"(" + _str("O") + b"tR",
    _global("numpy", "dtype") + b"(" + _str("<f4") + b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x01\x86tR",
    _global("numpy", "dtype") + b"(" + _str("V") + b"\x8a\x05\x00\x00\x00\x00\x01tR",
    _global("numpy.core.multiarray", "_reconstruct") + b"(" + _global("numpy", "ndarray") + b"\x8a\x05\x00\x00\x00\x00\x01\x85C\x01btR",
    _global("numpy.core.multiarray", "_reconstruct") + b"(" + _global("numpy", "ndarray") + b"K\x00\x85C\x01btR"
    + b"(K\x01K\x03\x85" + _global("numpy", "dtype") + b"(" + _str("O") + b"tR\x89C\x08\x00\x00\x00\x00\x00\x00\x00\x00tb",
    _global("numpy.core.multiarray", "scalar") + b"(" + _global("numpy", "dtype") + b"(" + _str("O") + b"tRC\x08AAAAAAAAtR",
    _global("numpy.core.multiarray", "scalar") + b"(" + _global("numpy", "dtype") + b"(" + _str("<f8") + b"tRC\x01AtR",
    _global("torch_utils.persistence", "_reconstruct_persistent_obj") + b"(K\x01tR",
    _global("torch_utils.persistence", "_reconstruct_persistent_obj") + b"(}" + _str("type") + _str("class") + b"s" + _str("state") + b"K\x01stR",
    _global("dnnlib.util", "EasyDict") + b")R" + b"K\x01b",
    _global("argparse", "Namespace") + b"(K\x01tR",
    _global("builtins", "object") + b")R" + b"}" + _str("a") + b"K\x01sb",
    _global("builtins", "slice") + b"(K\x01K\x02K\x03K\x04tR",
    _global("builtins", "set") + b"(K\x01tR",
    _global("builtins", "frozenset") + b"(]]atR",
    _global("builtins", "dict") + b"(]K\x01atR",
    _global("builtins", "int") + b"(" + _str("9" * 5000) + b"tR",
    _global("builtins", "float") + b"(" + _str("nan") + b"tR",
    _global("builtins", "str") + b"(" + _global("torch", "device") + b"(" + _str("cpu") + b"tRtR",
    _global("collections", "defaultdict") + b"(" + _global("builtins", "list") + b"tR",
    _global("copyreg", "_reconstructor") + b"(" + _global("collections", "OrderedDict") + _global("builtins", "dict") + b"NtR",
    _global("copyreg", "_reconstructor") + b"(" + _global("builtins", "object") + _global("builtins", "object") + b"NtR",
    _global("torch.nn.modules.linear", "Linear") + b")\x81" + b"K\x01b",
    _global("omegaconf.dictconfig", "DictConfig") + b")\x81" + b"]b",
    b"(" * 3000 + b"l" * 3000,  # deeply nested lists
    b"(" * 3000 + b"t" * 3000,  # deeply nested tuples
    b"(K\x01" * 3000 + b"}" + b"d" * 3000,  # deeply nested dicts
    b"Q",  # a persistent id from the stack top (whatever is there)
    b"(" + _str("storage") + b"tQ",
    b"(" + _str("storage") + _global("torch", "FloatStorage") + _str("0") + _str("cpu") + b"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7ftQ",
    b"(" + _str("storage") + _global("torch", "float32") + _str("999") + _str("cpu") + b"K\x04tQ",
    b"\x8e" + struct.pack("<Q", 2**40) + b"x",  # BINBYTES8 longer than any file
    b"\x8d" + struct.pack("<Q", 2**62) + b"x",  # BINUNICODE8
    b"\x96" + struct.pack("<Q", 2**40),  # BYTEARRAY8
    b"h\xff",  # BINGET of a missing memo entry
    b"j\xff\xff\xff\x7f",  # LONG_BINGET
    b"\x8a\xff" + b"\xff" * 255,  # a 255-byte LONG1
    b"G\x7f\xf8\x00\x00\x00\x00\x00\x00",  # NaN
]


def gadgets_for(marker: str) -> list[bytes]:
    return code_gadgets(marker) + ODD_GADGETS


GADGETS: list[bytes] = gadgets_for("/nonexistent/lswap-fuzz-marker")


def set_marker(marker: str) -> None:
    """Point the code-executing gadgets (pickle and YAML) at ``marker``, the file the properties check for."""
    GADGETS[:] = gadgets_for(marker)
    YAML_SNIPPETS[:] = [snippet.replace(MARKER_TOKEN, marker) for snippet in _YAML_SNIPPETS]


# -- zip archives (torch.save) ---------------------------------------------------------------


def zip_members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [(info, archive.read(info)) for info in archive.infolist()]
    except Exception:  # noqa: BLE001 - an already broken archive: only byte-level mutations apply
        return None


def write_zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members:
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
    return buffer.getvalue()


def zip_repack(src: Source, data: bytes) -> bytes:
    """Rebuild the archive with one member mutated, dropped, renamed or added (valid CRCs)."""
    members = zip_members(data)
    if not members:
        return data
    entries = [(info.filename, content) for info, content in members]
    index = src.integer(0, len(entries) - 1)
    name, content = entries[index]
    action = src.integer(0, 7)
    if action <= 2 or name.endswith(".pkl"):
        if name.endswith(".pkl") and src.chance(80):
            content = mutate(src, content, PICKLE, rounds=2)
        else:
            content = mutate(src, content, (), rounds=2)
        entries[index] = (name, content)
    elif action == 3:
        del entries[index]
    elif action == 4:
        entries[index] = (_mutated_text(src, name) if src.chance(50) else name + src.choice(("x", "/", "/data.pkl")), content)
    elif action == 5:
        entries.append((src.choice([e[0] for e in entries]), src.binary(64)))
    elif action == 6:
        entries[index] = (name, content[: src.integer(0, len(content))] if src.chance(70) else content + src.binary(64))
    else:
        byteorder = [i for i, (n, _) in enumerate(entries) if n.endswith("byteorder")]
        if byteorder:
            entries[byteorder[0]] = (entries[byteorder[0]][0], src.choice((b"big", b"", b"\xff", b"middle", b"little\x00")))
    if src.chance(15):
        if src.chance(50):
            try:
                return write_zip(entries, src.choice((zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)))
            except Exception:  # noqa: BLE001, S110 - a codec missing from this Python: store instead
                pass
        else:
            return _corrupt_compressed(src, entries)
    return write_zip(entries)


def _corrupt_compressed(src: Source, entries: list[tuple[str, bytes]]) -> bytes:
    """A deflated archive whose compressed stream is damaged but whose records are consistent."""
    packed = write_zip(entries, zipfile.ZIP_DEFLATED)
    members = zip_members(packed) or []
    if not members:
        return packed
    info, _ = src.choice(members)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    size = info.compress_size
    if size <= 0:
        return packed
    out = bytearray(packed)
    for _ in range(src.integer(1, 4)):
        out[start + src.integer(0, size - 1)] ^= 1 << src.integer(0, 7)
    return bytes(out)


_ZIP_FIELDS = {
    b"PK\x03\x04": [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
    b"PK\x01\x02": [(8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (34, 2), (42, 4)],
    b"PK\x05\x06": [(4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
    b"PK\x06\x06": [(24, 8), (32, 8), (40, 8), (48, 8)],
    b"PK\x06\x07": [(8, 8), (16, 4)],
}
_ZIP_VALUES = (0, 1, 8, 12, 14, 99, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 0x10000)


def zip_field(src: Source, data: bytes) -> bytes:
    """Rewrite a field of a local header, central directory record or end record
    (sizes, offsets, counts, name lengths, compression method, flags)."""
    spots = []
    for signature, fields in _ZIP_FIELDS.items():
        start = data.find(signature)
        while start != -1 and len(spots) < 200:
            spots.extend((start + offset, width) for offset, width in fields if start + offset + width <= len(data))
            start = data.find(signature, start + 4)
    if not spots:
        return data
    at, width = src.choice(spots)
    if src.chance(60):
        value = src.choice(_ZIP_VALUES)
    elif src.chance(50):
        old = int.from_bytes(data[at : at + width], "little")
        value = old + src.choice((-1, 1, -2, 2, 4, -4, 30, -30, 512, -512))
    else:
        value = interesting_int(src)
    value %= 1 << (8 * width)
    return data[:at] + value.to_bytes(width, "little") + data[at + width :]


ZIP: tuple[Mutator, ...] = (zip_repack, zip_repack, zip_repack, zip_field)


# -- safetensors -----------------------------------------------------------------------------


def safetensors_edit(src: Source, data: bytes) -> bytes:
    """Edit the JSON header of a safetensors file (offsets, dtypes, shapes, metadata), fixing its length."""
    if len(data) < 8:
        return data
    length = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + length])
    except Exception:  # noqa: BLE001
        return data
    if not isinstance(header, dict):
        return data
    body = data[8 + length :]
    tensors = [key for key in header if key != "__metadata__"]
    action = src.integer(0, 9)
    if action <= 3 and tensors:
        entry = header[src.choice(tensors)]
        if not isinstance(entry, dict):
            return data
        field = src.choice(("data_offsets", "dtype", "shape", "extra"))
        if field == "data_offsets":
            offsets = list(entry.get("data_offsets", [0, 0]))
            offsets[src.integer(0, 1)] = src.choice((0, 1, -1, len(body), len(body) + 1, 2**64 - 1, 2**63, 3.5, "0", None))
            if src.chance(20):
                offsets = offsets[::-1] if src.chance(50) else offsets + [0]
            entry["data_offsets"] = offsets
        elif field == "dtype":
            entry["dtype"] = src.choice(("F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "U16", "U32",
                                         "U64", "BOOL", "F8_E4M3", "F8_E5M2", "C64", "F4", "f32", "", None, 1))
        elif field == "shape":
            shape = list(entry.get("shape", []))
            choice = src.integer(0, 4)
            if choice == 0 and shape:
                shape[src.integer(0, len(shape) - 1)] = src.choice((0, 1, -1, 2**32, 2**64 - 1, 2**63, "1", 1.5, None))
            elif choice == 1:
                shape.append(src.choice((1, 0, 2, 2**40)))
            elif choice == 2:
                shape = shape[:-1]
            elif choice == 3:
                shape = [interesting_int(src) for _ in range(src.integer(0, 3))]
            else:
                shape = src.choice(([], {}, "1", None, [[1]]))
            entry["shape"] = shape
        else:
            entry[src.choice(("extra", "dtype", "shape", "data_offsets"))] = src.choice((None, {}, [], "x", 1))
            if src.chance(50):
                entry.pop(src.choice(("dtype", "shape", "data_offsets")), None)
    elif action <= 6:
        metadata = header.get("__metadata__")
        if not isinstance(metadata, dict):
            metadata = header["__metadata__"] = {}
        keys = list(metadata) + ["lswap.kind", "lswap.format_version", "lswap.config", "lswap.provenance",
                                 "lswap.record.trained_with", "lswap.name", "format"]
        key = src.choice(keys)
        metadata[key] = src.choice(JSON_VALUES_AS_TEXT) if src.chance(70) else src.choice((None, 1, [], {"a": "b"}))
        if src.chance(10):
            metadata.pop(src.choice(keys), None)
        if src.chance(5):
            header["__metadata__"] = src.choice((None, [], "x", 1))
    elif action == 7 and tensors:
        key = src.choice(tensors)
        if src.chance(50):
            header[key + src.choice(("x", "", ".0"))] = header.pop(key)
        else:
            del header[key]
    elif action == 8:
        header[src.choice(("new", "__metadata__", ""))] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
    else:
        body = body[: src.integer(0, len(body))] if src.chance(50) else body + src.binary(64)
    text = json.dumps(header).encode()
    if src.chance(10):
        text += b" " * src.integer(0, 16)
    length_field = len(text)
    if src.chance(10):
        length_field = src.choice((0, 1, len(text) - 1, len(text) + 1, 2**64 - 1, 100_000_001, len(text) + len(body)))
    return length_field.to_bytes(8, "little") + text + body


JSON_VALUES_AS_TEXT = (
    "x", "", "1", "2", "-1", "0", "99999999999999999999999", "1.5", "nan", "NaN", "Infinity", "null", "true", "[]", "{}",
    "[1, 2", '{"a": ', '"text"', "[" * 5000 + "]" * 5000, "[" * 100_000, '{"a": ' * 3000 + "1" + "}" * 3000,
    '{"num_ws": -1}', '{"num_ws": "3", "w_dim": []}', '{"hidden": [0]}', '{"space": "q"}', "\udcff".encode("utf-8", "surrogatepass").decode("latin1"),
)

SAFETENSORS: tuple[Mutator, ...] = (safetensors_edit, safetensors_edit, safetensors_edit)


# -- JSON documents --------------------------------------------------------------------------

ODD_JSON_VALUES = (
    None, True, False, 0, 1, -1, 2, -4, 1.5, -0.0, 2**31, 2**63, 2**64, 10**30, 1e308, float("nan"), float("inf"),
    "", "x", "float32", "int32", "uint8", "uint16", "float16", "bool", "string", "complex64", "../x.bin", "/etc/hostname",
    "/dev/zero", ".", [], [0], [-1], [2**40, 2**40], [1, -1], [1.5], ["1"], [[1]], [None], {}, {"dtype": "uint8"},
    {"dtype": "uint8", "scale": "x", "min": None}, {"dtype": "float16"}, {"dtype": "uint16", "scale": 1e308, "min": -1e308},
)


def _json_paths(node: Any, path: tuple = ()) -> list[tuple]:
    paths = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            paths.extend(_json_paths(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node[:64]):
            paths.extend(_json_paths(value, (*path, index)))
    return paths


def json_edit(src: Source, data: bytes) -> bytes:
    """Replace, drop or duplicate a value somewhere in a JSON document, or nest it deeply."""
    try:
        doc = json.loads(data)
    except Exception:  # noqa: BLE001
        return data
    paths = _json_paths(doc)
    path = src.choice(paths)
    action = src.integer(0, 5)
    if not path:
        if action == 0:
            return b"[" * src.choice((100, 5000, 100_000)) + b"]" * src.integer(0, 1)
        doc = src.choice(ODD_JSON_VALUES)
    else:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action <= 2:
            parent[key] = src.choice(ODD_JSON_VALUES)
        elif action == 3:
            if isinstance(parent, dict):
                parent.pop(key, None)
            else:
                parent.pop(key)
        elif action == 4:
            if isinstance(parent, list):
                parent.insert(key, parent[key])
            else:
                parent[src.choice(("name", "shape", "dtype", "quantization", "paths", "weights", "scale", "min"))] = parent[key]
        else:
            value: Any = parent[key]
            for _ in range(src.choice((2, 50, 3000))):
                value = [value]
            parent[key] = value
    try:
        return json.dumps(doc, allow_nan=True).encode()
    except (RecursionError, ValueError):
        return data


JSON: tuple[Mutator, ...] = (json_edit, json_edit, json_edit)


# -- YAML documents --------------------------------------------------------------------------

_YAML_SNIPPETS = (
    "", "~", "null", "1", "-1", "0", "1e-4", "1.0e999", ".nan", ".inf", "-.inf", "true", "yes", "no", "[]", "{}", "[1, 2]",
    "{a: 1}", "x", "'", '"', "[", "{", "]", "- a", "&a [1]", "*a", "*undefined", "!!python/object/apply:os.system ['touch @@MARKER@@']",
    "!!python/name:os.system", "!!binary aGVsbG8=", "!!set {a, b}", "!!timestamp 2001-12-14", "2001-12-14", "0x10", "0o17", "1_000",
    "99999999999999999999999999999999", "!!float x", "!!int 1.5", "\t", "\x00", "\ufeff", "%YAML 1.1", "---", "...",
    "? complex key", "<<: {a: 1}", "[" * 3000 + "]" * 3000, "{a: " * 3000 + "1" + "}" * 3000, "|\n  text", ">-\n  folded",
    "w+", "w", "z", "cpu", "cuda", "auto", "bf16", "fp32", "random", "const", "none", "tiny", "stylegan2", "toy", "[256, 0]",
    "[-1]", "{name: toy}", "{name: [1]}", "{name: toy, options: {a: *a}}", "[[1, 2], [3, 4]]", "2**63", "9223372036854775808",
)
YAML_SNIPPETS = list(_YAML_SNIPPETS)


def yaml_edit(src: Source, data: bytes) -> bytes:
    """Replace a value (after a ``:``) or insert a line: odd scalars, tags, aliases, broken syntax, deep nesting."""
    lines = data.decode("utf-8", "replace").splitlines()
    snippet = src.choice(YAML_SNIPPETS)
    if not lines or src.chance(25):
        indent = src.choice(("", "  ", "    ", " "))
        key = src.choice(("kind", "train", "steps", "mixer", "generator", "optim", "lr", "x", "sampling", "<<", "loss"))
        lines.insert(src.integer(0, len(lines)), f"{indent}{key}: {snippet}")
    else:
        index = src.integer(0, len(lines) - 1)
        line = lines[index]
        if ":" in line and src.chance(80):
            head, _, _ = line.partition(":")
            lines[index] = f"{head}: {snippet}"
        elif src.chance(50):
            del lines[index]
        else:
            lines[index] = (" " * src.integer(0, 3)) + line
    if src.chance(10):  # aliases of aliases: 9**depth values when expanded (a billion laughs at depth 9)
        depth = src.choice((2, 4, 5))
        bomb = ["a: &a [" + ", ".join(["1"] * 9) + "]"]
        bomb += [f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 9) + "]" for i in range(depth - 1)]
        lines = [*bomb, *lines] if src.chance(50) else [*lines[:1], *[f"  {line}" for line in bomb], *lines[1:]]
    return "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"


YAML: tuple[Mutator, ...] = (yaml_edit, yaml_edit, yaml_edit)


# -- PNG -------------------------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """``(offset, type, payload)`` of each chunk of a PNG file."""
    chunks = []
    at = 8
    while at + 8 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        if at + 12 + length > len(data):
            break
        chunks.append((at, kind, data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")


def png_chunk_edit(src: Source, data: bytes) -> bytes:
    """Mutate one chunk's payload (IHDR's size, depth and colour type most of all) with a valid CRC,
    or drop, duplicate or add chunks."""
    if not data.startswith(b"\x89PNG"):
        return data
    chunks = png_chunks(data)
    if not chunks:
        return data
    at, kind, payload = src.choice(chunks)
    end = at + 12 + len(payload)
    action = src.integer(0, 5)
    if action <= 2:
        if kind == b"IHDR" and len(payload) == 13 and src.chance(70):
            fields = bytearray(payload)
            spot = src.choice(((0, 4), (4, 4), (8, 1), (9, 1), (10, 1), (11, 1), (12, 1)))
            value = src.choice((0, 1, 2, 3, 4, 6, 8, 16, 255, 0x7FFFFFFF, 0xFFFFFFFF, 20000, 65535, 10))
            fields[spot[0] : spot[0] + spot[1]] = (value % (1 << (8 * spot[1]))).to_bytes(spot[1], "big")
            payload = bytes(fields)
        elif kind == b"IDAT" and src.chance(50):
            try:
                raw = zlib.decompress(payload)
                payload = zlib.compress(mutate(src, raw, (), rounds=2))
            except zlib.error:
                payload = mutate(src, payload, (), rounds=1)
        else:
            payload = mutate(src, payload, (), rounds=2)
        return data[:at] + _chunk(kind, payload) + data[end:]
    if action == 3:
        return data[:at] + data[end:]
    if action == 4:
        return data[:end] + data[at:end] + data[end:]
    extra = src.choice((
        _chunk(b"tRNS", src.binary(16)), _chunk(b"PLTE", src.binary(48)), _chunk(b"eXIf", src.binary(64)),
        _chunk(b"iCCP", b"icc\x00\x00" + src.binary(64)), _chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"x" * 1000)),
        _chunk(b"acTL", src.binary(8)), _chunk(b"fcTL", src.binary(26)), _chunk(b"sBIT", src.binary(4)),
    ))
    return data[:at] + extra + data[at:]


PNG: tuple[Mutator, ...] = (png_chunk_edit, png_chunk_edit)
