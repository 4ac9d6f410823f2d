"""Pretrained assets: where each file comes from, its licence and hash, and the local cache.

Plugins declare the official files their components load with the
``lswap_register_assets`` hook (`Asset`, `AssetFile`, `Conversion`).
``lswap weights fetch NAME`` downloads them (resuming interrupted downloads
with HTTP ranges), or unpacks them from an npm package, or, for files
behind a sign-up or a Google Drive page, says where to get them and where
to put them; it verifies every file, then converts official checkpoints
into lswap exports so that ``load_embedder("smoothswap", weights="smoothswap")``
finds a ready export by asset name.

The cache lives in ``$LSWAP_HOME`` (default ``~/.cache/lswap``)::

    assets/<asset>/<file>                 official files, fetched or placed by hand
    assets/<asset>/<export>.safetensors   exports converted from them
    recorded-sha256.json                  hashes of files without a published one,
                                          recorded when first fetched

A file lands under its final name only once complete and verified: a hash
mismatch is refused and nothing is cached. Importing this module does not
import torch; fetching and verifying do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fnmatch
import importlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from .downloads import download_resumable, npm_pack, npm_tarball_url, package_member
from .errors import CheckpointError, DownloadError, InputError, LswapError

HOME_ENV = "LSWAP_HOME"
DEFAULT_HOME = "~/.cache/lswap"
RECORD_FILE = "recorded-sha256.json"
ASSET_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_CHUNK = 1 << 20


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
        from .errors import PluginLoadError

        if not isinstance(asset, Asset):
            raise PluginLoadError(
                f"registered {type(asset).__qualname__} as an asset", hint="register lswap_core.weights.Asset instances"
            )
        if any(existing.name == asset.name for existing in self.assets):
            raise PluginLoadError(f"asset {asset.name!r} is registered twice by the same plugin")
        self.assets.append(asset)


def asset_catalog() -> tuple[dict[str, AssetEntry], dict[str, list[AssetEntry]]]:
    """Every declared asset by name, and the names claimed by more than one plugin (with every claimant)."""
    from .plugins import get_plugin_host

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
    from .errors import DuplicateComponentError
    from .registry import unknown_name_error

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


def _record_hash(asset: Asset, file: AssetFile, digest: str) -> None:
    from .checkpoints import atomic_write_text

    path = home() / RECORD_FILE
    data: dict[str, object] = {}
    if path.is_file():
        with contextlib.suppress(OSError, json.JSONDecodeError):
            data = json.loads(path.read_text(encoding="utf-8"))
    data[f"{asset.name}/{file.name}"] = {
        "sha256": digest,
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": file.url or (f"npm:{asset.npm}/{file.member}" if file.member else "placed by hand"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


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


# -- landing files -------------------------------------------------------------------------


@contextlib.contextmanager
def _verified_landing(asset: Asset, file: AssetFile, destination: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``file`` to; it replaces ``destination`` only if its hash checks out.

    A file without a known hash gets its hash recorded.
    """
    from .checkpoints import atomic_path
    from .legacy_pickle import sha256_of

    expected, origin = expected_hash(asset, file)
    with atomic_path(destination) as temp:
        yield temp
        digest = sha256_of(temp)
        if expected is not None and digest != expected:
            raise _mismatch(asset, file, digest, expected, origin)
    if expected is None:
        _record_hash(asset, file, digest)


def _mismatch(asset: Asset, file: AssetFile, digest: str, expected: str, origin: str) -> DownloadError:
    return DownloadError(
        f"{asset.name}/{file.name} has SHA-256 {digest[:12]}…, not the {origin} {expected[:12]}…; refused, nothing was cached",
        hint="check that you have the official file (a truncated or different version does not load)",
    )


def download(url: str, destination: Path, *, asset: Asset, file: AssetFile) -> Path:
    """Download ``url`` to ``destination`` (resuming a partial download) and verify it.

    The bytes collect in ``destination.part``, kept when the connection
    drops so that the next fetch resumes; the complete file is renamed into
    place only if its hash checks out, and a mismatch deletes it.
    """
    part = destination.with_name(destination.name + ".part")
    hint = f"run `lswap weights fetch {asset.name}`"
    download_resumable(url, part, label=f"{asset.name}/{file.name}", retry_hint=hint)
    try:
        with _verified_landing(asset, file, destination) as temp:
            os.replace(part, temp)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    return destination


