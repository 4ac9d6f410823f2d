"""The folder of a training run, and the metrics it holds."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

from ..checkpoints import ResumeState, load_resume_state
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

    def holds_run(self) -> bool:
        """Whether the folder holds a run worth keeping: a resume state or a finished mixer.

        A run that stopped before saving either (a non-finite loss in its first
        steps, a kill) left nothing to continue, and may be started again.
        """
        return bool(self.resume_states()) or self.export.exists()

    def prepare_new(self, *, overwrite: bool = False) -> None:
        """Make the folder ready for a fresh run.

        A folder holding a run is refused unless ``overwrite``, which deletes
        that run's files; the leftovers of a run that saved nothing are cleared.
        """
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"{self.root} exists and is not a folder", hint="choose another --out")
        if self.holds_run() and not overwrite:
            raise InputError(
                f"{self.root} already holds a training run",
                hint=f"continue it with --resume {self.root}, start it over with --overwrite, or use another --out",
            )
        self.make_writable()
        self.clear()

    def prepare_resume(self) -> None:
        """Check that the folder can be written, and remove what a killed process left half-written."""
        self.make_writable()
        self.remove_temporaries()

    def remove_temporaries(self) -> None:
        """Delete the temporary files of atomic writes that a killed process never renamed into place.

        Only the one process training in this folder writes there, so any left now are orphans.
        """
        for folder in (self.root, self.checkpoints, self.samples):
            for temp in folder.glob(".*.tmp") if folder.is_dir() else ():
                temp.unlink(missing_ok=True)

    def clear(self) -> None:
        """Delete the files of an earlier run (its config, metrics, samples, resume states and mixer)."""
        try:
            for folder in (self.checkpoints, self.samples):
                if folder.is_dir():
                    shutil.rmtree(folder)
            for path in (self.config, self.metrics, self.export):
                path.unlink(missing_ok=True)
            self.remove_temporaries()
        except OSError as exc:
            raise InputError(f"cannot clear {self.root}: {exc.strerror or exc}", hint="choose another --out") from None

    def make_writable(self) -> None:
        """Create the folder (its subfolders come with their first files) and check that files can be written there."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InputError(
                f"cannot write to {self.root}: {exc.strerror or exc}", hint="choose a writable --out folder"
            ) from None

    def newest_readable_state(self) -> tuple[ResumeState, Path, list[tuple[Path, str]]]:
        """The newest resume state that loads, its path, and the newer ones that did not (with why).

        A state cut short by a crash is passed over for the one before it.
        """
        skipped: list[tuple[Path, str]] = []
        for path in reversed(self.resume_states()):
            try:
                return load_resume_state(path), path, skipped
            except CheckpointError as exc:
                skipped.append((path, exc.message))
        if skipped:
            raise CheckpointError(
                f"no resume state in {self.checkpoints} can be read (the newest: {skipped[0][1]})",
                hint=f"start the run again with --out {self.root} --overwrite",
            )
        raise CheckpointError(
            f"{self.root} holds no resume state: its run stopped before saving one",
            hint=f"start it again with --out {self.root}",
        )


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl`` file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def window_mean(records: list[dict[str, Any]], key: str, last: int) -> float:
    """Mean of ``key`` over the last ``last`` training records (a smoothed final value)."""
    values = [r[key] for r in records if r.get("split") == "train" and key in r][-last:]
    return sum(values) / len(values) if values else math.nan
