"""Commands contributed by plugins through ``lswap_register_commands``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from ..errors import PluginLoadError
from ..plugins import get_plugin_host


class PluginCommandGroup(TyperGroup):
    """A command group that also offers the commands plugins register.

    Plugins are asked for their commands only when a name is not one of the
    group's own commands, or when commands are listed, so that running a
    built-in command loads no plugin.
    """

    def builtin_command_names(self, ctx: Any) -> list[str]:
        """The group's own commands, without the plugins'."""
        return super().list_commands(ctx)

    def list_commands(self, ctx: Any) -> list[str]:
        builtin = self.builtin_command_names(ctx)
        return [*builtin, *sorted(commands_from_plugins(builtin))]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            command = commands_from_plugins(self.builtin_command_names(ctx)).get(cmd_name)
        return command


def commands_from_plugins(reserved: Collection[str]) -> dict[str, Any]:
    """Click commands by name from every loaded plugin (kept until the plugins change).

    Each plugin gets its own Typer app so that its commands can be attributed;
    a name already taken (one of ``reserved``, lswap's own commands, or an
    earlier plugin's) fails the plugin.
    """
    return get_plugin_host().cached("commands", lambda: _collect_commands(set(reserved)))


def _collect_commands(reserved: set[str]) -> dict[str, Any]:
    host = get_plugin_host()
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
    return commands