def unpack_npm_files(tarball: Path, asset: Asset, files: list[AssetFile]) -> None:
    """Copy ``files`` (their `AssetFile.member` paths) out of an npm package tarball into the cache, verified."""
    folder = asset_folder(asset.name)
    try:
        archive = tarfile.open(tarball, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"{tarball} is not a readable package tarball ({exc})", hint=f"pack it again with `npm pack {asset.npm}`") from None
    with archive:
        for file in files:
            assert file.member is not None
            source = package_member(archive, file.member)
            if source is None:
                raise DownloadError(
                    f"{tarball.name} has no {file.member}; it is not {asset.npm}",
                    hint=f"use the tarball of `npm pack {asset.npm}`",
                )
            with source, _verified_landing(asset, file, folder / file.name) as temp, open(temp, "wb") as target:
                shutil.copyfileobj(source, target, _CHUNK)


# -- fetching ------------------------------------------------------------------------------


@dataclasses.dataclass
class FetchResult:
    """What `fetch` did for one asset."""

    asset: Asset
    folder: Path
    fetched: list[str]  # files brought in by this call
    exports: list[Path]  # exports present after the call
    notes: list[str]  # conversions skipped, with the reason


def fetch(name: str, *, source: str | Path | None = None, _seen: tuple[str, ...] = ()) -> FetchResult:
    """Bring an asset's files into the cache, verify them and make its exports.

    :param source: a file, folder or npm tarball the user already has,
        copied into the cache (verified) instead of downloading.
    :raises DownloadError: a download failed, a hash did not match, or a
        file must be downloaded by hand (the message says where from and where to).
    """
    asset = get_asset(name)
    if name in _seen:
        raise DownloadError(f"assets {' -> '.join((*_seen, name))} require each other")
    folder = asset_folder(asset.name)
    folder.mkdir(parents=True, exist_ok=True)
    state = asset_state(asset)
    already = [file for file in asset.files if state.present[file.name]]
    fetched: list[str] = []
    if source is not None:
        fetched += _place_from(asset, Path(source), [file for file in asset.files if not state.present[file.name]])
    missing = [file for file in asset.files if not (folder / file.name).is_file()]
    npm_files = [file for file in missing if file.source == "npm"]
    if npm_files:
        assert asset.npm is not None
        with tempfile.TemporaryDirectory(prefix="lswap-npm-") as work:
            fallback = f"or download {npm_tarball_url(asset.npm)} and pass it with --from"
            unpack_npm_files(npm_pack(asset.npm, Path(work), fallback_hint=fallback), asset, npm_files)
        fetched += [file.name for file in npm_files]
    for file in missing:
        if file.source == "download":
            assert file.url is not None
            download(file.url, folder / file.name, asset=asset, file=file)
            fetched.append(file.name)
    by_hand = [file for file in asset.files if not (folder / file.name).is_file()]
    if by_hand:
        raise manual_download_error(asset, by_hand)
    for file in already:
        _verify_present(asset, file)
    run_check(asset)
    for required in asset.requires:  # their files are read by the conversions
        fetch(required, _seen=(*_seen, name))
    exports, notes = _convert(asset)
    return FetchResult(asset, folder, fetched, exports, notes)


def manual_download_error(asset: Asset, files: list[AssetFile]) -> DownloadError:
    folder = asset_folder(asset.name)
    names = ", ".join(file.name for file in files)
    return DownloadError(
        f"{asset.name} needs {names}, which must be downloaded by hand: {asset.manual.rstrip('.')}",
        hint=f"save it in {folder}/ (or pass it with `lswap weights fetch {asset.name} --from PATH`), then fetch again",
    )


