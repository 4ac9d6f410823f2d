"""Kill training with SIGKILL at random moments, resume it, and compare with an uninterrupted run.

Each run is a tiny ``lswap train`` (the toy components of ``tests/support.py``,
installed as a plugin of a fake distribution, as ``tests/integration/test_torchrun.py``
does: a run takes a few seconds, most of it starting Python) with a resume
state after every step. A run is started, killed after a random delay, then
resumed with ``lswap train --resume DIR`` (and maybe killed again) until it
finishes; its ``mixer.safetensors`` must equal an uninterrupted run's bit for
bit. After every kill every file of the run folder must be whole: each
``checkpoints/step-*.pt`` loads with ``load_resume_state``, ``config.yaml``
loads as a train config, ``metrics.jsonl`` parses line by line (a partly
written last line is corruption), samples and the export load.

A run killed before its first resume state exists has nothing to resume:
it is started again with the same ``--out`` command (a restart), which lswap
must accept. Temporary files a kill leaves are counted; the resumed run must
remove them, so a finished folder holds none.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STEPS = 30
KILL_CONFIG = """\
kind: train
generator: {name: toy}
embedder: {name: toy-embedder}
shape_model: {name: toy-shape}
mixer: {hidden: [16, 16]}
sampling: {noise_mode: const}
optim: {lr: 0.001}
train: {steps: %d, batch_size: 4, log_every: 1, validate_every: 5, sample_every: 10, checkpoint_every: 1,
        keep_checkpoints: 2, validation_pairs: 2, device: cpu}
"""
MAX_LAUNCHES = 12


@dataclasses.dataclass
class KillStats:
    runs: int = 0
    launches: int = 0
    kills: int = 0
    resumes: int = 0
    restarts: int = 0  # runs started again with --out: killed before their first resume state
    identical: int = 0  # finished runs whose mixer equals the uninterrupted run's bit for bit
    identical_metrics: int = 0  # ... and whose metrics.jsonl holds the same losses
    corrupt: list[str] = dataclasses.field(default_factory=list)  # corrupt files found after a kill
    leftover_temp: int = 0  # temporary files (.name.XXXX.tmp) left by a kill (the next launch removes them)
    leftover_examples: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)  # anything else that went wrong

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.failures and self.identical == self.runs


def prepare(folder: Path, steps: int = STEPS) -> tuple[dict[str, str], Path]:
    """A fake installed distribution providing the toy components, and the run config."""
    from tests.support import TOYS_SOURCE

    site = folder / "site"
    info = site / "lswap_stress_toys-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lswap-stress-toys\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[lswap]\ntoys = lswap_stress_toys\n")
    (site / "lswap_stress_toys.py").write_text(TOYS_SOURCE)
    config = folder / "kill.yaml"
    config.write_text(KILL_CONFIG % steps)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "LSWAP_NO_PROGRESS": "1",
        "LSWAP_HOME": str(folder / "home"),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("LSWAP_DEBUG", None)
    return env, config


def start_command(config: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "lswap_core", "train", "--config", str(config), "--out", str(run)]


def resume_command(run: Path) -> list[str]:
    return [sys.executable, "-m", "lswap_core", "train", "--resume", str(run)]


def final_state(run: Path) -> tuple[dict, list]:
    """The export's tensors and the losses of metrics.jsonl (without timings)."""
    from lswap_core.checkpoints import read_export

    tensors = read_export(run / "mixer.safetensors").tensors
    losses = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        losses.append({key: value for key, value in record.items() if key != "pairs_per_s"})
    return tensors, losses


