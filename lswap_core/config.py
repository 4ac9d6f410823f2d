"""Typed configs: dataclasses fed from YAML files and ``--set`` overrides.

A config file is YAML whose top-level ``kind`` names its schema (``train``,
``swap``...), a dataclass registered in `CONFIG_KINDS`. Every value is checked
against its field's type; unknown keys are errors listing the valid ones.
``--set a.b=value`` parses ``value`` as YAML and checks it the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.resources
import io
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from .errors import ConfigError

T = TypeVar("T")

# ``yaml.safe_load`` builds plain data only, so whatever it raises means the text is malformed:
# besides its own errors, explicit tags with bad values (``!!int 1.5``, an impossible
# ``!!timestamp``) raise ValueError or AttributeError, and deep nesting a RecursionError.
YAML_FAILURES = (Exception,)
# Aliases let a few hundred bytes stand for billions of nodes ("billion laughs"); a config
# never needs more than this many once its aliases are expanded.
MAX_EXPANDED_NODES = 100_000

# kind -> "module:Class" of its schema; imported only when a file of that kind is read.
CONFIG_KINDS: dict[str, str] = {"train": "lswap_core.training.schema:TrainConfig"}
BUILTIN_CONFIG_PACKAGE = "lswap_configs"


# -- typed conversion -----------------------------------------------------------------


def from_mapping(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """Build dataclass ``cls`` from plain data, checking every value's type.

    Missing keys take the field defaults; a field without a default must be
    given. ``where`` is the dotted key path of ``data`` in its file, for errors.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'the config'} must be a mapping of keys to values, got {_type_name(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise unknown_key_error(str(unknown[0]), list(fields), where or "the top level")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _coerce(data[name], hints[name], f"{where}.{name}" if where else name)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where or 'the config'} is missing required key {name!r}")
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:  # __post_init__ checks raise these
        message = str(exc)
        named = message.split(" ", 1)[0].split("[", 1)[0]
        if where and named in fields:  # "lr must be positive" in section optim: "optim.lr must be positive"
            raise ConfigError(f"{where}.{message}") from None
        raise ConfigError(f"{where}: {message}" if where else message) from None


def to_data(obj: Any) -> Any:
    """Plain data (dicts, lists, scalars) from a config, for YAML and JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def unknown_key_error(key: str, valid: Sequence[str], where: str) -> ConfigError:
    guesses = difflib.get_close_matches(key, valid, n=1)
    hint = f"valid keys: {', '.join(valid)}" if valid else "it takes no keys"
    if guesses:
        hint = f"did you mean {guesses[0]!r}? {hint}"
    return ConfigError(f"unknown key {key!r} in {where}", hint=hint)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _describe(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked (and converted where lossless) against type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} must be {_describe(tp)}, got {_type_name(value)} {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_mapping(tp, value, where=where)  # type: ignore[arg-type]
    if origin in (list, Sequence) or tp is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {_type_name(value)} {value!r}")
        item = args[0] if args else Any
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {_type_name(value)} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {_type_name(value)} {value!r}")
        key_type, value_type = args if args else (Any, Any)
        return {
            _coerce(k, key_type, f"{where} key"): _coerce(v, value_type, f"{where}.{k}") for k, v in value.items()
        }
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
    elif tp is type(None):
        if value is None:
            return None
    else:
        raise TypeError(f"config field {where} has unsupported type {tp!r}")
    raise ConfigError(f"{where} must be {_describe(tp)}, got {_type_name(value)} {value!r}")


# -- overrides ------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'train.lr=1e-4'`` -> ``(['train', 'lr'], 1e-4)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r} is not of the form key.path=value", hint="e.g. --set train.steps=100")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except YAML_FAILURES as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({_yaml_problem(exc)})") from None
    problem = _expansion_problem(value)
    if problem:
        raise ConfigError(f"--set {text!r}: the value {problem}")
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``key.path=value`` override applied."""
    result = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {part!r} holds a value, not a section")
            node = child
        node[path[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


# -- files ----------------------------------------------------------------------------


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``, with one-line errors for missing or malformed files."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except YAML_FAILURES as exc:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(exc)}", hint="fix the file") from None
    problem = _expansion_problem(data)
    if problem:
        raise ConfigError(f"{path} {problem}", hint="write the values out instead of through aliases")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values, got {_type_name(data)}")
    return data


def _expansion_problem(data: Any) -> str | None:
    """Why ``data`` cannot be copied node by node: an alias that contains itself, or too many nodes."""
    sizes: dict[int, int] = {}  # id -> expanded node count; shared (aliased) nodes are counted once here
    in_progress: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (Mapping, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise _Recursive
        in_progress.add(key)
        children = node.values() if isinstance(node, Mapping) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                break
        in_progress.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(data)
    except _Recursive:
        return "holds an alias that contains itself"
    except RecursionError:
        return "is nested too deeply"
    if total > MAX_EXPANDED_NODES:
        return f"expands through its aliases to more than {MAX_EXPANDED_NODES:,} values"
    return None


class _Recursive(Exception):
    """A YAML node reached again while it is being counted."""


def _yaml_problem(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def builtin_config(kind: str, name: str) -> Path | None:
    """Path of a built-in config ``configs/<kind>/<name>.yaml``, if it exists."""
    try:
        root = importlib.resources.files(BUILTIN_CONFIG_PACKAGE)
    except ModuleNotFoundError:
        return None
    candidate = root / kind / f"{name}.yaml"
    return Path(str(candidate)) if candidate.is_file() else None


def builtin_config_names(kind: str) -> list[str]:
    try:
        folder = importlib.resources.files(BUILTIN_CONFIG_PACKAGE) / kind
    except ModuleNotFoundError:
        return []
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_config_path(value: str | Path, kind: str | None = None) -> Path:
    """A config file path, or the built-in config of that name (``tiny``) of ``kind`` (any kind when ``None``)."""
    path = Path(value)
    if path.exists() or path.suffix in {".yaml", ".yml"} or len(path.parts) > 1:
        return path
    kinds = [kind] if kind is not None else sorted(CONFIG_KINDS)
    for candidate in kinds:
        builtin = builtin_config(candidate, str(value))
        if builtin is not None:
            return builtin
    names = ", ".join(name for candidate in kinds for name in builtin_config_names(candidate)) or "none"
    what = f"built-in {kind} config" if kind else "built-in config"
    raise ConfigError(f"no config file {value!r} and no {what} of that name", hint=f"built-in: {names}")


def schema_for(kind: str) -> type[Any]:
    """The dataclass registered for a config kind."""
    target = CONFIG_KINDS.get(kind)
    if target is None:
        known = ", ".join(sorted(CONFIG_KINDS)) or "none"
        raise ConfigError(f"unknown config kind {kind!r}", hint=f"kinds: {known}")
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    kind: str | None = None,
) -> Any:
    """Read, override and type-check a config file.

    :param path: a YAML file whose ``kind`` key names its schema, or the name
        of a built-in config of ``kind``; ``None`` starts from the defaults
        of ``kind``.
    :param overrides: ``key.path=value`` strings, applied in order.
    :param kind: the schema the caller expects; a file of another kind is an error.
    """
    if path is None:
        if kind is None:
            raise ConfigError("no config file and no config kind given")
        data: dict[str, Any] = {"kind": kind}
        where = f"the default {kind} config"
    else:
        resolved = resolve_config_path(path, kind)
        data = read_yaml(resolved)
        where = str(resolved)
        file_kind = data.get("kind")
        if file_kind is None:
            known = ", ".join(sorted(CONFIG_KINDS)) or "none registered"
            raise ConfigError(f"{resolved} has no top-level 'kind' key", hint=f"add e.g. 'kind: {kind or 'train'}' (kinds: {known})")
        if kind is not None and file_kind != kind:
            raise ConfigError(f"{resolved} is a {file_kind!r} config, but a {kind!r} config is needed")
    data = apply_overrides(data, overrides)
    config_kind = data.pop("kind")
    if not isinstance(config_kind, str):
        raise ConfigError(f"{where}: 'kind' must be a string")
    try:
        return from_mapping(schema_for(config_kind), data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None


def config_kind_of(config: Any) -> str:
    """The registered kind of a config instance."""
    target = f"{type(config).__module__}:{type(config).__qualname__}"
    for kind, registered in CONFIG_KINDS.items():
        if registered == target:
            return kind
    raise ValueError(f"{type(config).__qualname__} is not a registered config kind")


def dump_config(config: Any) -> str:
    """YAML text of a config, ``kind`` first; reading it back gives the same config."""
    data = {"kind": config_kind_of(config), **to_data(config)}
    stream = io.StringIO()
    yaml.safe_dump(data, stream, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return stream.getvalue()


def write_config(config: Any, path: Path) -> Path:
    """Write the resolved config of a run (atomically)."""
    from .files import atomic_write_text

    return atomic_write_text(path, dump_config(config))
