"""Codes and attribute scores of generated faces, for fitting InterFaceGAN boundaries; resumable.

The codes are W (row 0 of the mapping, untruncated: what the official
boundaries are trained on) of ``z = RandomState(seed).randn(samples, z_dim)``.
Each chunk of faces is rendered with constant noise, scored, and appended to
a partial file beside the output, so a stopped run goes on where it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .face_attributes import score_faces
from .files import atomic_path
from .interfaces import FaceAnalyzer, Generator


def partial_path(out: Path) -> Path:
    return out.with_name(out.stem + ".partial.npz")


def sample_and_score(
    generator: Generator,
    analyzer: FaceAnalyzer,
    attribute: str,
    *,
    samples: int,
    seed: int,
    chunk: int,
    partial: Path,
    plan: dict[str, object],
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(samples, w_dim)`` float32 W codes and ``(samples,)`` scores (NaN: no face found).

    :param plan: what the partial file must match to be continued (generator hash, attribute...).
    """
    z_all = np.random.RandomState(seed).randn(samples, generator.z_dim)
    codes, scores = _resume(partial, plan)
    done = sum(len(part) for part in scores)
    if progress is not None and done:
        progress(done)
    while done < samples:
        z = torch.from_numpy(z_all[done : done + chunk]).to(generator.device, torch.float32)
        with torch.no_grad():
            ws = generator.mapping(z)
            images = generator.synthesis(ws, noise_mode="const").clamp(-1, 1)
        codes.append(ws[:, 0].cpu().numpy().astype(np.float32))
        scores.append(score_faces(analyzer, images, attribute).numpy())
        done += len(z)
        _save(partial, plan, codes, scores)
        if progress is not None:
            progress(len(z))
    return np.concatenate(codes)[:samples], np.concatenate(scores)[:samples]


def _resume(partial: Path, plan: dict[str, object]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if not partial.exists():
        return [], []
    try:
        with np.load(partial, allow_pickle=False) as data:
            saved_plan = json.loads(str(data["plan"]))
            codes, scores = data["codes"], data["scores"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{partial} is not a readable partial fit ({exc})", hint="delete it to start again") from None
    if saved_plan != json.loads(json.dumps(plan, sort_keys=True)):
        raise InputError(f"{partial} was started with other settings", hint="pass --overwrite to start again, or the same options")
    return [codes], [scores]


def _save(partial: Path, plan: dict[str, object], codes: list[np.ndarray], scores: list[np.ndarray]) -> None:
    with atomic_path(partial) as temp, open(temp, "wb") as handle:
        np.savez(handle, plan=np.array(json.dumps(plan, sort_keys=True)), codes=np.concatenate(codes), scores=np.concatenate(scores))
