"""One fuzzing worker: inputs ``start .. start + count - 1`` of one target (``tests.stress.run`` starts it).

Input ``i`` of target ``T`` is drawn from ``random.Random(f"{seed}:{T}:{i}")``, so
any input can be made again (``run.py --replay T:i``) and a worker that died
is restarted after the input that killed it. Before each input the worker
writes its index, the time and its counts into a small status file that the
parent watches (a hang inside C code, a crash); each failure is saved with
its files and traceback under ``failures/<target>/<i>/``.
"""

from __future__ import annotations

import argparse
import json
import mmap
import random
import struct
import sys
import time
import warnings
from pathlib import Path

STATUS = struct.Struct("<qdqqqq")  # index, started at, inputs, loaded, refused, failures
COUNT_FIELDS = ("inputs", "loaded", "refused", "failures")
SAVED_PER_SIGNATURE = 5  # failing inputs kept per kind of failure (the rest are listed in <target>-more.jsonl)


def read_status(path: Path) -> tuple[int, float, dict[str, int]] | None:
    try:
        data = path.read_bytes()[: STATUS.size]
    except OSError:
        return None
    if len(data) < STATUS.size:
        return None
    index, started, *counts = STATUS.unpack(data)
    return index, started, dict(zip(COUNT_FIELDS, counts))


def save_failure(folder: Path, target: str, index: int, seed_name: str, files: dict[str, bytes], record: dict) -> None:
    where = folder / target / str(index)
    (where / "files").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (where / "files" / name).parent.mkdir(parents=True, exist_ok=True)
        (where / "files" / name).write_bytes(data)
    (where / "failure.json").write_text(json.dumps({"target": target, "index": index, "seed": seed_name, **record}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--failures", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    warnings.simplefilter("ignore")  # mutated files make torch, PIL and zipfile warn on every other input
    from tests.fuzz.mutations import RandomSource
    from tests.fuzz.targets import Harness

    args.failures.mkdir(parents=True, exist_ok=True)
    harness = Harness(args.folder)
    harness.seeds(args.target)
    hooks: list[str] = []  # errors CPython prints instead of raising (a bytearray freed while exported...)
    sys.excepthook = lambda kind, value, tb: hooks.append(f"{kind.__name__}: {value}")
    sys.unraisablehook = lambda unraisable: hooks.append(f"{type(unraisable.exc_value).__name__}: {unraisable.exc_value}")

    args.status.write_bytes(b"\0" * STATUS.size)
    with open(args.status, "r+b") as handle:
        status = mmap.mmap(handle.fileno(), STATUS.size)
    counts = dict.fromkeys(COUNT_FIELDS, 0)
    saved: dict[str, int] = {}
    for index in range(args.start, args.start + args.count):
        status[:] = STATUS.pack(index, time.time(), *counts.values())
        src = RandomSource(random.Random(f"{args.seed}:{args.target}:{index}"))
        seed, files = harness.make_input(src, args.target)
        outcome = harness.check(args.target, seed, files, args.folder / f"in-{index}", timeout=args.timeout)
        printed = [hook for hook in hooks if not hook.startswith("Hang:")]  # an alarm lost in a finalizer: re-raised
        hooks.clear()
        if printed:
            from tests.fuzz.targets import Outcome

            outcome = Outcome("failure", f"PrintedError: {printed[0]}", outcome.trace)
        counts["inputs"] += 1
        if outcome.kind == "failure":
            counts["failures"] += 1
            record = {"error": outcome.error[:2000], "signature": outcome.signature, "trace": outcome.trace[-6000:]}
            saved[outcome.signature] = saved.get(outcome.signature, 0) + 1
            if saved[outcome.signature] <= SAVED_PER_SIGNATURE:
                save_failure(args.failures, args.target, index, seed.name, files, record)
            else:  # counted, not kept: one line per failure
                with open(args.failures / f"{args.target}-more.jsonl", "a") as more:
                    more.write(json.dumps({"index": index, "seed": seed.name, "signature": outcome.signature,
                                           "error": outcome.error[:300]}) + "\n")
        else:
            counts[outcome.kind] += 1
    status[:] = STATUS.pack(args.start + args.count, time.time(), *counts.values())
    status.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
