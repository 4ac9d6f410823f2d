"""Stress lswap's loaders and training: ``python -m tests.stress.run [--inputs N] [--kills K] [--only fuzz|kill]``.

- fuzz: the properties of ``tests/fuzz`` (a loader loads an input or raises an
  LswapError, and never runs code from it) on ``--inputs`` inputs per loader
  (100,000 by default), in worker processes (``--jobs``) that the parent
  restarts after a crash or a hang inside C code (both are failures);
- kill: ``--kills`` training runs (100 by default) killed with SIGKILL at
  random moments and resumed until done (``tests/stress/kill.py``).

Prints the counts and exits 1 if anything failed. Failing inputs are kept under ``OUT/failures/<loader>/<i>/``;
``--replay LOADER:I`` makes input I again and shows its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .fuzz_worker import COUNT_FIELDS, read_status, save_failure

REPO = Path(__file__).resolve().parents[2]
HANG_SECONDS = 30.0  # an input still running after this long is a hang (raised inside Python code)
WATCHDOG_SECONDS = 120.0  # ... and after this long the worker is killed (a hang inside C code)


@dataclasses.dataclass
class Segment:
    """A worker process running inputs ``start .. end - 1`` of one loader."""

    target: str
    start: int
    end: int
    process: subprocess.Popen
    status: Path


@dataclasses.dataclass
class TargetResult:
    target: str
    counts: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))
    crashes: int = 0  # workers that died or were killed by the watchdog (each counted as one failure)
    seconds: float = 0.0


def limit_memory(megabytes: int) -> None:
    """Cap a worker's address space: a file that asks for 50 GB gets a MemoryError, not the OOM killer."""
    limit = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_fuzz(targets: list[str], inputs: int, out: Path, *, jobs: int, seed: str, memory_mb: int, log) -> dict[str, TargetResult]:
    work = shm_folder("lswap-stress-inputs-")
    results = {target: TargetResult(target) for target in targets}
    pending = [(target, 0) for target in targets]  # (target, next input)
    running: list[Segment] = []
    started_at = {target: 0.0 for target in targets}
    last_log = time.time()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                target, start = pending.pop(0)
                if start == 0:
                    started_at[target] = time.time()
                running.append(start_worker(target, start, inputs, work, out, seed, memory_mb))
            time.sleep(0.5)
            for segment in list(running):
                code = segment.process.poll()
                status = read_status(segment.status)
                result = results[segment.target]
                if code is None:
                    if status and time.time() - status[1] > WATCHDOG_SECONDS and status[1] > 0:
                        segment.process.kill()
                        segment.process.wait()
                        code = "watchdog"
                    else:
                        continue
                running.remove(segment)
                counts = status[2] if status else dict.fromkeys(COUNT_FIELDS, 0)
                for field in COUNT_FIELDS:
                    result.counts[field] += counts[field]
                if code == 0:
                    result.seconds = time.time() - started_at[segment.target]
                    log(f"fuzz: {segment.target} done: {format_counts(result)} in {result.seconds:.0f} s")
                    continue
                index = status[0] if status else segment.start
                what = ("Hang: killed by the watchdog after " f"{WATCHDOG_SECONDS:.0f} s" if code == "watchdog"
                        else f"Crash: the worker exited with {code}")
                record_crash(out, work, segment.target, index, what, seed)
                result.counts["inputs"] += 1
                result.counts["failures"] += 1
                result.crashes += 1
                log(f"fuzz: {segment.target} input {index}: {what}; going on after it")
                if index + 1 < inputs:
                    pending.insert(0, (segment.target, index + 1))
                else:
                    result.seconds = time.time() - started_at[segment.target]
            if time.time() - last_log > 60:
                last_log = time.time()
                progress = []
                for segment in running:
                    status = read_status(segment.status)
                    if status:
                        progress.append(f"{segment.target} {status[0]}/{inputs}")
                log("fuzz: running " + ", ".join(progress))
    finally:
        for segment in running:
            segment.process.kill()
        shutil.rmtree(work, ignore_errors=True)
    return results