def same_tensors(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def check_folder(run: Path) -> tuple[list[str], list[str]]:
    """Corrupt files of a run folder (after a kill), and the temporary files a kill left behind."""
    from lswap_core.checkpoints import load_resume_state, read_export
    from lswap_core.config import load_config
    from lswap_core.errors import LswapError
    from lswap_core.imaging import load_image

    problems = []
    if not run.exists():
        return problems, []

    def check(path: Path, load: Callable[[Path], object]) -> None:
        try:
            load(path)
        except (LswapError, Exception) as exc:  # noqa: BLE001 - any failure to read it back is corruption here
            problems.append(f"{path.relative_to(run)}: {type(exc).__name__}: {str(exc)[:200]}")

    for state in sorted((run / "checkpoints").glob("step-*.pt")):
        check(state, load_resume_state)
    if (run / "config.yaml").exists():
        check(run / "config.yaml", lambda path: load_config(path, kind="train"))
    if (run / "metrics.jsonl").exists():
        text = (run / "metrics.jsonl").read_text(encoding="utf-8", errors="replace")
        if text and not text.endswith("\n"):
            problems.append(f"metrics.jsonl: partly written last line {text.splitlines()[-1][:80]!r}")
        for number, line in enumerate(text.splitlines(), 1):
            try:
                json.loads(line)
            except ValueError as exc:
                problems.append(f"metrics.jsonl line {number}: {exc}")
    if (run / "mixer.safetensors").exists():
        check(run / "mixer.safetensors", read_export)
    for sample in sorted((run / "samples").glob("*.png")):
        check(sample, load_image)
    leftovers = [str(path.relative_to(run)) for path in run.rglob(".*.tmp")]
    return problems, leftovers


def launch(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=handle, cwd=str(log.parent))


def uninterrupted(config: Path, run: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run to the end; the time it took, and the time until it wrote its config (Python and torch started)."""
    started, wall = time.perf_counter(), time.time()
    process = launch(start_command(config, run), env, run.parent / f"{run.name}.log")
    if process.wait(timeout=600) != 0:
        raise RuntimeError(f"the uninterrupted run failed: {(run.parent / f'{run.name}.log').read_text()[-2000:]}")
    duration = time.perf_counter() - started
    startup = min(max((run / "config.yaml").stat().st_mtime - wall, 0.0), duration)
    return duration, startup


def run_kill_loop(
    runs: int,
    folder: Path,
    *,
    seed: int = 0,
    steps: int = STEPS,
    log: Callable[[str], None] = print,
    keep: bool = False,
    twin: bool = True,
) -> KillStats:
    """``runs`` runs, each killed at least once at a random moment and resumed until done.

    :param twin: first check that two uninterrupted runs are identical (else comparing means nothing).
    """
    folder.mkdir(parents=True, exist_ok=True)
    env, config = prepare(folder, steps)
    stats = KillStats()
    reference_dir, twin_dir = folder / "uninterrupted", folder / "uninterrupted-twin"
    duration, startup = uninterrupted(config, reference_dir, env)
    reference, reference_losses = final_state(reference_dir)
    if twin:
        uninterrupted(config, twin_dir, env)
        if not same_tensors(reference, final_state(twin_dir)[0]):
            stats.failures.append("two uninterrupted runs differ: training is not deterministic, so comparing means nothing")
    log(f"kill: an uninterrupted run of {steps} steps takes {duration:.1f} s ({startup:.1f} s before it writes its "
        f"config); kills land anywhere in that time, two in three of them after the start-up")
    rng = random.Random(seed)
    for number in range(runs):
        run = folder / f"run-{number:03d}"
        stats.runs += 1
        kills_left = rng.randint(1, 3)
        command = start_command(config, run)
        first = True
        finished = False
        for _ in range(MAX_LAUNCHES):
            stats.launches += 1
            log_file = folder / f"run-{number:03d}.log"
            process = launch(command, env, log_file)
            killed = False
            if kills_left and (first or rng.random() < 0.6):
                # Most kills during training (checkpoints, metrics, samples), the rest anywhere.
                delay = rng.uniform(max(startup - 0.1, 0.0), duration) if rng.random() < 2 / 3 else rng.uniform(0.0, duration)
                try:
                    process.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    killed = True
            first = False
            if killed:
                stats.kills += 1
                kills_left -= 1
                problems, leftovers = check_folder(run)
                stats.leftover_temp += len(leftovers)
                stats.leftover_examples.extend(f"{run.name}/{name}" for name in leftovers[:2])
                stats.corrupt.extend(f"{run.name}: {problem}" for problem in problems)
                if sorted((run / "checkpoints").glob("step-*.pt")) if (run / "checkpoints").is_dir() else []:
                    command = resume_command(run)
                    stats.resumes += 1
                else:
                    command = start_command(config, run)
                    stats.restarts += 1
                continue
            try:
                code = process.wait(timeout=600)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                stats.failures.append(f"{run.name}: a launch ran for 10 minutes")
                break
            if code == 0:
                finished = True
                break
            error = log_file.read_text(errors="replace")
            stats.failures.append(f"{run.name}: `{' '.join(command[3:])}` exited {code}: {error.strip()[-1500:]}")
            break
        else:
            stats.failures.append(f"{run.name}: not finished after {MAX_LAUNCHES} launches")
        if finished:
            problems, leftovers = check_folder(run)
            stats.corrupt.extend(f"{run.name} (finished): {problem}" for problem in problems)
            stats.failures.extend(f"{run.name} (finished): temporary file {name} left" for name in leftovers)
            try:
                tensors, losses = final_state(run)
            except Exception as exc:  # noqa: BLE001
                stats.failures.append(f"{run.name}: the finished run cannot be read: {type(exc).__name__}: {exc}")
            else:
                if same_tensors(tensors, reference):
                    stats.identical += 1
                else:
                    stats.failures.append(f"{run.name}: the final mixer differs from the uninterrupted run's")
                if losses == reference_losses:
                    stats.identical_metrics += 1
        if not keep and not any(run.name in item for item in stats.failures + stats.corrupt):
            shutil.rmtree(run, ignore_errors=True)
            (folder / f"run-{number:03d}.log").unlink(missing_ok=True)
        if (number + 1) % 10 == 0 or number + 1 == runs:
            log(f"kill: {number + 1}/{runs} runs, {stats.kills} kills, {stats.resumes} resumes, {stats.restarts} restarts, "
                f"{stats.identical} identical, {len(stats.corrupt)} corrupt files, {len(stats.failures)} failures")
    return stats
