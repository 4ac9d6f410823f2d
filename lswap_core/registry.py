"""Typed registries of component classes, and the ``load_*`` entry points.

Each component kind (generator, inverter, embedder, shape model, editor,
converter) has a registry mapping a name to the class that a plugin
registered, remembering which plugin and distribution gave it. A registry is
filled the first time its kind is used, by calling that kind's hook on each
plugin in turn.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, ConfigError, DuplicateComponentError, PluginLoadError, UnknownComponentError
from .plugins import get_plugin_host, strict_mode

if TYPE_CHECKING:
    import torch

    from .interfaces import (
        Component,
        Converter,
        Editor,
        FaceAnalyzer,
        Generator,
        IdentityEmbedder,
        Inverter,
        ShapeModel,
    )

HOOKS = {
    "generator": "lswap_register_generators",
    "inverter": "lswap_register_inverters",
    "embedder": "lswap_register_embedders",
    "shape_model": "lswap_register_shape_models",
    "editor": "lswap_register_editors",
    "face_analyzer": "lswap_register_face_analyzers",
    "converter": "lswap_register_converters",
}
KIND_LABELS = {
    "generator": "generator",
    "inverter": "inverter",
    "embedder": "identity embedder",
    "shape_model": "shape model",
    "editor": "editor",
    "face_analyzer": "face analyzer",
    "converter": "converter",
}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclasses.dataclass(frozen=True)
class ComponentEntry:
    """A registered component class and where it came from."""

    kind: str
    name: str
    cls: type
    plugin: str
    distribution: str | None

    @property
    def description(self) -> str:
        doc = (self.cls.__doc__ or "").strip().splitlines()
        return getattr(self.cls, "description", "") or (doc[0] if doc else "")


class Registry:
    """Components of one kind by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, ComponentEntry] = {}
        self._conflicts: dict[str, list[ComponentEntry]] = {}

    def add(self, entry: ComponentEntry) -> None:
        if entry.name in self._conflicts:
            self._conflicts[entry.name].append(entry)
            return
        existing = self._entries.get(entry.name)
        if existing is None:
            self._entries[entry.name] = entry
            return
        # Neither wins: using the name raises, naming both plugins.
        del self._entries[entry.name]
        self._conflicts[entry.name] = [existing, entry]
        if strict_mode():
            raise _duplicate_error(self.kind, entry.name, [existing, entry])

    def get(self, name: str) -> ComponentEntry:
        """The entry registered under ``name``.

        :raises UnknownComponentError: listing known names and the closest.
        :raises DuplicateComponentError: when two plugins claim the name.
        """
        if name in self._conflicts:
            raise _duplicate_error(self.kind, name, self._conflicts[name])
        entry = self._entries.get(name)
        if entry is None:
            raise unknown_name_error(KIND_LABELS[self.kind], name, self.names())
        return entry

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a glob pattern, sorted."""
        return sorted(name for name in self._entries if fnmatch.fnmatchcase(name, pattern))

    def entries(self, pattern: str = "*") -> list[ComponentEntry]:
        return [self._entries[name] for name in self.names(pattern)]

    def conflicts(self) -> dict[str, list[ComponentEntry]]:
        """Names claimed by more than one plugin, with every claimant."""
        return {name: list(entries) for name, entries in self._conflicts.items()}

    def conflict_error(self, name: str) -> DuplicateComponentError:
        return _duplicate_error(self.kind, name, self._conflicts[name])

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def unknown_name_error(label: str, name: str, known: list[str]) -> UnknownComponentError:
    """Error for an unknown name, listing the known ones and the closest match."""
    if not known:
        return UnknownComponentError(
            f"no {label} named {name!r}: no plugin provides a {label}",
            hint="see `lswap plugins list` for plugins that failed to load",
        )
    guesses = difflib.get_close_matches(name, known, n=1)
    hint = f"known: {', '.join(known)}"
    if guesses:
        hint = f"did you mean {guesses[0]!r}? {hint}"
    return UnknownComponentError(f"no {label} named {name!r}", hint=hint)


def _duplicate_error(kind: str, name: str, entries: list[ComponentEntry]) -> DuplicateComponentError:
    owners = " and ".join(f"plugin {e.plugin!r} ({e.distribution or 'local'})" for e in entries)
    return DuplicateComponentError(
        f"{KIND_LABELS[kind]} {name!r} is registered by both {owners}",
        hint=f"uninstall one, or block one with LSWAP_DISABLE_PLUGINS={entries[-1].plugin}",
    )


_registries: dict[str, Registry] = {}


def clear_registries() -> None:
    _registries.clear()


def get_registry(kind: str) -> Registry:
    """The registry of ``kind``, filled from the plugins on first use."""
    if kind not in HOOKS:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(HOOKS)}")
    registry = _registries.get(kind)
    if registry is None:
        registry = _build_registry(kind)
        _registries[kind] = registry
    return registry


def _build_registry(kind: str) -> Registry:
    from .interfaces import COMPONENT_BASES

    host = get_plugin_host()
    base = COMPONENT_BASES[kind]
    registry = Registry(kind)

    def collector(plugin_name: str) -> _Collector:
        return _Collector(kind, base, plugin_name)

    for plugin_name, collected in host.call_each(HOOKS[kind], collector):
        distribution = host.records[plugin_name].distribution
        for cls in collected.classes:
            registry.add(ComponentEntry(kind, cls.name, cls, plugin_name, distribution))
    return registry


class _Collector:
    """The ``register`` callback handed to one plugin's hook; validates each class."""

    def __init__(self, kind: str, base: type, plugin_name: str) -> None:
        self.kind, self.base, self.plugin_name = kind, base, plugin_name
        self.classes: list[type] = []

    def __call__(self, cls: type) -> None:
        label = KIND_LABELS[self.kind]
        if not isinstance(cls, type) or not issubclass(cls, self.base):
            what = cls.__qualname__ if isinstance(cls, type) else f"an instance of {type(cls).__qualname__}"
            raise PluginLoadError(
                f"registered {what} as a {label}, but it does not subclass lswap_core.interfaces.{self.base.__name__}",
                hint="register the class itself, subclassing the interface",
            )
        name = cls.__dict__.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise PluginLoadError(
                f"{label} class {cls.__qualname__} has no valid `name` attribute (got {name!r})",
                hint="set name = 'lower-case-name' on the class",
            )
        config_class = getattr(cls, "config_class", None)
        if self.kind != "converter" and not dataclasses.is_dataclass(config_class):
            raise PluginLoadError(f"{label} {name!r}: config_class must be a dataclass")
        if any(existing.name == name for existing in self.classes):
            raise PluginLoadError(f"{label} {name!r} is registered twice by the same plugin")
        self.classes.append(cls)