def start_worker(target: str, start: int, inputs: int, work: Path, out: Path, seed: str, memory_mb: int) -> Segment:
    status = work / f"{target}-{start}.status"
    folder = work / f"{target}-{start}"
    command = [
        sys.executable, "-m", "tests.stress.fuzz_worker", "--target", target, "--start", str(start),
        "--count", str(inputs - start), "--seed", seed, "--folder", str(folder), "--status", str(status),
        "--failures", str(out / "failures"), "--timeout", str(HANG_SECONDS),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "OMP_NUM_THREADS": "1", "LSWAP_HOME": str(work / "home")}
    log_file = open(out / f"worker-{target}-{start}.log", "wb")  # noqa: SIM115 - open while the worker runs
    cap = (lambda: limit_memory(memory_mb)) if memory_mb else None
    process = subprocess.Popen(command, env=env, cwd=str(REPO), stdout=log_file, stderr=subprocess.STDOUT,
                               preexec_fn=cap)  # noqa: PLW1509 - the parent starts no threads
    return Segment(target, start, inputs, process, status)


def record_crash(out: Path, work: Path, target: str, index: int, what: str, seed: str) -> None:
    """Keep the input a worker died on (its files are still in the worker's folder)."""
    files: dict[str, bytes] = {}
    for folder in work.glob(f"{target}-*/in-{index}"):
        files = {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    save_failure(out / "failures", target, index, "(see files)", files,
                 {"error": what, "signature": what.split(":")[0], "trace": f"replay: --replay {target}:{index} --seed {seed}"})


def shm_folder(prefix: str) -> Path:
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))


def format_counts(result: TargetResult) -> str:
    c = result.counts
    return f"{c['inputs']} inputs, {c['loaded']} loaded, {c['refused']} refused, {c['failures']} failures"


def failure_summary(out: Path) -> dict[str, dict[str, list]]:
    """target -> signature -> [count, example index, example error]."""
    summary: dict[str, dict[str, list]] = {}
    root = out / "failures"
    if not root.is_dir():
        return summary
    for record_file in root.glob("*/*/failure.json"):
        record = json.loads(record_file.read_text())
        entry = summary.setdefault(record["target"], {}).setdefault(record["signature"], [0, record["index"], record["error"]])
        entry[0] += 1
    for more in root.glob("*-more.jsonl"):
        target = more.name[: -len("-more.jsonl")]
        for line in more.read_text().splitlines():
            record = json.loads(line)
            entry = summary.setdefault(target, {}).setdefault(record["signature"], [0, record["index"], record["error"]])
            entry[0] += 1
    return summary


def print_report(fuzz: dict[str, TargetResult] | None, kill, out: Path, elapsed: float) -> bool:
    """Print the counts; whether anything failed."""
    failed = False
    if fuzz is not None:
        print()
        print(f"{'loader':<12} {'inputs':>9} {'loaded':>9} {'refused':>9} {'failures':>9}  seconds")
        for result in fuzz.values():
            c = result.counts
            print(f"{result.target:<12} {c['inputs']:>9} {c['loaded']:>9} {c['refused']:>9} {c['failures']:>9}  {result.seconds:>7.0f}")
            failed |= c["failures"] > 0
        total = {field: sum(r.counts[field] for r in fuzz.values()) for field in COUNT_FIELDS}
        print(f"{'total':<12} {total['inputs']:>9} {total['loaded']:>9} {total['refused']:>9} {total['failures']:>9}")
        summary = failure_summary(out)
        if summary:
            print("\nfailures (loader: count × kind; an example input):")
            for target, kinds in summary.items():
                for signature, (count, index, error) in sorted(kinds.items(), key=lambda item: -item[1][0]):
                    print(f"  {target}: {count} × {signature}; e.g. input {index}: {error.splitlines()[0][:160]}")
            print(f"  inputs kept under {out / 'failures'}")
    if kill is not None:
        print()
        print(f"kill: runs {kill.runs}, launches {kill.launches}, kills {kill.kills}, resumes {kill.resumes}, "
              f"restarts {kill.restarts}, "
              f"identical finals {kill.identical}/{kill.runs} (identical metrics {kill.identical_metrics}/{kill.runs}), "
              f"corrupt files {len(kill.corrupt)}, leftover temporary files {kill.leftover_temp}, failures {len(kill.failures)}")
        if kill.leftover_examples:
            print(f"  temporary files left by kills (removed by the next launch): {', '.join(kill.leftover_examples[:6])}")
        for problem in kill.corrupt[:20]:
            print(f"  corrupt: {problem}")
        for problem in kill.failures[:20]:
            print(f"  failure: {problem}")
        failed |= not kill.ok
    print(f"\ntook {elapsed:.0f} s; output in {out}")
    return failed


