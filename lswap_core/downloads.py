"""Resumable HTTP downloads and npm package tarballs.

Generic helpers for `lswap_core.weights`, which decides where files go and
verifies them.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import shutil
import socket
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import DownloadError
from .version import __version__

_CHUNK = 1 << 20
_TIMEOUT_S = 60


def download_resumable(url: str, part: Path, *, label: str, retry_hint: str) -> Path:
    """Download ``url`` into ``part``, continuing from the bytes already there.

    A partial ``part`` is resumed with an HTTP ``Range`` request; a server
    that ignores the range restarts it, one that has nothing left to send
    (416) leaves it as it is. When the connection drops, the bytes received
    stay in ``part`` and the `DownloadError` says to run again.

    :param label: name shown on the progress bar.
    :param retry_hint: the command that retries (``run `lswap weights fetch NAME` ``), for error messages.
    :returns: ``part``, complete as far as the server's length tells.
    """
    from .progress import progress_bar

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"lswap/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the partial file is complete
            return part
        raise DownloadError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}", hint=f"{retry_hint} again") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}", hint=f"{retry_hint} again") from None
    with response:
        mode = "ab"
        if response.status == 200:  # the server ignored the range: start over
            offset, mode = 0, "wb"
        elif response.status == 206 and not _content_range_starts_at(response, offset):
            raise DownloadError(f"{url} answered a resumed download with the wrong byte range", hint=f"{retry_hint} again")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        with open(part, mode) as handle, progress_bar(total, label, completed=offset) as bar:
            try:
                _copy_stream(response, handle, bar.advance)
            except (OSError, http.client.HTTPException, socket.timeout) as exc:
                handle.flush()
                raise DownloadError(
                    f"download of {label} broke off at {part.stat().st_size} bytes ({type(exc).__name__})",
                    hint=f"{retry_hint} again to resume",
                ) from None
    received = part.stat().st_size
    if total is not None and received < total:
        raise DownloadError(f"download of {label} stopped at {received} of {total} bytes", hint=f"{retry_hint} again to resume")
    return part


def _content_range_starts_at(response: http.client.HTTPResponse, offset: int) -> bool:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return bool(match) and int(match.group(1)) == offset


def _copy_stream(source: IO[bytes], target: IO[bytes], advance: Callable[[int], None]) -> None:
    while block := source.read(_CHUNK):
        target.write(block)
        advance(len(block))


def npm_tarball_url(spec: str) -> str:
    """The registry address of an npm package tarball: ``@scope/name@1.0`` -> ``https://registry.npmjs.org/@scope/name/-/name-1.0.tgz``."""
    package, _, version = spec.rpartition("@")
    if not package or not version:
        raise ValueError(f"npm spec {spec!r} must name a version: name@1.2.3")
    base = package.rsplit("/", 1)[-1]
    return f"https://registry.npmjs.org/{package}/-/{base}-{version}.tgz"


def npm_pack(spec: str, folder: Path, *, fallback_hint: str = "") -> Path:
    """Run ``npm pack SPEC`` in ``folder`` (npm downloads and checks the package) and return the tarball.

    :param fallback_hint: how else to get the package, for error messages.
    """
    npm = shutil.which("npm")
    hint = fallback_hint or f"or download {npm_tarball_url(spec)}"
    if npm is None:
        raise DownloadError(f"fetching {spec} needs npm, which is not installed", hint=f"install Node.js and npm, {hint}")
    try:
        result = subprocess.run([npm, "pack", spec], cwd=folder, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DownloadError(f"`npm pack {spec}` did not run: {exc}", hint=hint) from None
    tarballs = sorted(folder.glob("*.tgz"))
    if result.returncode != 0 or len(tarballs) != 1:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise DownloadError(f"`npm pack {spec}` failed: {lines[-1] if lines else 'no tarball written'}", hint=hint)
    return tarballs[0]


def package_member(archive: tarfile.TarFile, member: str) -> IO[bytes] | None:
    """The regular file ``member`` of an npm package tarball (which keeps it under ``package/``), or ``None``.

    Links and folders are never followed.
    """
    for name in (f"package/{member}", member):
        with contextlib.suppress(KeyError):
            info = archive.getmember(name)
            return archive.extractfile(info) if info.isfile() else None
    return None
