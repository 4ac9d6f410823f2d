"""Pretrained assets: where each file comes from, its licence and hash, and where it is cached.

Plugins declare the official files their components load with the
``lswap_register_assets`` hook (`Asset`, `AssetFile`, `Conversion`);
``weights="NAME"`` of ``lswap_core.load_*`` resolves here to the asset's
export (`resolve_weights`). Fetching and verifying the files is
`lswap_core.weights`.

The cache lives in ``$LSWAP_HOME`` (default ``~/.cache/lswap``)::

    assets/<asset>/<file>                 official files, fetched or placed by hand
    assets/<asset>/<export>.safetensors   exports converted from them
    recorded-sha256.json                  hashes of files without a published one,
                                          recorded when first fetched

Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
from pathlib import Path
from typing import Literal

from .errors import CheckpointError, DownloadError, DuplicateComponentError, PluginLoadError, unknown_name_error
from .plugins import get_plugin_host

HOME_ENV = "LSWAP_HOME"
DEFAULT_HOME = "~/.cache/lswap"
RECORD_FILE = "recorded-sha256.json"
ASSET_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


# -- declarations ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AssetFile:
    """One file of an asset.

    :param name: its file name, in the asset's cache folder (the official name).
    :param url: a direct download address; ``None`` for a file taken from the
        asset's npm package (`member`) or obtained by hand (`Asset.manual`).
    :param sha256: its published or otherwise known hex SHA-256; ``None``
        records the hash of the first copy fetched.
    :param member: its path inside the asset's npm package (``model/x.bin``).
    """

    name: str
    url: str | None = None
    sha256: str | None = None
    member: str | None = None

    @property
    def source(self) -> Literal["download", "npm", "manual"]:
        return "download" if self.url else "npm" if self.member else "manual"


@dataclasses.dataclass(frozen=True)
class Conversion:
    """An lswap export made from one of an asset's files when it is fetched.

    :param source: name of the asset file the converter reads, or ``"."`` for
        the asset's whole folder (converters that read a set of files).
    :param output: file name of the export in the asset's folder (``.safetensors``).
    :param converter: the converter's name; ``None`` uses whichever installed
        converter recognises the file, and skips the export when none does.
    """

    source: str
    output: str
    converter: str | None = None


@dataclasses.dataclass(frozen=True)
class Asset:
    """Official pretrained files, with where they come from and their terms.

    :param name: the asset's name (``smoothswap``), as given to
        ``lswap weights fetch`` and to ``weights=`` of ``lswap_core.load_*``.
    :param description: one line: what it is.
    :param licence: the terms the files come under, in a few words.
    :param homepage: the official page that publishes the files.
    :param files: the files, each with its source.
    :param manual: for files without a URL or npm member: where to get them,
        shown with the folder to put them in.
    :param npm: the npm package (``@scope/name@version``) that `AssetFile.member` files come from.
    :param conversions: exports to make from the files once they are verified.
    :param requires: assets whose files a conversion also reads (fetched first).
    :param check: ``"module:function"`` called with the asset's folder after
        its files are verified; it raises an `LswapError` when a file holds
        the wrong content (a ``.mat`` without the needed fields...).
    """

    name: str
    description: str
    licence: str
    homepage: str
    files: tuple[AssetFile, ...]
    manual: str = ""
    npm: str | None = None
    conversions: tuple[Conversion, ...] = ()
    requires: tuple[str, ...] = ()
    check: str | None = None

    def __post_init__(self) -> None:
        if not ASSET_NAME.match(self.name):
            raise ValueError(f"asset name {self.name!r} must be lower case letters, digits, '-' and '_'")
        if not self.files:
            raise ValueError(f"asset {self.name!r} has no files")
        names = [file.name for file in self.files]
        if len(set(names)) != len(names) or any("/" in name or "\\" in name or name.startswith(".") for name in names):
            raise ValueError(f"asset {self.name!r}: file names must be distinct plain names, got {names}")
        for file in self.files:
            if file.member and not self.npm:
                raise ValueError(f"asset {self.name!r}: {file.name} names an npm member but the asset has no npm package")
            if file.source == "manual" and not self.manual:
                raise ValueError(f"asset {self.name!r}: {file.name} has no URL, so `manual` must say where to get it")
            if file.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", file.sha256):
                raise ValueError(f"asset {self.name!r}: {file.name} has a malformed sha256")
        for conversion in self.conversions:
            if conversion.source not in names and conversion.source != ".":
                raise ValueError(f"asset {self.name!r}: conversion source {conversion.source!r} is not one of its files")
            if not conversion.output.endswith(".safetensors") or conversion.output in names:
                raise ValueError(f"asset {self.name!r}: conversion output {conversion.output!r} must be a new .safetensors name")

    def file(self, name: str) -> AssetFile:
        for file in self.files:
            if file.name == name:
                return file
        raise KeyError(name)


@dataclasses.dataclass(frozen=True)
class AssetEntry:
    """A declared asset and the plugin that declared it."""

    asset: Asset
    plugin: str
    distribution: str | None


class _AssetCollector:
    """The ``register`` callback handed to one plugin's ``lswap_register_assets``."""

    def __init__(self, plugin_name: str) -> None:
        self.plugin_name = plugin_name
        self.assets: list[Asset] = []

    def __call__(self, asset: Asset) -> None:
        if not isinstance(asset, Asset):
            raise PluginLoadError(
                f"registered {type(asset).__qualname__} as an asset", hint="register lswap_core.assets.Asset instances"
            )
        if any(existing.name == asset.name for existing in self.assets):
            raise PluginLoadError(f"asset {asset.name!r} is registered twice by the same plugin")
        self.assets.append(asset)


