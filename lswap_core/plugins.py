"""Discovery and loading of plugins.

Plugins are modules named by entry points in the ``lswap`` group. lswap's
own plugins are declared in that same group in its pyproject, so built-in
and third-party plugins take one path. Nothing is loaded on import: the
manager is built the first time `get_plugin_host` is called.

A plugin that fails to import, defines an unknown hook or fails while
registering is recorded with its error and skipped; the others keep working.
``LSWAP_DISABLE_PLUGINS=a,b`` blocks plugins by entry-point name and
``LSWAP_STRICT_PLUGINS=1`` re-raises load errors instead of recording them.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pluggy

from . import hookspecs
from .errors import PluginLoadError

ENTRY_POINT_GROUP = "lswap"
BUILTIN_DISTRIBUTION = "lswap"
DISABLE_ENV = "LSWAP_DISABLE_PLUGINS"
STRICT_ENV = "LSWAP_STRICT_PLUGINS"

PluginStatus = Literal["loaded", "failed", "disabled"]


@dataclasses.dataclass
class PluginRecord:
    """What is known about one plugin: where it came from and how loading went."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    status: PluginStatus = "loaded"
    error: str | None = None
    commands: list[str] = dataclasses.field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION

    @property
    def source(self) -> str:
        """``builtin``, the distribution that provides the plugin, or ``local``."""
        if self.builtin:
            return "builtin"
        return self.distribution or "local"


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def disabled_names() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def describe_exception(exc: BaseException) -> str:
    """One line naming an exception: ``ImportError: No module named 'x'``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class PluginHost:
    """The pluggy manager plus a record of every plugin it tried to load."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        # What callers collected from the plugins (registries, commands...), by their own keys.
        # Emptied whenever the set of working plugins changes, so it is collected again.
        self.cache: dict[str, Any] = {}
        self._generation = 0  # counts those changes

    # -- loading ---------------------------------------------------------------

    def load_entry_points(self) -> None:
        """Import every plugin advertised in the ``lswap`` entry-point group."""
        blocked = disabled_names()
        for entry_point in sorted(_entry_points(), key=lambda ep: ep.name):
            dist = entry_point.dist
            record = PluginRecord(
                name=entry_point.name,
                module=entry_point.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
            if record.name in self.records:
                other = self.records[record.name]
                record.status, record.error = "failed", (
                    f"plugin name {record.name!r} is also used by {other.source}"
                )
                self.records[f"{record.name} ({record.source})"] = record
                continue
            self.records[record.name] = record
            if record.name in blocked:
                record.status = "disabled"
                continue
            try:
                module = entry_point.load()
            except Exception as exc:  # any import failure disables only this plugin
                self.fail(record.name, exc)
                continue
            self._register(module, record)

    def add_plugin(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        """Register a plugin object (a module or any object with hook functions) directly.

        For notebooks and tests; packaged plugins use entry points.
        """
        if name in self.records:
            raise PluginLoadError(f"a plugin named {name!r} is already registered", hint="pick another name")
        record = PluginRecord(
            name=name,
            module=getattr(plugin, "__name__", type(plugin).__name__),
            distribution=distribution,
            version=version,
        )
        self.records[name] = record
        self._register(plugin, record)
        self._changed()
        return record

    def _register(self, plugin: object, record: PluginRecord) -> None:
        try:
            self.manager.register(plugin, name=record.name)
        except Exception as exc:  # pluggy rejects hook signatures that do not match the specs
            self.fail(record.name, exc)
            return
        unknown = [caller.name for caller in self.manager.get_hookcallers(plugin) or [] if not caller.has_spec()]
        if unknown:
            self.manager.unregister(plugin)
            known = [name for name in dir(hookspecs) if name.startswith("lswap_")]
            guesses = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f"did you mean {guesses[0]!r}?" if guesses else f"lswap's hooks are {', '.join(known)}"
            self.fail(record.name, PluginLoadError(f"defines unknown hook {unknown[0]!r}", hint=hint))

    def fail(self, plugin_name: str, exc: BaseException) -> None:
        """Record that a plugin failed; in strict mode re-raise instead.

        Everything collected so far is forgotten, so a failed plugin's
        components leave every registry, whichever kind was built first.
        """
        if strict_mode():
            raise exc
        record = self.records[plugin_name]
        record.status = "failed"
        record.error = describe_exception(exc)
        plugin = self.manager.get_plugin(plugin_name)
        if plugin is not None:
            self.manager.unregister(plugin)
        self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self.cache.clear()

    def cached(self, key: str, collect: Callable[[], Any]) -> Any:
        """``collect()``'s result, kept in `cache` under ``key`` until the plugins change.

        A plugin failing during ``collect`` empties the cache; the result is then
        collected again, without that plugin.
        """
        while key not in self.cache:
            generation = self._generation
            value = collect()
            if generation == self._generation:
                self.cache[key] = value
        return self.cache[key]

    # -- calling hooks one plugin at a time -----------------------------------------

    def call_each(self, hook_name: str, make_argument: Callable[[str], Any]) -> Iterator[tuple[str, Any]]:
        """Call a hook once per loaded plugin so that results can be attributed.

        ``make_argument(plugin_name)`` builds the hook's single argument; the
        pairs ``(plugin_name, argument)`` are yielded after each successful
        call. A plugin whose hook raises is marked failed and skipped.
        """
        caller = getattr(self.manager.hook, hook_name)
        (argname,) = caller.spec.argnames
        for impl in caller.get_hookimpls():
            if self.records[impl.plugin_name].status != "loaded":
                continue
            argument = make_argument(impl.plugin_name)
            try:
                impl.function(**{argname: argument})
            except Exception as exc:  # a broken plugin must not take the others down
                self.fail(impl.plugin_name, exc)
                continue
            yield impl.plugin_name, argument


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


_host: PluginHost | None = None
_lock = threading.Lock()


def get_plugin_host() -> PluginHost:
    """The process-wide plugin host, built (and entry points loaded) on first use."""
    global _host
    with _lock:
        if _host is None:
            host = PluginHost()
            host.load_entry_points()
            _host = host
        return _host


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager with every enabled plugin registered."""
    return get_plugin_host().manager


def reset_plugins() -> None:
    """Forget loaded plugins and everything collected from them; the next use loads them again.

    For tests and for code that installs a plugin at run time.
    """
    global _host
    with _lock:
        _host = None


def register_plugin(plugin: object, name: str) -> PluginRecord:
    """Register a plugin object in this process (no packaging needed).

    Registries already built are rebuilt on next use so that the plugin's
    components appear.
    """
    return get_plugin_host().add_plugin(plugin, name)
