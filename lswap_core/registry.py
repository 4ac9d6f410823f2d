"""Typed registries of component classes, and the ``load_*`` entry points.

Each component kind (`lswap_core.kinds.KINDS`) has a registry mapping a
name to the class that a plugin registered, remembering which plugin and
distribution gave it. A registry is filled the first time its kind is used,
by calling that kind's hook on each plugin in turn, and kept by the plugin
host until the set of working plugins changes.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import (
    CheckpointError,
    ConfigError,
    DuplicateComponentError,
    PluginLoadError,
    unknown_name_error,
)
from .kinds import KindSpec, kind_spec, label_of
from .plugins import get_plugin_host, strict_mode

if TYPE_CHECKING:
    import torch

    from .interfaces import (
        Component,
        Converter,
        Editor,
        FaceAnalyzer,
        FeatureNetwork,
        Generator,
        IdentityEmbedder,
        Inverter,
        ShapeModel,
    )

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
DEFAULT_INIT_SEED = 0  # components built without weights start from this seed unless told otherwise

C = TypeVar("C", covariant=True)


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

    def __init__(self, spec: KindSpec) -> None:
        self.spec = spec
        self._entries: dict[str, ComponentEntry] = {}
        self._conflicts: dict[str, list[ComponentEntry]] = {}

    @property
    def kind(self) -> str:
        return self.spec.name

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
            raise self.conflict_error(entry.name)

    def get(self, name: str) -> ComponentEntry:
        """The entry registered under ``name``.

        :raises UnknownComponentError: listing known names and the closest.
        :raises DuplicateComponentError: when two plugins claim the name.
        """
        if name in self._conflicts:
            raise self.conflict_error(name)
        entry = self._entries.get(name)
        if entry is None:
            raise unknown_name_error(self.spec.label, name, self.names())
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
        entries = self._conflicts[name]
        owners = " and ".join(f"plugin {e.plugin!r} ({e.distribution or 'local'})" for e in entries)
        return DuplicateComponentError(
            f"{self.spec.label} {name!r} is registered by both {owners}",
            hint=f"uninstall one, or block one with LSWAP_DISABLE_PLUGINS={entries[-1].plugin}",
        )

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def get_registry(kind: str) -> Registry:
    """The registry of ``kind``, filled from the plugins on first use (and again after a plugin fails)."""
    spec = kind_spec(kind)
    return get_plugin_host().cached(f"registry:{kind}", lambda: _build_registry(spec))


def _build_registry(spec: KindSpec) -> Registry:
    host = get_plugin_host()
    base = spec.base_class()
    registry = Registry(spec)
    for plugin_name, collected in host.call_each(spec.hook, lambda plugin_name: _Collector(spec, base)):
        distribution = host.records[plugin_name].distribution
        for cls in collected.classes:
            registry.add(ComponentEntry(spec.name, cls.name, cls, plugin_name, distribution))
    return registry


class _Collector:
    """The ``register`` callback handed to one plugin's hook; validates each class."""

    def __init__(self, spec: KindSpec, base: type) -> None:
        self.spec, self.base = spec, base
        self.classes: list[type] = []

    def __call__(self, cls: type) -> None:
        label = self.spec.label
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
        if self.spec.buildable and not dataclasses.is_dataclass(config_class):
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
        message = exc.message.replace("in the top level", "among its options")
        raise ConfigError(f"{label_of(cls.kind)} {cls.name!r}: {message}", hint=exc.hint) from None


def load_component(
    kind: str,
    name: str,
    weights: str | Path | None = None,
    *,
    preset: str | None = None,
    device: str | torch.device | None = None,
    init_seed: int | None = None,
    **config: Any,
) -> Component:
    """Build a registered component, from an export's weights or freshly initialised.

    :param weights: an lswap safetensors export (``lswap convert`` makes one
        from an official checkpoint), or the name of a fetched asset
        (``lswap weights fetch NAME``), meaning its export of this component.
        Its stored config is used; ``config`` keywords override single values.
    :param preset: a named config of the component (``"tiny"``); not with ``weights``.
    :param device: where to put the module; CPU by default.
    :param init_seed: without ``weights``, the seed the initial values are
        drawn from (default 0), so the same call builds the same component;
        the global random state is left as it was.
    :param config: config values, checked against the component's ``config_class``.
    """
    from .checkpoints import load_state_strict, read_export

    spec = kind_spec(kind)
    cls = get_registry(kind).get(name).cls
    if weights is None:
        component = _construct_seeded(cls, build_config(cls, preset, config), DEFAULT_INIT_SEED if init_seed is None else init_seed)
    else:
        if preset is not None:
            raise ConfigError(
                f"both a preset ({preset!r}) and weights were given for {name!r}",
                hint="drop the preset: a weights file carries its own architecture",
            )
        from .assets import resolve_weights

        weights = resolve_weights(weights, kind, name)
        export = read_export(weights)
        if export.kind != kind or export.name != name:
            raise CheckpointError(
                f"{weights} holds a {label_of(export.kind)} {export.name!r}, not the {spec.label} {name!r}",
                hint=f"load it as {export.kind} {export.name!r} or pick the matching file",
            )
        component = _construct(cls, build_config(cls, None, {**export.config, **config}))
        load_state_strict(component, export.tensors, source=str(weights))
    component.eval()
    if device is not None:
        component.to(device)
    return component


def _construct_seeded(cls: type[Component], config: Any, seed: int) -> Component:
    """Build a component whose random initial values come from ``seed``, leaving the global RNG as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _construct(cls, config)


def _construct(cls: type[Component], config: Any) -> Component:
    """Build a component; a config its constructor rejects is a `ConfigError`."""
    try:
        return cls(config)
    except ValueError as exc:
        raise ConfigError(f"{label_of(cls.kind)} {cls.name!r} cannot be built with this config: {exc}") from None


class Loader(Protocol[C]):
    """The signature of the ``load_*`` functions; see `load_component` for the arguments."""

    def __call__(self, name: str, weights: str | Path | None = None, **options: Any) -> C: ...


def _loader(kind: str) -> Loader[Any]:
    spec = kind_spec(kind)

    def load(name: str, weights: str | Path | None = None, **options: Any) -> Any:
        return load_component(kind, name, weights, **options)

    load.__name__ = load.__qualname__ = str(spec.loader)
    load.__doc__ = f"Build the {spec.label} ``name``; see `load_component` for the arguments."
    return load


load_generator: Loader[Generator] = _loader("generator")
load_inverter: Loader[Inverter] = _loader("inverter")
load_embedder: Loader[IdentityEmbedder] = _loader("embedder")
load_shape_model: Loader[ShapeModel] = _loader("shape_model")
load_editor: Loader[Editor] = _loader("editor")
load_face_analyzer: Loader[FaceAnalyzer] = _loader("face_analyzer")
load_feature_network: Loader[FeatureNetwork] = _loader("feature_network")


def get_converter(name: str) -> Converter:
    """An instance of the converter ``name``."""
    return get_registry("converter").get(name).cls()