def list_components(kind: str, pattern: str = "*") -> list[ComponentEntry]:
    """Registered components of ``kind`` whose names match a glob pattern."""
    return get_registry(kind).entries(pattern)


# -- building components -------------------------------------------------------------


def build_config(cls: type[Component], preset: str | None, overrides: Mapping[str, Any]) -> Any:
    """An instance of ``cls.config_class`` from a preset plus keyword overrides, type-checked."""
    from .config import from_mapping

    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in cls.presets:
            known = ", ".join(sorted(cls.presets)) or "none"
            raise ConfigError(f"{cls.name!r} has no preset {preset!r}", hint=f"presets: {known}")
        values.update(cls.presets[preset])
    values.update(overrides)
    try:
        return from_mapping(cls.config_class, values)
    except ConfigError as exc:
        raise ConfigError(f"{KIND_LABELS[cls.kind]} {cls.name!r}: {exc.message}", hint=exc.hint) from None


def load_component(
    kind: str,
    name: str,
    weights: str | Path | None = None,
    *,
    preset: str | None = None,
    device: str | torch.device | None = None,
    **config: Any,
) -> Component:
    """Build a registered component, from an export's weights or freshly initialised.

    :param weights: an lswap safetensors export (``lswap convert`` makes one
        from an official checkpoint), or the name of a fetched asset
        (``lswap weights fetch NAME``), meaning its export of this component.
        Its stored config is used; ``config`` keywords override single values.
    :param preset: a named config of the component (``"tiny"``); not with ``weights``.
    :param device: where to put the module; CPU by default.
    :param config: config values, checked against the component's ``config_class``.
    """
    from .checkpoints import load_state_strict, read_export

    entry = get_registry(kind).get(name)
    cls = entry.cls
    if weights is None:
        component = _construct(cls, build_config(cls, preset, config))
    else:
        if preset is not None:
            raise ConfigError(
                f"both a preset ({preset!r}) and weights were given for {name!r}",
                hint="drop the preset: a weights file carries its own architecture",
            )
        from .weights import resolve_weights

        weights = resolve_weights(weights, kind, name)
        export = read_export(weights)
        if export.kind != kind or export.name != name:
            raise CheckpointError(
                f"{weights} holds a {KIND_LABELS.get(export.kind, export.kind)} {export.name!r}, "
                f"not the {KIND_LABELS[kind]} {name!r}",
                hint=f"load it as {export.kind} {export.name!r} or pick the matching file",
            )
        component = _construct(cls, build_config(cls, None, {**export.config, **config}))
        load_state_strict(component, export.tensors, source=str(weights))
    component.eval()
    if device is not None:
        component.to(device)
    return component


def _construct(cls: type[Component], config: Any) -> Component:
    """Build a component; a config its constructor rejects is a `ConfigError`."""
    try:
        return cls(config)
    except ValueError as exc:
        raise ConfigError(f"{KIND_LABELS[cls.kind]} {cls.name!r} cannot be built with this config: {exc}") from None


def load_generator(name: str, weights: str | Path | None = None, **options: Any) -> Generator:
    """Build the generator ``name``; see `load_component` for the arguments."""
    return load_component("generator", name, weights, **options)  # type: ignore[return-value]


def load_inverter(name: str, weights: str | Path | None = None, **options: Any) -> Inverter:
    """Build the inverter ``name``; see `load_component` for the arguments."""
    return load_component("inverter", name, weights, **options)  # type: ignore[return-value]


def load_embedder(name: str, weights: str | Path | None = None, **options: Any) -> IdentityEmbedder:
    """Build the identity embedder ``name``; see `load_component` for the arguments."""
    return load_component("embedder", name, weights, **options)  # type: ignore[return-value]


def load_shape_model(name: str, weights: str | Path | None = None, **options: Any) -> ShapeModel:
    """Build the shape model ``name``; see `load_component` for the arguments."""
    return load_component("shape_model", name, weights, **options)  # type: ignore[return-value]


def load_editor(name: str, weights: str | Path | None = None, **options: Any) -> Editor:
    """Build the editor ``name``; see `load_component` for the arguments."""
    return load_component("editor", name, weights, **options)  # type: ignore[return-value]


def load_face_analyzer(name: str, weights: str | Path | None = None, **options: Any) -> FaceAnalyzer:
    """Build the face analyzer ``name``; see `load_component` for the arguments."""
    return load_component("face_analyzer", name, weights, **options)  # type: ignore[return-value]


def get_converter(name: str) -> Converter:
    """An instance of the converter ``name``."""
    return get_registry("converter").get(name).cls()


def load_all_registries() -> None:
    """Fill every registry, so that plugin records list all their components."""
    for kind in HOOKS:
        get_registry(kind)
