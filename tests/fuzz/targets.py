"""The loaders under test, their seeds, and the property every input must meet.

The property: whatever bytes a loader is given, it either loads them or
raises an `LswapError` (one red line for the user); any other exception is a
bug, and so is code from the file running (the marker file appearing, or the
canary module being imported). `check` runs one input and says which of the
three happened; the tests in this package and ``tests/stress/run.py`` both
use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from lswap_core.errors import LswapError

from . import corpus
from . import mutations as mut
from .corpus import Seed

CANARY_MODULE = "lswap_fuzz_canary"


@dataclasses.dataclass
class Target:
    """A loader (or a family of loader calls) with its seeds.

    :param calls: ``calls(path, seed, folder)`` -> the loader calls for one input, first the
        one whose success counts as "loaded".
    """

    name: str
    description: str
    build_seeds: Callable[[str], list[Seed]]
    calls: Callable[[Path, Seed, Path], list[Callable[[], object]]]


@dataclasses.dataclass
class Outcome:
    kind: str  # "loaded", "refused" (LswapError) or "failure"
    error: str = ""  # the exception type and message (refusals and failures)
    trace: str = ""  # the traceback of a failure

    @property
    def signature(self) -> str:
        """Where a failure comes from: its exception type and the innermost lswap frame."""
        return self.error.split(":", 1)[0] + (f" at {self.trace_location}" if self.trace_location else "")

    @property
    def trace_location(self) -> str:
        lines = [line.strip() for line in self.trace.splitlines() if line.strip().startswith("File ")]
        ours = [line for line in lines if "/lswap_core/" in line or "/plugins/" in line]
        return (ours or lines or [""])[-1]


# -- the loader calls ------------------------------------------------------------------------------


def _export_calls(path: Path, seed: Seed, folder: Path) -> list[Callable[[], object]]:
    from lswap_core.checkpoints import read_export, read_export_metadata

    return [lambda: read_export(path), lambda: read_export_metadata(path)]


def _resume_calls(path: Path, seed: Seed, folder: Path) -> list[Callable[[], object]]:
    from lswap_core.checkpoints import load_resume_state

    return [lambda: load_resume_state(path)]


def _pickle_calls(path: Path, seed: Seed, folder: Path) -> list[Callable[[], object]]:
    from lswap_core.legacy_pickle import load_checkpoint, peek_checkpoint

    return [lambda: load_checkpoint(path), lambda: peek_checkpoint(path)]


def _convert_calls(path: Path, seed: Seed, folder: Path) -> list[Callable[[], object]]:
    """``lswap convert`` with the seed's converter named (reaches the converter whatever the sniffers
    say), then converter discovery: every installed converter sniffs the file."""
    from lswap_core.convert import convert, find_converter

    out = folder / "out.safetensors"
    fmt = seed.options.get("format")
    return [lambda: convert(path, out, format=fmt), lambda: find_converter(path)]


def _file_head_calls(path: Path, seed: Seed, folder: Path) -> list[Callable[[], object]]:
    from lswap_core.official_files import file_head

    def sniff() -> object:
        head = file_head(path)
        head.contains(b"g_ema")
        for key in (None, "state_dict", "net_recon"):
            head.state_dict(key)
        if head.peek() is None:
            raise LswapError("not a readable torch.save file")  # counts as refused: file_head itself never raises
        return head

    from lswap_core.convert import find_converter

    return [sniff, lambda: find_converter(path)]


def _image_calls(path: Path, seed: Seed, folder: Path) -> list[Callable[[], object]]:
    from lswap_core.imaging import load_image

    return [lambda: load_image(path)]


def _config_calls(path: Path, seed: Seed, folder: Path) -> list[Callable[[], object]]:
    from lswap_core.config import load_config

    overrides_file = folder / "overrides"
    overrides = overrides_file.read_text("utf-8", "replace").splitlines() if overrides_file.exists() else []
    return [lambda: load_config(path, overrides, kind="train"), lambda: load_config(path)]


# -- targets ---------------------------------------------------------------------------------------


def _with_overrides(seeds: list[Seed]) -> list[Seed]:
    for seed in seeds:
        seed.files["overrides"] = b""
        seed.mutators["overrides"] = (override_edit,)
    return seeds


OVERRIDE_KEYS = ("train.steps", "train.lr", "optim.lr", "optim.betas", "mixer.hidden", "mixer.space", "generator.name",
                 "generator.options.a", "sampling.truncation_psi", "train", "kind", "a..b", ".x", "x.", "=", "train.steps.x")


def override_edit(src: mut.Source, data: bytes) -> bytes:
    """Add or replace a ``--set key.path=value`` line."""
    lines = data.decode("utf-8", "replace").splitlines()
    line = f"{src.choice(OVERRIDE_KEYS)}={src.choice(mut.YAML_SNIPPETS)}" if src.chance(90) else src.choice(("", "=", "novalue"))
    if lines and src.chance(30):
        lines[src.integer(0, len(lines) - 1)] = line
    else:
        lines.append(line)
    return "\n".join(lines[:8]).encode("utf-8", "surrogatepass")


def _file_head_seeds(marker: str) -> list[Seed]:
    """Every other target's single-file seeds, under suffixes that change what the sniffers read."""
    seeds: list[Seed] = []
    for name in ("pickle", "nvlabs", "rosinality", "lightning", "state-dict", "export", "image"):
        for seed in TARGETS[name].build_seeds(marker):
            if len(seed.files) != 1:
                continue
            (file,) = seed.files
            for suffix in (Path(file).suffix, ".pt", ".pkl", ".json"):
                renamed = f"in{suffix}"
                seeds.append(Seed(f"{seed.name}{suffix}", {renamed: seed.files[file]}, renamed,
                                  {renamed: seed.mutators[file] or mut.PICKLE}, seed.options))
    return seeds


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("export", "safetensors exports: read_export, read_export_metadata", lambda m: corpus.export_seeds(), _export_calls),
        Target("resume", "resume states: load_resume_state", lambda m: corpus.resume_seeds(m), _resume_calls),
        Target(
            "pickle",
            "legacy_pickle.load_checkpoint / peek_checkpoint (NVlabs, rosinality, Lightning, plain, hostile pickles)",
            lambda m: corpus.plain_pickle_seeds() + corpus.nvlabs_seeds() + corpus.rosinality_seeds()
            + corpus.lightning_seeds() + corpus.hostile_seeds(m),
            _pickle_calls,
        ),
        Target("nvlabs", "convert: NVlabs network pickles", lambda m: corpus.nvlabs_seeds() + corpus.hostile_seeds(m, ".pkl")[:20], _convert_calls),
        Target("rosinality", "convert: rosinality checkpoints (zip and legacy torch.save)", lambda m: corpus.rosinality_seeds(), _convert_calls),
        Target("lightning", "convert: PyTorch Lightning checkpoints (latentswap, smoothswap)",
               lambda m: corpus.lightning_seeds() + [s for s in corpus.hostile_seeds(m, ".ckpt") if "lightning" in s.name], _convert_calls),
        Target("state-dict", "convert: state dicts (arcface iresnet, deep3dface)", lambda m: corpus.state_dict_seeds(), _convert_calls),
        Target("faceapi", "convert: face-api TF.js weight manifests and model folders", lambda m: corpus.faceapi_seeds(), _convert_calls),
        Target("image", "imaging.load_image", lambda m: corpus.image_seeds(), _image_calls),
        Target("config", "config.load_config (YAML and --set overrides)", lambda m: _with_overrides(corpus.config_seeds()), _config_calls),
        Target("file-head", "official_files.file_head and every converter's sniff", _file_head_seeds, _file_head_calls),
    )
}


