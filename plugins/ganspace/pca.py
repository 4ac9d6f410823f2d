"""PCA of a generator's W, as GANSpace computes it (harskish/ganspace ``decomposition.py``, ``--use_w``, layer ``style``).

Sampling, as the official code: the global NumPy generator is seeded with
``seed or 1`` (SEED_SAMPLING); each block of ``block`` codes (the official
``-b``) draws a seed ``s`` from it and takes z = ``RandomState(s)
.standard_normal(block·z_dim)`` as float32; w = mapping(z) without
truncation. The official code pre-samples ((N + NB − 1)//block + 1)·block
codes, N = n//block·block, then fits ``IncrementalPCA`` on chunks of
NB = max(block, 2000, 3K) codes starting at 0, NB, 2·NB… < N (the last chunk
may reach past N). The samples depend on ``block`` only: ``batch`` is how
many codes go through the mapping at once.

Outputs, with the official npz field names (float32): ``act_*`` and
``lat_*`` are the same PCA (on W the "activations" are the latents);
``lat_stdev`` is the std of ⟨comp, w⟩ over 5000 fresh codes (the next seed
of the sampling generator); ``random_stdevs`` the std along K random unit
directions (RandomState(2)) of the first ≤ 5000 centred codes of the last
chunk. The fit runs in float64 (scikit-learn keeps float32 for the first
chunk); the result differs from it only by rounding.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lswap_core.errors import InputError
from lswap_core.files import atomic_path
from lswap_core.interfaces import Generator

from .ipca import IncrementalPCA

SEED_SAMPLING = 1  # decomposition.py: used when no seed (or seed 0) is given
SEED_RANDOM_DIRS = 2
OFFICIAL_BLOCK = 10_000  # the README's -b=10_000 for StyleGAN2 FFHQ
MIN_CHUNK = 2_000  # NB = max(B, max(2000, 3·c))
STDEV_SAMPLES = 5_000  # fresh codes for lat_stdev; codes for random_stdevs
FIELDS = ("act_comp", "act_mean", "act_stdev", "lat_comp", "lat_mean", "lat_stdev", "var_ratio", "random_stdevs")
STATE_VERSION = 1
Progress = Callable[[int, int], None]


@dataclasses.dataclass
class SamplingPlan:
    """Which codes a fit of ``n`` samples and ``components`` components uses."""

    n: int
    components: int
    seed: int
    block: int

    @property
    def fitted(self) -> int:
        """N: ``n`` rounded down to whole blocks."""
        return self.n // self.block * self.block

    @property
    def chunk(self) -> int:
        """NB: codes per partial fit."""
        return max(self.block, MIN_CHUNK, 3 * self.components)

    @property
    def chunk_starts(self) -> list[int]:
        return list(range(0, self.fitted, self.chunk))

    @property
    def seen(self) -> int:
        """Codes the IPCA sees: whole chunks, so up to NB − 1 beyond N."""
        return len(self.chunk_starts) * self.chunk

    @property
    def num_blocks(self) -> int:
        return (self.fitted + self.chunk - 1) // self.block + 1

    def block_seeds(self) -> list[int]:
        """Seeds of the blocks, then the seed of the lat_stdev sample (the next draw)."""
        rng = np.random.RandomState(self.seed or SEED_SAMPLING)
        return [int(rng.randint(np.iinfo(np.int32).max)) for _ in range(self.num_blocks + 1)]


def check_plan(n: int, components: int, seed: int, block: int, w_dim: int) -> SamplingPlan:
    """The plan, or an `InputError` for settings the official code cannot run."""
    if block < 1:
        raise InputError(f"block must be positive, got {block}")
    if seed < 0:
        raise InputError(f"seed must be non-negative, got {seed}")
    if not 1 <= components <= w_dim:
        raise InputError(f"components must be between 1 and the generator's w_dim {w_dim}, got {components}")
    plan = SamplingPlan(n, components, seed, block)
    if plan.fitted < 1:
        raise InputError(f"{n} samples are fewer than one block of {block}", hint=f"pass at least {block} samples")
    return plan


def z_block(seed: int, block: int, z_dim: int) -> np.ndarray:
    """One block of z as the official ``sample_latent``: ``(block, z_dim)`` float32."""
    return np.random.RandomState(seed).standard_normal(z_dim * block).reshape(block, z_dim).astype(np.float32)


@torch.no_grad()
def map_codes(generator: Generator, z: np.ndarray, batch: int) -> np.ndarray:
    """W rows of ``z`` without truncation, ``batch`` at a time: ``(n, w_dim)`` float32."""
    device = generator.w_avg.device
    rows = [
        generator.mapping(torch.from_numpy(z[i : i + batch]).to(device), truncation_psi=1.0)[:, 0].float().cpu().numpy()
        for i in range(0, len(z), batch)
    ]
    return np.concatenate(rows)


def w_samples(generator: Generator, plan: SamplingPlan, start: int, stop: int, batch: int) -> np.ndarray:
    """Codes ``start…stop-1`` of the plan's sample sequence: ``(stop − start, w_dim)`` float32."""
    seeds = plan.block_seeds()
    first, last = start // plan.block, (stop - 1) // plan.block
    z = np.concatenate([z_block(seeds[b], plan.block, generator.z_dim) for b in range(first, last + 1)])
    offset = start - first * plan.block
    return map_codes(generator, z[offset : offset + stop - start], batch)


