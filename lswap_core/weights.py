"""Fetching and verifying pretrained assets (``lswap weights fetch|verify``).

``fetch`` downloads an asset's files (resuming interrupted downloads with
HTTP ranges), or unpacks them from an npm package, or, for files behind a
sign-up or a Google Drive page, says where to get them and where to put
them; it verifies every file, then converts official checkpoints into lswap
exports so that ``load_embedder("smoothswap", weights="smoothswap")`` finds
a ready export by asset name. The declarations and the cache layout are
`lswap_core.assets`.

A file lands under its final name only once complete and verified: a hash
mismatch is refused and nothing is cached. Importing this module does not
import torch; fetching and verifying do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .assets import RECORD_FILE, Asset, AssetFile, asset_folder, asset_state, expected_hash, get_asset, home
from .downloads import download_resumable, npm_pack, npm_tarball_url, package_member
from .errors import DownloadError, InputError, LswapError
from .files import atomic_path, atomic_write_text, sha256_of

_CHUNK = 1 << 20


# -- landing files -------------------------------------------------------------------------


def _record_hash(asset: Asset, file: AssetFile, digest: str) -> None:
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


@contextlib.contextmanager
def _verified_landing(asset: Asset, file: AssetFile, destination: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``file`` to; it replaces ``destination`` only if its hash checks out.

    A file without a known hash gets its hash recorded.
    """
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


