"""``lswap plugins``: what is installed and how loading went."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Annotated, Any

import typer
from rich.table import Table

from ..plugins import PluginRecord, get_plugin_host
from ..kinds import KINDS
from ..registry import ComponentEntry, get_registry
from .options import JsonOption
from .output import stdout_console
from .plugin_commands import PluginCommandGroup, commands_from_plugins

app = typer.Typer(help="Inspect installed plugins.", no_args_is_help=True)


def _components_by_plugin() -> tuple[dict[str, list[ComponentEntry]], dict[str, list[str]]]:
    """Every registered component grouped by plugin, and each plugin's name conflicts."""
    components: dict[str, list[ComponentEntry]] = {}
    conflicts: dict[str, list[str]] = {}
    for kind in KINDS:
        registry = get_registry(kind)
        for entry in registry.entries():
            components.setdefault(entry.plugin, []).append(entry)
        for name, claimants in registry.conflicts().items():
            message = str(registry.conflict_error(name))
            for entry in claimants:
                components.setdefault(entry.plugin, []).append(entry)
                conflicts.setdefault(entry.plugin, []).append(message)
    return components, conflicts


def plugin_report(reserved_commands: Collection[str]) -> list[dict[str, Any]]:
    """One dict per plugin: identity, load status, components and commands.

    :param reserved_commands: lswap's own command names, which plugin commands must not take.
    """
    from ..assets import asset_catalog

    commands_from_plugins(reserved_commands)
    components, conflicts = _components_by_plugin()
    assets: dict[str, list[str]] = {}
    declared, _ = asset_catalog()
    for entry in declared.values():
        assets.setdefault(entry.plugin, []).append(entry.asset.name)
    host = get_plugin_host()
    return [
        _record_dict(record, components.get(record.name, []), conflicts.get(record.name, []), sorted(assets.get(record.name, [])))
        for record in host.records.values()
    ]


def _record_dict(record: PluginRecord, entries: list[ComponentEntry], conflicts: list[str], assets: list[str]) -> dict[str, Any]:
    return {
        "name": record.name,
        "version": record.version,
        "source": record.source,
        "distribution": record.distribution,
        "builtin": record.builtin,
        "module": record.module,
        "status": record.status,
        "error": record.error,
        "conflicts": conflicts,
        "components": [
            {
                "kind": entry.kind,
                "name": entry.name,
                "class": f"{entry.cls.__module__}.{entry.cls.__qualname__}",
                "description": entry.description,
            }
            for entry in entries
        ],
        "commands": record.commands,
        "assets": assets,
    }


def _provides(plugin: dict[str, Any]) -> str:
    kinds: dict[str, list[str]] = {}
    for component in plugin["components"]:
        kinds.setdefault(component["kind"], []).append(component["name"])
    if plugin["commands"]:
        kinds["command"] = plugin["commands"]
    if plugin["assets"]:
        kinds["asset"] = plugin["assets"]
    return "; ".join(f"{kind}: {', '.join(names)}" for kind, names in kinds.items()) or "-"


def _status(plugin: dict[str, Any]) -> str:
    if plugin["status"] == "failed":
        return f"[red]failed[/red]: {plugin['error']}"
    if plugin["status"] == "disabled":
        return "[yellow]disabled[/yellow] (LSWAP_DISABLE_PLUGINS)"
    if plugin["conflicts"]:
        return "[yellow]conflict[/yellow]: " + "; ".join(plugin["conflicts"])
    return "[green]ok[/green]"


@app.command("list")
def list_plugins(
    ctx: typer.Context,
    as_json: JsonOption = False,
    show_all: Annotated[bool, typer.Option("--all", help="One row per component and command, with descriptions.")] = False,
) -> None:
    """List plugins: version, source, what each provides and whether it loaded."""
    root = ctx.find_root()
    reserved = root.command.builtin_command_names(root) if isinstance(root.command, PluginCommandGroup) else []
    report = plugin_report(reserved)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = stdout_console()
    if not report:
        console.print("No plugins installed.")
        return
    table = Table("Plugin", "Version", "Source", "Provides" if not show_all else "Kind", *(["Name", "Description"] if show_all else []), "Status")
    for plugin in report:
        identity = (plugin["name"], plugin["version"] or "-", plugin["source"])
        if not show_all:
            table.add_row(*identity, _provides(plugin), _status(plugin))
            continue
        rows = [(c["kind"], c["name"], c["description"]) for c in plugin["components"]]
        rows += [("command", name, "") for name in plugin["commands"]]
        rows += [("asset", name, "") for name in plugin["assets"]]
        for index, row in enumerate(rows or [("-", "-", "")]):
            table.add_row(*(identity if index == 0 else ("", "", "")), *row, _status(plugin) if index == 0 else "")
    console.print(table)
