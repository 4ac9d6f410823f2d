"""Commands contributed by plugins through ``lswap_register_commands``."""

from __future__ import annotations

from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from ..errors import PluginLoadError
from ..plugins import PluginHost, get_plugin_host

_cache: tuple[PluginHost, dict[str, Any]] | None = None


def builtin_command_names() -> set[str]:
    """Names of lswap's own commands and command groups."""
    from .app import app

    names = {info.name for info in app.registered_groups if info.name}
    names |= {info.name or info.callback.__name__.replace("_", "-") for info in app.registered_commands if info.callback}
    return names


def commands_from_plugins() -> dict[str, Any]:
    """Click commands by name from every loaded plugin (cached per plugin host).

    Each plugin gets its own Typer app so that its commands can be attributed;
    a name already taken (by lswap or an earlier plugin) fails the plugin.
    """
    global _cache
    host = get_plugin_host()
    if _cache is not None and _cache[0] is host:
        return _cache[1]
    reserved = builtin_command_names()
    commands: dict[str, Any] = {}
    for plugin_name, plugin_app in host.call_each("lswap_register_commands", lambda _: typer.Typer()):
        if not plugin_app.registered_commands and not plugin_app.registered_groups:
            continue
        built = typer.main.get_command(plugin_app)
        found = dict(built.commands) if isinstance(built, TyperGroup) else {built.name: built}
        clashes = sorted((reserved | set(commands)) & set(found))
        if clashes:
            host.fail(
                plugin_name,
                PluginLoadError(f"command {clashes[0]!r} is already taken", hint="rename the plugin's command"),
            )
            continue
        commands.update(found)
        host.records[plugin_name].commands = sorted(found)
    _cache = (host, commands)
    return commands