def asset_catalog() -> tuple[dict[str, AssetEntry], dict[str, list[AssetEntry]]]:
    """Every declared asset by name, and the names claimed by more than one plugin (with every claimant)."""
    return get_plugin_host().cached("assets", _collect_assets)


def _collect_assets() -> tuple[dict[str, AssetEntry], dict[str, list[AssetEntry]]]:
    host = get_plugin_host()
    entries: dict[str, AssetEntry] = {}
    conflicts: dict[str, list[AssetEntry]] = {}
    for plugin_name, collected in host.call_each("lswap_register_assets", _AssetCollector):
        distribution = host.records[plugin_name].distribution
        for asset in collected.assets:
            entry = AssetEntry(asset, plugin_name, distribution)
            if asset.name in conflicts:
                conflicts[asset.name].append(entry)
            elif asset.name in entries:
                conflicts[asset.name] = [entries.pop(asset.name), entry]
            else:
                entries[asset.name] = entry
    return entries, conflicts


def get_asset(name: str) -> Asset:
    """The asset declared under ``name``.

    :raises UnknownComponentError: listing the known names and the closest.
    :raises DuplicateComponentError: when two plugins declare the name.
    """
    entries, conflicts = asset_catalog()
    if name in conflicts:
        owners = " and ".join(f"plugin {e.plugin!r}" for e in conflicts[name])
        raise DuplicateComponentError(
            f"asset {name!r} is declared by both {owners}",
            hint=f"block one with LSWAP_DISABLE_PLUGINS={conflicts[name][-1].plugin}",
        )
    if name not in entries:
        raise unknown_name_error("asset", name, sorted(entries))
    return entries[name].asset


def list_assets(pattern: str = "*") -> list[AssetEntry]:
    """Declared assets whose names match a glob pattern, sorted by name."""
    entries, _ = asset_catalog()
    return [entries[name] for name in sorted(entries) if fnmatch.fnmatchcase(name, pattern)]


# -- the cache --------------------------------------------------------------------------


def home() -> Path:
    """The cache root: ``$LSWAP_HOME``, or ``~/.cache/lswap``."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser()


def asset_folder(name: str) -> Path:
    """Where the files of asset ``name`` are cached (and where to put hand-downloaded ones)."""
    return home() / "assets" / name


def asset_path(asset: str, file: str) -> Path:
    """Path of one cached file of an asset (which may not exist yet)."""
    return asset_folder(asset) / file


def recorded_hashes() -> dict[str, str]:
    """Hashes recorded on first fetch, by ``"asset/file"``."""
    path = home() / RECORD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise DownloadError(f"cannot read {path}: {exc}", hint="delete it; hashes are recorded again on the next fetch") from None
    return {key: value["sha256"] for key, value in data.items() if isinstance(value, dict) and "sha256" in value}


def expected_hash(asset: Asset, file: AssetFile) -> tuple[str | None, str]:
    """The hash a file must have and where it comes from: ``"published"``, ``"recorded"`` or ``"none"``."""
    if file.sha256:
        return file.sha256, "published"
    recorded = recorded_hashes().get(f"{asset.name}/{file.name}")
    return (recorded, "recorded") if recorded else (None, "none")


@dataclasses.dataclass
class AssetState:
    """What of an asset is in the cache (presence only; `verify` checks content).

    ``status``: ``missing`` (no file), ``incomplete`` (some files),
    ``fetched`` (every file, exports missing) or ``ready``.
    """

    asset: Asset
    folder: Path
    present: dict[str, bool]
    exports: dict[str, bool]

    @property
    def status(self) -> str:
        if not any(self.present.values()):
            return "missing"
        if not all(self.present.values()):
            return "incomplete"
        return "ready" if all(self.exports.values()) else "fetched"


def asset_state(asset: Asset) -> AssetState:
    folder = asset_folder(asset.name)
    return AssetState(
        asset=asset,
        folder=folder,
        present={file.name: (folder / file.name).is_file() for file in asset.files},
        exports={conversion.output: (folder / conversion.output).is_file() for conversion in asset.conversions},
    )


# -- resolving weights= ----------------------------------------------------------------------


def resolve_weights(weights: str | Path, kind: str, name: str) -> str | Path:
    """What ``weights=`` of ``lswap_core.load_*`` names: a path as it is, or an asset's cached export.

    An asset name (no folder, no suffix) resolves to the asset's export of
    component ``kind``/``name``.

    :raises CheckpointError: when the asset is not fetched, or has no export
        of that component.
    """
    if isinstance(weights, Path) or Path(weights).exists() or not ASSET_NAME.match(str(weights)):
        return weights
    entries, conflicts = asset_catalog()
    if weights not in entries and weights not in conflicts:
        raise CheckpointError(
            f"weights {weights!r} are neither a file nor a known asset", hint="pass an export's path, or see `lswap weights list`"
        )
    asset = get_asset(weights)
    if not asset.conversions:
        raise CheckpointError(
            f"asset {weights!r} holds files that are used as they are, not an lswap export",
            hint=f"pass the path of an export made from them (files in {asset_folder(weights)})",
        )
    folder = asset_folder(weights)
    exports = [folder / conversion.output for conversion in asset.conversions if (folder / conversion.output).is_file()]
    if not exports:
        raise CheckpointError(f"weights {weights!r} are not fetched yet", hint=f"run `lswap weights fetch {weights}`")
    from .checkpoints import read_export_metadata

    for export in exports:
        metadata = read_export_metadata(export)
        if (metadata.get("lswap.kind"), metadata.get("lswap.name")) == (kind, name):
            return export
    if len(exports) == 1:
        return exports[0]  # load_component names what it holds instead
    raise CheckpointError(
        f"asset {weights!r} has no export of the {kind.replace('_', ' ')} {name!r}",
        hint=f"its exports: {', '.join(path.name for path in exports)}",
    )
