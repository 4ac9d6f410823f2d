"""The official LatentSwap PyTorch Lightning checkpoint -> a latent-mixer export.

The official module keeps the mixer as ``identity_mixer``: for the W+ space a
``LatentMixerSep`` with one ``nn.Sequential`` per W+ row
(``identity_mixer.mixer.{row}.{0,2,4,6,8}.weight|bias``; SiLU at the odd
indices), for the Z and W spaces one shared ``nn.Sequential``
(``identity_mixer.{0,2,4,6,8}``). Its ``hyper_parameters`` are an OmegaConf
config, read here as inert data (``latent_type``, ``residual_coefficient``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from lswap_core.errors import CheckpointError
from lswap_core.interfaces import ConvertedWeights, Converter
from lswap_core.legacy_pickle import ModuleRecord, load_checkpoint
from lswap_core.official_files import file_head
from lswap_core.mixer import MIXER_KIND, MIXER_NAME

_PER_ROW = re.compile(r"^identity_mixer\.mixer\.(\d+)\.(\d+)\.(weight|bias)$")
_SHARED = re.compile(r"^identity_mixer\.(\d+)\.(weight|bias)$")
_SPACES = {"wp": "w+", "w": "w", "z": "z"}
_MALFORMED = (LookupError, TypeError, ValueError, AttributeError, RuntimeError, OverflowError, RecursionError)


def _plain(value: Any) -> Any:
    """OmegaConf containers and nodes (kept as inert records) to plain data, as far as they go."""
    if isinstance(value, ModuleRecord):
        state = getattr(value, "state", None)
        if isinstance(state, dict):
            if "_content" in state:
                return _plain(state["_content"])
            if "_val" in state:
                return _plain(state["_val"])
        return None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


class LatentSwapCheckpointConverter(Converter):
    """Official LatentSwap Lightning checkpoint (.ckpt) of a trained mixer."""

    name = "latentswap-ckpt"
    description = "official LatentSwap mixer checkpoint (.ckpt)"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        checkpoint = file_head(path).peek()
        state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
        return isinstance(state, dict) and any(str(key).startswith("identity_mixer.") for key in state)

    def convert(self, path: Path) -> ConvertedWeights:
        checkpoint = load_checkpoint(path)
        state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} has no state_dict", hint="pass the .ckpt file the official training wrote")
        try:
            return self._convert(path, checkpoint, state)
        except _MALFORMED as exc:  # a missing bias, tensors of the wrong rank, odd hyper-parameters (tests/fuzz)
            text = str(exc).strip()
            reason = f"{type(exc).__name__}: {text.splitlines()[0][:160]}" if text else type(exc).__name__
            raise CheckpointError(f"{path} holds malformed identity_mixer weights or hyper-parameters ({reason})",
                                  hint="pass the .ckpt file the official training wrote") from None

    def _convert(self, path: Path, checkpoint: dict[str, Any], state: dict[str, Any]) -> ConvertedWeights:
        # Saved only when the module called save_hyperparameters(); the official one keeps them as `hp`.
        hyper = _plain(checkpoint.get("hyper_parameters"))
        hp = hyper.get("hp", hyper) if isinstance(hyper, dict) else {}
        per_row = {m.groups(): v for k, v in state.items() if (m := _PER_ROW.match(k))}
        shared = {m.groups(): v for k, v in state.items() if (m := _SHARED.match(k))}
        if per_row:
            rows = sorted({int(row) for row, _, _ in per_row})
            indices = sorted({int(index) for _, index, _ in per_row})
            weights = [torch.stack([per_row[(str(r), str(i), "weight")] for r in rows]) for i in indices]
            biases = [torch.stack([per_row[(str(r), str(i), "bias")] for r in rows]) for i in indices]
            space = "w+"
        elif shared:
            indices = sorted({int(index) for index, _ in shared})
            weights = [shared[(str(i), "weight")][None] for i in indices]
            biases = [shared[(str(i), "bias")][None] for i in indices]
            space = _SPACES.get(str(hp.get("latent_type")), "w")
        else:
            raise CheckpointError(f"{path} holds no identity_mixer weights", hint="it is not a LatentSwap checkpoint")
        if indices != list(range(0, 2 * len(indices), 2)):
            raise CheckpointError(f"{path}: mixer layers at indices {indices}, expected Linear layers at 0, 2, 4...")
        w_dim = weights[-1].shape[1]
        residual = ((hp.get("identity_mixer") or {}).get("residual_coefficient")) if space == "w+" else None
        size = int(((hp.get("style_gan") or {}).get("args") or {}).get("size") or 1024)
        config = {
            # A shared (z or w) mixer drives every row of the generator it was trained with.
            "num_ws": len(rows) if space == "w+" else 2 * int(math.log2(size)) - 2,
            "w_dim": int(w_dim),
            "space": space,
            "hidden": [int(w.shape[1]) for w in weights[:-1]],  # out features of each hidden layer
            "residual_coefficient": float(residual) if residual is not None else 1.0,
        }
        tensors: dict[str, torch.Tensor] = {}
        for k, (weight, bias) in enumerate(zip(weights, biases)):
            tensors[f"weights.{k}"] = weight.contiguous().float()  # (rows, out, in), nn.Linear's orientation
            tensors[f"biases.{k}"] = bias[:, None, :].contiguous().float()
        provenance = {"format": "LatentSwap Lightning checkpoint", "latent_type": space}
        if "global_step" in checkpoint:
            provenance["global_step"] = str(checkpoint["global_step"])
        return ConvertedWeights(MIXER_KIND, MIXER_NAME, config, tensors, provenance)