@dataclasses.dataclass
class PCAResult:
    """A PCA of W in the official layout (see the module docstring); arrays float32."""

    arrays: dict[str, np.ndarray]

    @property
    def components(self) -> np.ndarray:
        """``(K, w_dim)`` unit rows."""
        return self.arrays["lat_comp"].reshape(self.arrays["lat_comp"].shape[0], -1)

    @property
    def mean(self) -> np.ndarray:
        return self.arrays["lat_mean"].reshape(-1)

    def save(self, path: str | Path) -> Path:
        """Write a compressed npz atomically (the official ``np.savez_compressed``)."""
        with atomic_path(path) as temp, open(temp, "wb") as handle:
            np.savez_compressed(handle, **{key: self.arrays[key] for key in FIELDS})
        return Path(path)


def fit_pca(
    generator: Generator,
    n: int,
    components: int = 80,
    seed: int = 0,
    batch: int = 1_000,
    *,
    block: int = OFFICIAL_BLOCK,
    progress: Progress | None = None,
    state_path: str | Path | None = None,
) -> PCAResult:
    """GANSpace's PCA of ``generator``'s W (see the module docstring).

    :param n: samples (N = n rounded down to whole ``block``s; the fit sees whole chunks).
    :param seed: sampling seed; 0 means the official default 1, as in ``decomposition.py``.
    :param batch: codes mapped at once (memory only; the samples do not depend on it).
    :param block: codes per sampling seed, the official ``-b``; the samples depend on it.
    :param progress: called with (codes fitted, codes to fit) after each chunk.
    :param state_path: where to keep the fit between chunks; a fit with the same
        generator and settings continues from it, and it is removed at the end.
    """
    if batch < 1:
        raise InputError(f"batch must be positive, got {batch}")
    plan = check_plan(n, components, seed, block, generator.w_dim)
    ipca = IncrementalPCA(components)
    settings = _settings(generator, plan)
    done = 0
    if state_path is not None and Path(state_path).exists():
        done = _load_state(Path(state_path), ipca, settings)
    starts = plan.chunk_starts
    if progress is not None:
        progress(done * plan.chunk, plan.seen)
    chunk = np.empty((0, generator.w_dim), dtype=np.float32)
    for index in range(done, len(starts)):
        chunk = w_samples(generator, plan, starts[index], starts[index] + plan.chunk, batch)
        ipca.partial_fit(chunk)
        if state_path is not None:
            _save_state(Path(state_path), ipca, settings, index + 1)
        if progress is not None:
            progress((index + 1) * plan.chunk, plan.seen)
    if chunk.shape[0] == 0:  # resumed after the last chunk: the random stdevs need it again
        chunk = w_samples(generator, plan, starts[-1], starts[-1] + plan.chunk, batch)
    result = _finish(generator, plan, ipca, chunk, batch)
    if state_path is not None:
        Path(state_path).unlink(missing_ok=True)
    return result


def _finish(generator: Generator, plan: SamplingPlan, ipca: IncrementalPCA, last_chunk: np.ndarray, batch: int) -> PCAResult:
    assert ipca.components_ is not None and ipca.mean_ is not None and ipca.explained_variance_ is not None
    k, d = plan.components, generator.w_dim
    comp = ipca.components_ / np.linalg.norm(ipca.components_, axis=1, keepdims=True)  # unit rows, as the official
    mean = ipca.mean_
    fresh_seed = plan.block_seeds()[-1]
    fresh = map_codes(generator, z_block(fresh_seed, STDEV_SAMPLES, generator.z_dim), batch).astype(np.float64)
    lat_stdev = (comp @ fresh.T).std(axis=1)  # uncentred dot: the std does not care
    dirs = np.random.RandomState(SEED_RANDOM_DIRS).normal(size=(k, d))
    dirs = (dirs / np.sqrt((dirs**2).sum(axis=1, keepdims=True))).astype(np.float32)
    centred = last_chunk[:STDEV_SAMPLES].astype(np.float64) - mean
    random_stdevs = (dirs.astype(np.float64) @ centred.T).std(axis=1)
    f32 = np.float32
    arrays = {
        "act_comp": comp.reshape(k, 1, d).astype(f32),
        "act_mean": mean.reshape(1, d).astype(f32),
        "act_stdev": np.sqrt(ipca.explained_variance_).astype(f32),
        "lat_comp": comp.reshape(k, 1, d).astype(f32),
        "lat_mean": mean.reshape(1, d).astype(f32),
        "lat_stdev": lat_stdev.astype(f32),
        "var_ratio": np.asarray(ipca.explained_variance_ratio_).astype(f32),
        "random_stdevs": random_stdevs.astype(f32),
    }
    return PCAResult(arrays)


def _settings(generator: Generator, plan: SamplingPlan) -> str:
    """What a saved fit must match to be continued: the settings and the generator's weights."""
    from lswap_core.checkpoints import tensors_sha256

    return json.dumps(
        {
            "version": STATE_VERSION,
            "generator": generator.name,
            "generator_sha256": tensors_sha256(generator.state_dict()),
            **dataclasses.asdict(plan),
        },
        sort_keys=True,
    )


def _save_state(path: Path, ipca: IncrementalPCA, settings: str, chunks_done: int) -> None:
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        np.savez(handle, settings=np.asarray(settings), chunks_done=np.asarray(chunks_done), **ipca.state())


def _load_state(path: Path, ipca: IncrementalPCA, settings: str) -> int:
    """Load a saved fit into ``ipca``; the number of chunks it holds."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            state = {key: saved[key] for key in saved.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the saved PCA fit {path}: {exc}", hint="delete it to start again") from None
    if str(state.get("settings")) != settings:
        raise InputError(
            f"the saved PCA fit {path} was made with another generator or other settings",
            hint="delete it (or pass --overwrite) to start again, or repeat the same settings",
        )
    ipca.load_state(state)
    return int(state["chunks_done"])

