"""The folder of a training run, and the metrics it holds."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, InputError


@dataclasses.dataclass
class RunFolder:
    """Layout of a training run's output folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def export(self) -> Path:
        return self.root / "mixer.safetensors"

    def resume_states(self) -> list[Path]:
        """Saved resume states, oldest first."""
        return sorted(self.checkpoints.glob("step-*.pt"))

    def prepare_new(self) -> None:
        """Create the folder for a fresh run; refuse one that holds a run already."""
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"{self.root} exists and is not a folder", hint="choose another --out")
        if self.root.is_dir() and (self.config.exists() or self.resume_states()):
            raise InputError(
                f"{self.root} already holds a training run", hint=f"continue it with --resume {self.root}, or use another --out"
            )
        self.make_writable()

    def make_writable(self) -> None:
        """Create the folder and its subfolders and check that files can be written there."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(exist_ok=True)
            self.samples.mkdir(exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InputError(
                f"cannot write to {self.root}: {exc.strerror or exc}", hint="choose a writable --out folder"
            ) from None

    def latest_state(self) -> Path:
        """The newest resume state (reads the folder only)."""
        states = self.resume_states()
        if not states:
            raise CheckpointError(f"{self.checkpoints} holds no resume state", hint="start a new run with --out")
        return states[-1]


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl`` file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def window_mean(records: list[dict[str, Any]], key: str, last: int) -> float:
    """Mean of ``key`` over the last ``last`` training records (a smoothed final value)."""
    values = [r[key] for r in records if r.get("split") == "train" and key in r][-last:]
    return sum(values) / len(values) if values else math.nan