# -- running one input -----------------------------------------------------------------------------


class Harness:
    """Seeds of the targets, a folder for inputs, the marker file and the canary module.

    The canary module (importable while the harness lives) creates the
    marker when imported or called, so a loader that imports what a file
    names is caught as surely as one that calls ``os.system``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.marker = folder / "CODE-WAS-EXECUTED"
        mut.set_marker(str(self.marker))
        canary_dir = folder / "canary"
        canary_dir.mkdir(exist_ok=True)
        (canary_dir / f"{CANARY_MODULE}.py").write_text(
            f"open({str(self.marker)!r}, 'w').write('imported')\n\n"
            f"def run(*args, **kwargs):\n    open({str(self.marker)!r}, 'w').write('called')\n"
        )
        if str(canary_dir) not in sys.path:
            sys.path.append(str(canary_dir))
        self._seeds: dict[str, list[Seed]] = {}
        self._counter = 0

    def seeds(self, target: str) -> list[Seed]:
        if target not in self._seeds:
            self._seeds[target] = corpus.with_marker(TARGETS[target].build_seeds(str(self.marker)), str(self.marker))
        return self._seeds[target]

    def make_input(self, src: mut.Source, target: str) -> tuple[Seed, dict[str, bytes]]:
        """A seed of ``target`` and its files, one of them mutated (or left valid, now and then)."""
        seeds = self.seeds(target)
        hostile = [seed for seed in seeds if seed.name.startswith("hostile")]
        plain = [seed for seed in seeds if not seed.name.startswith("hostile")] or hostile
        pool = hostile if hostile and src.chance(25) else plain
        seed = pool[src.integer(0, len(pool) - 1)]
        files = dict(seed.files)
        mutable = list(seed.mutators)
        if src.chance(97):
            name = seed.main if seed.main in files and src.chance(70) else src.choice(mutable)
            others = [s.files[s.main] for s in seeds if s.main in s.files and s is not seed][:8]
            files[name] = mut.mutate(src, files[name], seed.mutators.get(name, ()), others=others)
        return seed, files

    def check(
        self, target: str, seed: Seed, files: dict[str, bytes], folder: Path | None = None, *, timeout: float | None = None
    ) -> Outcome:
        """Write the input's files into a fresh folder, run the loader calls, and classify."""
        if folder is None:
            self._counter += 1
            folder = self.folder / f"in-{os.getpid()}-{self._counter}"
        folder.mkdir(parents=True)
        try:
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            return run_calls(TARGETS[target].calls(folder / seed.main, seed, folder), self.marker, timeout)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class Hang(BaseException):
    """An input took longer than the time limit (a BaseException: loaders must not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `Hang` in the main thread after ``seconds`` (Python code only; the stress script's
    watchdog catches hangs inside C code)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    # Again every half second: an exception raised while a finalizer runs (the garbage collector
    # at work) is printed and dropped, so one alarm alone may be lost.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_calls(calls: list[Callable[[], object]], marker: Path, timeout: float | None = None) -> Outcome:
    outcome: Outcome | None = None
    for call in calls:
        try:
            with time_limit(timeout):
                call()
            result = Outcome("loaded")
        except Hang as exc:
            return _with_marker_check(Outcome("failure", f"Hang: {exc}", traceback.format_exc()[-3000:]), marker)
        except LswapError as exc:
            result = Outcome("refused", f"{type(exc).__name__}: {exc}")
        except RecursionError as exc:  # the traceback of a RecursionError is a thousand frames
            trace = "".join(traceback.format_exception(exc)[-12:])
            return _with_marker_check(Outcome("failure", f"{type(exc).__name__}: {exc}", trace), marker)
        except Exception as exc:  # noqa: BLE001 - any other exception is what the property forbids
            return _with_marker_check(Outcome("failure", f"{type(exc).__name__}: {exc}", traceback.format_exc()), marker)
        outcome = outcome or result
    assert outcome is not None
    return _with_marker_check(outcome, marker)


def _with_marker_check(outcome: Outcome, marker: Path) -> Outcome:
    executed = marker.exists() or CANARY_MODULE in sys.modules
    if executed:
        content = marker.read_text() if marker.exists() else "imported"
        marker.unlink(missing_ok=True)
        sys.modules.pop(CANARY_MODULE, None)
        return Outcome("failure", f"CodeExecuted: the input ran code ({content})", outcome.trace)
    return outcome
