"""Evaluating a mixer on generated pairs, or the photo swaps of a folder.

Images are judged as they would be saved (quantised to 8 bits), so a swap judged in memory
and the same swap read back from its PNG score alike.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoints import tensors_sha256
from ..errors import InputError
from ..interfaces import Generator
from ..latents import LatentSpace
from ..layers import parse_groups
from ..mixer import LatentMixer
from ..progress import progress_bar
from ..swapping import latent_space_for, swap_codes
from .cache import image_key
from .judges import Judges
from .metrics import (
    MIN_IMAGES_FID,
    MIN_PAIRS_RETRIEVAL,
    Gaussian,
    frechet_distance,
    kernel_inception_distance,
    retrieval_hits,
    row_cosines,
    squared_errors,
)
from .results import EvalResult, SettingResult, stack_values

SAMPLE_ROWS = 8  # pairs shown in the report's grids


@dataclasses.dataclass(frozen=True)
class Setting:
    """How a swap is made: the layer groups that take the swapped code (``None``: all) and the strength."""

    name: str
    groups: tuple[str, ...] | None


def parse_settings(text: str | Sequence[str]) -> list[Setting]:
    """``all,coarse,middle+fine1`` -> one setting each; ``+`` joins groups into one setting."""
    names = [part.strip() for part in (text.split(",") if isinstance(text, str) else text) if part.strip()]
    if not names:
        raise InputError("--layers names no setting", hint="for example --layers all,coarse,middle,fine1,fine2")
    settings = []
    for name in names:
        groups = None if name == "all" else tuple(parse_groups(name.split("+")))
        settings.append(Setting(name, groups))
    if len({setting.name for setting in settings}) != len(settings):
        raise InputError(f"--layers repeats a setting: {','.join(names)}")
    return settings


def check_pair_count(pairs: int, *, fid: bool) -> None:
    needed = max(MIN_PAIRS_RETRIEVAL, MIN_IMAGES_FID if fid else 0)
    if pairs < needed:
        raise InputError(f"{pairs} pair(s) are too few: retrieval{' and FID' if fid else ''} need at least {needed}",
                         hint=f"--pairs {needed} or more (the paper's figures use thousands)")


def quantised(images: Tensor) -> Tensor:
    """Images as a PNG would keep them: 8 bits per channel, back in ``[-1, 1]``."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1.0