def _place_from(asset: Asset, source: Path, missing: list[AssetFile]) -> list[str]:
    """Copy files the user already has into the cache, verified."""
    folder = asset_folder(asset.name)
    if not source.exists():
        raise InputError(f"{source} does not exist", hint="check the path given to --from")
    if source.is_file() and asset.npm and tarfile.is_tarfile(source):
        npm_files = [file for file in missing if file.source == "npm"]
        unpack_npm_files(source, asset, npm_files)
        return [file.name for file in npm_files]
    if source.is_dir():
        pairs = [(source / file.name, file) for file in missing if (source / file.name).is_file()]
        if not pairs:
            raise InputError(f"{source} holds none of the missing files of {asset.name}: {', '.join(f.name for f in missing)}")
    else:
        by_name = [file for file in missing if file.name == source.name]
        by_hand = [file for file in missing if file.source == "manual"]
        if by_name:
            pairs = [(source, by_name[0])]
        elif len(by_hand) == 1:  # the one file asked for, saved under another name
            pairs = [(source, by_hand[0])]
        elif not missing:
            raise InputError(f"{asset.name} has all its files already", hint=f"delete {folder} to replace them")
        else:
            raise InputError(
                f"{source.name} is not one of the files of {asset.name}: {', '.join(f.name for f in missing)}",
                hint="rename it or pass the folder that holds it",
            )
    for path, file in pairs:
        with _verified_landing(asset, file, folder / file.name) as temp:
            shutil.copyfile(path, temp)
    return [file.name for _, file in pairs]


def _verify_present(asset: Asset, file: AssetFile) -> str:
    """Hash a cached file; raise on a mismatch, record the hash when none is known. Returns the check made."""
    from .legacy_pickle import sha256_of

    path = asset_folder(asset.name) / file.name
    expected, origin = expected_hash(asset, file)
    digest = sha256_of(path)
    if expected is None:
        _record_hash(asset, file, digest)
        return "recorded-now"
    if digest != expected:
        raise DownloadError(
            f"{path} has SHA-256 {digest[:12]}…, not the {origin} {expected[:12]}…",
            hint=f"delete it and run `lswap weights fetch {asset.name}` to get the official file",
        )
    return origin


def run_check(asset: Asset) -> None:
    """Run the asset's content check, if it declares one."""
    if asset.check is None:
        return
    module_name, _, function_name = asset.check.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise DownloadError(f"asset {asset.name!r} names check {asset.check!r}, which cannot be loaded ({exc})") from None
    function(asset_folder(asset.name))


def _convert(asset: Asset) -> tuple[list[Path], list[str]]:
    from .convert import convert, find_converter

    folder = asset_folder(asset.name)
    exports, notes = [], []
    for conversion in asset.conversions:
        output = folder / conversion.output
        if not output.is_file():
            source = folder if conversion.source == "." else folder / conversion.source
            if conversion.converter is None:
                try:
                    find_converter(source)
                except InputError:
                    notes.append(f"{conversion.source} was not converted: no installed converter reads it")
                    continue
            convert(source, output, format=conversion.converter)
        exports.append(output)
    return exports, notes


# -- verifying -----------------------------------------------------------------------------


@dataclasses.dataclass
class FileCheck:
    """The result of checking one cached file: ``status`` is ``published``/``recorded`` (hash matches
    that hash), ``recorded-now`` (first hash recorded), ``missing`` or ``mismatch``; ``detail`` says more."""

    asset: str
    file: str
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status not in ("mismatch", "check failed")


def verify(name: str) -> list[FileCheck]:
    """Check every cached file of an asset against its published or recorded hash, then its content check."""
    asset = get_asset(name)
    folder = asset_folder(asset.name)
    results = []
    for file in asset.files:
        if not (folder / file.name).is_file():
            detail = asset.manual if file.source == "manual" else f"run `lswap weights fetch {asset.name}`"
            results.append(FileCheck(asset.name, file.name, "missing", detail))
            continue
        try:
            origin = _verify_present(asset, file)
        except DownloadError as exc:
            results.append(FileCheck(asset.name, file.name, "mismatch", exc.message))
            continue
        results.append(FileCheck(asset.name, file.name, origin))
    if all(result.status != "missing" for result in results):
        try:
            run_check(asset)
        except LswapError as exc:
            results.append(FileCheck(asset.name, "(content)", "check failed", str(exc)))
    return results


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