def replay(spec: str, seed: str) -> int:
    """Make input ``LOADER:I`` again, run it and show what happens."""
    import random
    import traceback

    from tests.fuzz.mutations import RandomSource
    from tests.fuzz.targets import TARGETS, Harness

    target, _, index = spec.partition(":")
    harness = Harness(shm_folder("lswap-replay-"))
    src = RandomSource(random.Random(f"{seed}:{target}:{int(index)}"))
    seed_file, files = harness.make_input(src, target)
    folder = harness.folder / "input"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    print(f"input {spec}: a mutation of {seed_file.name}, in {folder}")
    for call in TARGETS[target].calls(folder / seed_file.main, seed_file, folder):
        try:
            call()
            print("loaded")
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stress.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per loader (default 100000)")
    parser.add_argument("--kills", type=int, default=100, help="training runs to kill and resume (default 100)")
    parser.add_argument("--only", choices=("fuzz", "kill"), help="run one part only")
    parser.add_argument("--loaders", help="comma-separated loaders (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="fuzzing worker processes at a time (default 2)")
    parser.add_argument("--seed", default="0", help="seed of the inputs and kill times (default 0)")
    parser.add_argument("--memory-mb", type=int, default=4096, help="address-space cap of a fuzzing worker (0: none)")
    parser.add_argument("--out", type=Path, help="where to keep failing inputs and logs (default: a new folder in /tmp)")
    parser.add_argument("--replay", metavar="LOADER:I", help="make one input again and run it")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.seed)

    from tests.fuzz.targets import TARGETS

    targets = args.loaders.split(",") if args.loaders else list(TARGETS)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown loaders {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    out = args.out or Path(tempfile.mkdtemp(prefix="lswap-stress-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    def log(message: str) -> None:
        print(f"[{time.time() - started:6.0f} s] {message}", flush=True)

    fuzz = kill = None
    if args.only in (None, "fuzz"):
        log(f"fuzz: {args.inputs} inputs for each of {len(targets)} loaders, {args.jobs} at a time")
        fuzz = run_fuzz(targets, args.inputs, out, jobs=args.jobs, seed=args.seed, memory_mb=args.memory_mb, log=log)
    if args.only in (None, "kill"):
        from .kill import run_kill_loop

        log(f"kill: {args.kills} runs")
        work = shm_folder("lswap-stress-kill-")
        try:
            kill = run_kill_loop(args.kills, work, seed=int(args.seed) if args.seed.isdigit() else 0, log=log)
        finally:
            kept = [p for p in work.iterdir() if p.name.startswith("run-")]
            if kept:
                shutil.copytree(work, out / "kill", ignore=shutil.ignore_patterns("site", "uninterrupted*"), dirs_exist_ok=True)
            shutil.rmtree(work, ignore_errors=True)
    return 1 if print_report(fuzz, kill, out, time.time() - started) else 0


if __name__ == "__main__":
    sys.exit(main())
