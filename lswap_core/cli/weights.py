"""``lswap weights``: the official pretrained files, their licences, and the local cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import DownloadError
from .options import JsonOption
from .output import stderr_console, stdout_console

app = typer.Typer(
    help="Pretrained weights: where each comes from, its licence, and the local cache ($LSWAP_HOME).",
    no_args_is_help=True,
)


def _asset_dict(entry: Any) -> dict[str, Any]:
    from ..assets import asset_state, expected_hash

    asset = entry.asset
    state = asset_state(asset)
    return {
        "name": asset.name,
        "description": asset.description,
        "licence": asset.licence,
        "homepage": asset.homepage,
        "plugin": entry.plugin,
        "status": state.status,
        "folder": str(state.folder),
        "npm": asset.npm,
        "manual": asset.manual or None,
        "requires": list(asset.requires),
        "files": [
            {
                "name": file.name,
                "source": file.source,
                "url": file.url,
                "npm_member": file.member,
                "sha256": expected_hash(asset, file)[0],
                "sha256_origin": expected_hash(asset, file)[1],
                "present": state.present[file.name],
            }
            for file in asset.files
        ],
        "exports": [
            {"file": conversion.output, "from": conversion.source, "converter": conversion.converter, "present": state.exports[conversion.output]}
            for conversion in asset.conversions
        ],
    }


def _sources(files: list[dict[str, Any]]) -> str:
    return ", ".join(sorted({file["source"] for file in files}))


@app.command("list")
def list_command(
    pattern: Annotated[str, typer.Argument(help="Glob pattern of asset names.")] = "*",
    json_output: JsonOption = False,
) -> None:
    """Every known pretrained asset, with its source, licence and whether it is in the cache."""
    from ..assets import asset_catalog, home, list_assets

    assets = [_asset_dict(entry) for entry in list_assets(pattern)]
    _, conflicts = asset_catalog()
    for name, claimants in conflicts.items():
        owners = " and ".join(entry.plugin for entry in claimants)
        stderr_console().print(f"[yellow]warning:[/yellow] asset {name!r} is declared by both {owners}; it cannot be used")
    if json_output:
        typer.echo(json.dumps({"home": str(home()), "assets": assets}, indent=2))
        return
    table = Table(title=f"pretrained assets (cache: {home()})", title_justify="left")
    table.add_column("asset", no_wrap=True)
    for column in ("what", "source", "licence"):
        table.add_column(column, overflow="fold")
    table.add_column("status", no_wrap=True)
    colours = {"ready": "green", "fetched": "green", "incomplete": "yellow", "missing": "dim"}
    for asset in assets:
        status = asset["status"]
        table.add_row(
            asset["name"], asset["description"], _sources(asset["files"]), asset["licence"], f"[{colours[status]}]{status}[/]"
        )
    stdout_console().print(table)


@app.command("fetch")
def fetch_command(
    names: Annotated[list[str], typer.Argument(help="Asset names (see `lswap weights list`).", show_default=False)],
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="A file, folder or npm tarball you already have; copied into the cache after verification.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download (or unpack, or take from --from) assets, verify them and convert them to exports."""
    from ..weights import fetch

    if source is not None and len(names) != 1:
        raise DownloadError("--from goes with exactly one asset name", hint="fetch the assets one at a time")
    console = stdout_console()
    for name in names:
        result = fetch(name, source=source)
        got = f"fetched {', '.join(result.fetched)}" if result.fetched else "files already cached and verified"
        console.print(f"{name}: {got} in {result.folder}")
        for export in result.exports:
            console.print(f"  export: {export}")
        for note in result.notes:
            console.print(f"  [yellow]{note}[/yellow]")


@app.command("verify")
def verify_command(
    names: Annotated[list[str] | None, typer.Argument(help="Asset names; default: every asset with cached files.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Check cached files against their published (or first recorded) SHA-256 and content."""
    from ..assets import asset_state, list_assets
    from ..weights import verify

    if not names:
        names = [entry.asset.name for entry in list_assets() if asset_state(entry.asset).status != "missing"]
    checks = [check for name in names for check in verify(name)]
    if json_output:
        typer.echo(json.dumps([check.__dict__ | {"ok": check.ok} for check in checks], indent=2))
    else:
        table = Table(title="verified files", title_justify="left")
        table.add_column("asset", no_wrap=True)
        table.add_column("file", overflow="fold")
        table.add_column("result", no_wrap=True)
        table.add_column("detail", overflow="fold")
        labels = {
            "published": "[green]matches published hash[/]",
            "recorded": "[green]matches recorded hash[/]",
            "recorded-now": "[green]hash recorded[/]",
            "missing": "[dim]missing[/]",
            "mismatch": "[red]MISMATCH[/]",
            "check failed": "[red]CHECK FAILED[/]",
        }
        for check in checks:
            table.add_row(check.asset, check.file, labels[check.status], check.detail)
        stdout_console().print(table if checks else "no cached assets to verify")
    failed = [check for check in checks if not check.ok]
    if failed:
        raise DownloadError(
            f"{len(failed)} file(s) failed verification: {', '.join(f'{c.asset}/{c.file}' for c in failed)}",
            hint="delete them and fetch again",
        )