@torch.no_grad()
def evaluate(
    mixer: LatentMixer,
    generator: Generator,
    judges: Judges,
    *,
    pairs: int = 1000,
    seed: int = 0,
    settings: Sequence[Setting] | str = "all",
    strength: float = 1.0,
    space: LatentSpace | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> EvalResult:
    """Swap ``pairs`` generated pairs (noise drawn from ``seed``) and measure every setting.

    Sources and targets are rendered from the generator's default view; the same seed gives
    the same pairs for any mixer, so mixers compare on equal terms.
    """
    settings = parse_settings(settings) if isinstance(settings, str) else list(settings)
    check_pair_count(pairs, fid=judges.fid_network is not None)
    mixer.check_generator(generator)
    space = space or latent_space_for(mixer)
    device = generator.device
    z = torch.randn(2 * pairs, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    z_source, z_target = z[0::2], z[1::2]
    generator_id = tensors_sha256(generator.state_dict())[:16]
    mixer_id = tensors_sha256(mixer.state_dict())[:16]
    space_id = (space.name, space.truncation_psi, space.truncation_cutoff)
    collected: dict[str, list[Tensor]] = {}
    samples: dict[str, list[tuple[Tensor, Tensor, Tensor]]] = {setting.name: [] for setting in settings}

    def render(ws: Tensor) -> Tensor:
        return quantised(generator.synthesis(ws, noise_mode="const").float().clamp(-1, 1).cpu())

    with progress_bar(pairs * (2 + len(settings)), "rendering and judging", enabled=progress) as bar:
        for start in range(0, pairs, batch_size):
            stop = min(start + batch_size, pairs)
            zs, zt = z_source[start:stop].to(device), z_target[start:stop].to(device)
            keys = {
                "source": [image_key("face", generator_id, space_id, row) for row in z_source[start:stop]],
                "target": [image_key("face", generator_id, space_id, row) for row in z_target[start:stop]],
            }
            sample = start < SAMPLE_ROWS
            codes = {"source": space.encode(generator, zs), "target": space.encode(generator, zt)}
            images = {}
            for role in ("source", "target"):
                if sample or not judges.knows(keys[role], fid=role == "target"):
                    images[role] = render(space.to_wplus(generator, codes[role]))
                else:
                    images[role] = torch.empty(stop - start, 0)
                _judge(judges, role, images[role], keys[role], collected, fid=role == "target")
                bar.advance(stop - start)
            for setting in settings:
                swap_keys = [
                    image_key("swap", generator_id, mixer_id, space_id, setting.groups, strength, zs_row, zt_row)
                    for zs_row, zt_row in zip(z_source[start:stop], z_target[start:stop], strict=True)
                ]
                if sample or not judges.knows(swap_keys, fid=True):
                    groups = list(setting.groups) if setting.groups is not None else None
                    ws = swap_codes(generator, mixer, space, codes["source"], codes["target"], groups=groups, strength=strength)
                    swaps = render(ws)
                else:
                    swaps = torch.empty(stop - start, 0)
                _judge(judges, f"swap:{setting.name}", swaps, swap_keys, collected, fid=True)
                if sample:
                    rows = zip(images["source"], images["target"], swaps, strict=True)
                    samples[setting.name] += list(rows)[: SAMPLE_ROWS - len(samples[setting.name])]
                bar.advance(stop - start)
    judges.cache.save()
    source_index = torch.arange(pairs)
    results = [_setting_result(setting.name, collected, source_index, judges) for setting in settings]
    info = {"mode": "generated", "pairs": pairs, "seed": seed, "strength": strength, "space": space.name,
            "truncation_psi": space.truncation_psi, "truncation_cutoff": space.truncation_cutoff, **_judge_info(judges)}
    return EvalResult(results, samples, info)


def _judge(judges: Judges, role: str, images: Tensor, keys: list[str], collected: dict[str, list[Tensor]], *, fid: bool) -> None:
    """Append the identity, pose, expression (and FID features) of ``images`` under ``role``."""
    collected.setdefault(f"{role}/identity", []).append(judges.identity(images, keys))
    if role != "source":
        angles, expression = judges.face(images, keys)
        collected.setdefault(f"{role}/angles", []).append(angles)
        collected.setdefault(f"{role}/expression", []).append(expression)
    if fid and judges.fid_network is not None:
        collected.setdefault(f"{role}/fid", []).append(judges.fid_features(images, keys))


def _setting_result(name: str, collected: dict[str, list[Tensor]], source_index: Tensor, judges: Judges) -> SettingResult:
    def get(key: str) -> Tensor:
        return torch.cat(collected[key])

    swap = f"swap:{name}"
    sources, targets, swaps = get("source/identity"), get("target/identity"), get(f"{swap}/identity")
    values = stack_values([{
        "id_hit": retrieval_hits(swaps, sources, source_index),
        "cos_source": row_cosines(swaps, sources[source_index]),
        "cos_target": row_cosines(swaps, targets),
        "expression_mse": squared_errors(get(f"{swap}/expression"), get("target/expression")),
        "pose_mse": squared_errors(get(f"{swap}/angles"), get("target/angles")),
    }])
    fid = kid = None
    if judges.fid_network is not None:
        swap_features, target_features = get(f"{swap}/fid"), get("target/fid")
        fid = frechet_distance(Gaussian.fit(swap_features), Gaussian.fit(target_features))
        kid = kernel_inception_distance(swap_features, target_features)
    return SettingResult(name, values, fid, kid)


def _judge_info(judges: Judges) -> dict[str, Any]:
    return {
        "embedder": judges.embedder.name,
        "pose_and_expression": judges.pose_source,
        "fid_features": judges.fid_name if judges.fid_network is not None else None,
    }


@torch.no_grad()
def evaluate_swaps(folder: Path, judges: Judges, *, size: int = 256, progress: bool = True) -> EvalResult:
    """Measure the photo swaps ``lswap swap`` wrote in ``folder`` (its JSON reports name each pair).

    The aligned crops of ``--save-aligned`` are used when present; otherwise source, target
    and swapped photo are aligned again with the judges' face analyzer.
    """
    entries = read_swap_reports(folder)
    check_pair_count(len(entries), fid=judges.fid_network is not None)
    source_names = sorted({entry.source for entry in entries})
    collected: dict[str, list[Tensor]] = {}
    samples: list[tuple[Tensor, Tensor, Tensor]] = []
    with progress_bar(len(entries), "judging swaps", enabled=progress) as bar:
        for entry in entries:
            faces = entry.faces(judges, size)
            for role, image in faces.items():
                key = [image_key("file", role, image)]
                _judge(judges, role if role != "swap" else "swap:photos", image[None], key, collected, fid=role != "source")
            if len(samples) < SAMPLE_ROWS:
                samples.append((faces["source"], faces["target"], faces["swap"]))
            bar.advance()
    judges.cache.save()
    # The retrieval gallery holds each distinct source once.
    first = {name: index for index, name in reversed(list(enumerate(entry.source for entry in entries)))}
    gallery = [first[name] for name in source_names]
    collected["source/identity"] = [torch.cat(collected["source/identity"])[gallery]]
    source_index = torch.tensor([source_names.index(entry.source) for entry in entries])
    result = _setting_result("photos", collected, source_index, judges)
    info = {"mode": "swaps", "folder": str(folder), "pairs": len(entries), "sources": len(source_names), **_judge_info(judges)}
    return EvalResult([result], {"photos": samples}, info)


@dataclasses.dataclass
class SwapEntry:
    """One swapped pair as its report describes it."""

    report: Path
    output: Path
    source: str
    target: str
    source_face: int | None
    target_face: int | None

    def faces(self, judges: Judges, size: int) -> dict[str, Tensor]:
        """Aligned ``(3, size, size)`` source, target and swap, quantised."""
        from ..conventions import resize
        from ..imaging import load_image
        from ..inverting import align_photo

        stem = self.report.with_suffix("")
        crops = {role: Path(f"{stem}_{role}.png") for role in ("source", "target", "swap")}
        if all(path.exists() for path in crops.values()):
            return {role: quantised(resize(load_image(path)[None], (size, size)))[0] for role, path in crops.items()}
        if judges.analyzer is None:
            raise InputError(f"{self.report}: without aligned crops (swap --save-aligned) the photos must be aligned",
                             hint="give --analyzer")
        paths = {"source": Path(self.source), "target": Path(self.target), "swap": self.output}
        faces = {"source": self.source_face, "target": self.target_face, "swap": self.target_face}
        aligned = {}
        for role, path in paths.items():
            if not path.is_file():
                raise InputError(f"{self.report} names {role} {path}, which does not exist",
                                 hint="evaluate where the swap ran, or keep its aligned crops (swap --save-aligned)")
            aligned[role] = quantised(align_photo(judges.analyzer, path, size, faces[role]).aligned.image[None].cpu())[0]
        return aligned


def read_swap_reports(folder: Path) -> list[SwapEntry]:
    """The pairs of a folder of photo swaps, from the JSON reports beside their images."""
    if not folder.is_dir():
        raise InputError(f"--swaps {folder} is not a folder", hint="pass the --out folder of lswap swap")
    entries = []
    for report in sorted(folder.glob("*.json")):
        try:
            data = json.loads(report.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict) or not {"output", "source", "target", "faces"} <= data.keys():
            continue
        # A photo with several swapped faces counts its first: its aligned crops show that one.
        face = data["faces"][0] if isinstance(data["faces"], list) and data["faces"] else {}
        entries.append(SwapEntry(report, Path(str(data["output"])), str(data["source"]), str(data["target"]),
                                 _face_index(face, "source"), _face_index(face, "target")))
    if not entries:
        raise InputError(f"{folder} holds no swap reports", hint="run lswap swap --source ... --target ... --out that folder first")
    return entries


def _face_index(face: Any, side: str) -> int | None:
    value = face.get(side, {}).get("face_index") if isinstance(face, dict) else None
    return value if isinstance(value, int) else None
