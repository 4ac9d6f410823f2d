"""The latent mixer: (source code, target code) -> swapped code.

Paper, "Latent Mixer Architecture": for each row of a W+ code, five
fully-connected layers with SiLU between them map the concatenated source and
target rows (2·w_dim) through 1024, 1024, 512, 512 to w_dim; the output is
added to the target row times a residual coefficient (default 1).

The official ``LatentMixerSep`` loops over one ``nn.Sequential`` per row. Here
each layer's weights are stacked over the rows, ``(rows, out, in)`` (the
``nn.Linear`` orientation), and one autograd function runs the whole stack:

- forward: per-row ``addmm`` for small batches (a skinny product reads the
  weights fastest in the ``nn.Linear`` orientation) and one batched product
  per layer for larger ones;
- backward: the weight gradients are written in place into buffers the mixer
  keeps, instead of fresh 75 MB tensors every step. On a CPU the first touch
  of freshly mapped memory costs more than the product itself, so a training
  step keeps reusing the same gradient memory (``zero_grad(set_to_none=True)``
  then costs nothing; existing gradients are accumulated into).

Spaces (paper, Table 1): ``w+`` has one MLP per W+ row; ``w`` and ``z`` share
one MLP over single 512-d codes (a W code broadcast to W+, or a z code that is
rendered through the mapping network).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoints import load_state_strict, read_export, save_component
from .errors import CheckpointError, IncompatibleLatentError
from .generator_records import GeneratorRecord

MIXER_KIND = "mixer"
MIXER_NAME = "latent-mixer"
LatentSpace = Literal["w+", "w", "z"]


@dataclasses.dataclass
class MixerConfig:
    """Architecture of a latent mixer (the layer count and width come from the generator)."""

    num_ws: int = 18  # rows of the generator's W+ code
    w_dim: int = 512  # width of a code row (z_dim for the z space)
    space: LatentSpace = "w+"
    hidden: tuple[int, ...] = (1024, 1024, 512, 512)  # 5 fully-connected layers in all (paper)
    residual_coefficient: float = 1.0  # how much of the target code is added back (paper, Appendix 1)

    def __post_init__(self) -> None:
        if self.num_ws < 1 or self.w_dim < 1 or any(width < 1 for width in self.hidden):
            raise ValueError("num_ws, w_dim and hidden widths must be positive")


# Below this many codes the forward runs row by row (measured on CPU: faster for skinny products).
ROW_LOOP_MAX_BATCH = 16


class _StackedMLP(torch.autograd.Function):
    """The fully-connected stack over all rows; see the module docstring.

    Inputs: ``x: (rows, N, in)``, the mixer (for its gradient buffers), then
    the weights ``(rows, out, in)`` and biases ``(rows, 1, out)`` of every layer.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, mixer: LatentMixer, *params: Tensor) -> Tensor:
        count = len(params) // 2
        weights, biases = params[:count], params[count:]
        inputs, pre_activations = [], []
        h = x
        for index, (weight, bias) in enumerate(zip(weights, biases)):
            inputs.append(h)
            h = _linear(h, weight, bias)
            if index < count - 1:
                pre_activations.append(h)
                h = F.silu(h)
        ctx.mixer = mixer
        ctx.count = count
        ctx.save_for_backward(*inputs, *pre_activations, *weights)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        count, mixer = ctx.count, ctx.mixer
        saved = ctx.saved_tensors
        inputs, pre_activations, weights = saved[:count], saved[count : 2 * count - 1], saved[2 * count - 1 :]
        params = list(mixer.weights) + list(mixer.biases)
        grad_x = None
        for index in reversed(range(count)):
            h, weight = inputs[index], weights[index]

            def weight_grad(out: Tensor, beta: int) -> None:
                torch.baddbmm(out, grad.transpose(1, 2), h, beta=beta, out=out)  # (rows, out, N) @ (rows, N, in)

            def bias_grad(out: Tensor, beta: int) -> None:
                summed = grad.sum(dim=1, keepdim=True)
                out.copy_(summed) if beta == 0 else out.add_(summed)

            if params[index].requires_grad:
                mixer.accumulate_grad(params[index], weight_grad)
            if params[count + index].requires_grad:
                mixer.accumulate_grad(params[count + index], bias_grad)
            if index > 0:
                z = pre_activations[index - 1]
                sigmoid = torch.sigmoid(z)
                grad = torch.bmm(grad, weight).mul_(sigmoid.mul_(z.mul(1 - sigmoid).add_(1)))  # SiLU'(z)
            elif ctx.needs_input_grad[0]:
                grad_x = torch.bmm(grad, weight)
        # Parameter gradients were written into .grad directly: none are returned.
        return (grad_x, None, *([None] * (2 * count)))


def _linear(h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``h @ weightᵀ + bias`` for every row: ``(rows, N, in)`` -> ``(rows, N, out)``."""
    rows, batch, _ = h.shape
    if batch > ROW_LOOP_MAX_BATCH:
        return torch.baddbmm(bias, h, weight.transpose(1, 2))
    out = h.new_empty(rows, batch, weight.shape[1])
    for row in range(rows):
        torch.addmm(bias[row], h[row], weight[row].t(), out=out[row])
    return out


class LatentMixer(nn.Module):
    """Maps source and target codes to a swapped code.

    ``w+``: ``forward(source_ws, target_ws)`` on ``(N, num_ws, w_dim)``.
    ``w``: the same shapes (rows of a W code are equal; row 0 is mixed and
    broadcast) or ``(N, w_dim)``. ``z``: ``(N, w_dim)`` z codes.
    """

    kind = MIXER_KIND
    name = MIXER_NAME

    def __init__(self, config: MixerConfig | None = None, *, rng: torch.Generator | None = None, **options: Any) -> None:
        """:param rng: the random generator of the initial weights (default: torch's global one)."""
        super().__init__()
        self.config = config if config is not None else MixerConfig(**options)
        self.trained_with: TrainedWith | None = None  # set by `load_mixer` from the export
        cfg = self.config
        groups = cfg.num_ws if cfg.space == "w+" else 1
        widths = [2 * cfg.w_dim, *cfg.hidden, cfg.w_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            # nn.Linear's default initialisation, as in the official mixer.
            bound = 1 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(groups, fan_out, fan_in).uniform_(-bound, bound, generator=rng)))
            self.biases.append(nn.Parameter(torch.empty(groups, 1, fan_out).uniform_(-bound, bound, generator=rng)))
        self._grad_buffers: dict[int, Tensor] = {}

    @property
    def groups(self) -> int:
        """Independent MLPs: one per W+ row, or one shared."""
        return self.weights[0].shape[0]

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def mlp(self, x: Tensor) -> Tensor:
        """The fully-connected stack on ``(groups, N, 2·w_dim)`` -> ``(groups, N, w_dim)``."""
        return _StackedMLP.apply(x, self, *self.weights, *self.biases)

    def accumulate_grad(self, parameter: Tensor, compute: Callable[[Tensor, int], None]) -> None:
        """Write (``beta=0``) or add (``beta=1``) a gradient into ``parameter.grad``.

        ``compute(out, beta)`` fills ``out``. A parameter without a gradient gets
        the mixer's own buffer for it, reused step after step.
        """
        if parameter.grad is not None:
            compute(parameter.grad, 1)
            return
        buffer = self._grad_buffers.get(id(parameter))
        if buffer is None or buffer.shape != parameter.shape or buffer.device != parameter.device or buffer.dtype != parameter.dtype:
            buffer = torch.empty_like(parameter, memory_format=torch.contiguous_format)
            self._grad_buffers[id(parameter)] = buffer
        compute(buffer, 0)
        parameter.grad = buffer

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        if source.shape != target.shape:
            raise IncompatibleLatentError(
                f"source codes {tuple(source.shape)} and target codes {tuple(target.shape)} differ in shape"
            )
        cfg = self.config
        if cfg.space == "w+":
            self._check_rows(source)
            pairs = torch.cat([source, target], dim=2).transpose(0, 1)  # (num_ws, N, 2·w_dim)
            return self.mlp(pairs).transpose(0, 1) + cfg.residual_coefficient * target
        if source.ndim == 3:  # W codes given as W+ rows: mix row 0, broadcast back
            self._check_rows(source)
            return self.forward(source[:, 0], target[:, 0])[:, None].expand_as(target)
        if source.ndim != 2 or source.shape[1] != cfg.w_dim:
            raise IncompatibleLatentError(
                f"a {cfg.space}-space mixer takes (N, {cfg.w_dim}) codes, got {tuple(source.shape)}"
            )
        pairs = torch.cat([source, target], dim=1)[None]  # (1, N, 2·w_dim)
        return self.mlp(pairs)[0] + cfg.residual_coefficient * target

    def _check_rows(self, codes: Tensor) -> None:
        cfg = self.config
        if codes.ndim != 3 or tuple(codes.shape[1:]) != (cfg.num_ws, cfg.w_dim):
            raise IncompatibleLatentError(
                f"this mixer takes codes of shape (N, {cfg.num_ws}, {cfg.w_dim}), got {tuple(codes.shape)}",
                hint="use a mixer trained for this generator",
            )

    def check_generator(self, generator: Any) -> None:
        """Raise `IncompatibleLatentError` unless the generator's codes fit this mixer."""
        cfg = self.config
        width = generator.z_dim if cfg.space == "z" else generator.w_dim
        if (generator.num_ws, width) != (cfg.num_ws, cfg.w_dim):
            raise IncompatibleLatentError(
                f"this mixer was trained for {cfg.num_ws}×{cfg.w_dim} codes, but generator {generator.name!r} "
                f"uses {generator.num_ws}×{width}",
                hint="train a mixer for this generator (lswap train) or load the matching one",
            )


@dataclasses.dataclass
class TrainedWith:
    """What a mixer was trained with: the generator and how its codes were sampled.

    Swapping uses that generator (`GeneratorRecord.rebuild`, or a check of the
    one given) and, unless told otherwise, the same truncation.
    """

    generator: GeneratorRecord
    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None

    @classmethod
    def from_data(cls, data: Any) -> TrainedWith:
        if not isinstance(data, dict) or "generator" not in data:
            raise CheckpointError("the mixer's training record is malformed")
        return cls(
            generator=GeneratorRecord.from_data(data["generator"]),
            truncation_psi=float(data.get("truncation_psi", 1.0)),
            truncation_cutoff=data.get("truncation_cutoff"),
        )


def build_mixer(config: MixerConfig | dict[str, Any], *, rng: torch.Generator | None = None) -> LatentMixer:
    """A freshly initialised mixer from a config or its plain-data form."""
    if isinstance(config, dict):
        from .config import from_mapping

        config = from_mapping(MixerConfig, config)
    return LatentMixer(config, rng=rng)


def mixer_for(generator: Any, *, rng: torch.Generator | None = None, **options: Any) -> LatentMixer:
    """A mixer sized for ``generator`` (its ``num_ws`` and ``w_dim``, or ``z_dim`` for the z space)."""
    space = options.get("space", "w+")
    width = generator.z_dim if space == "z" else generator.w_dim
    return build_mixer({"num_ws": generator.num_ws, "w_dim": width, **options}, rng=rng)


def save_mixer(
    mixer: LatentMixer,
    path: str | Path,
    provenance: dict[str, str] | None = None,
    trained_with: TrainedWith | None = None,
) -> Path:
    """Export a mixer as safetensors with its config (and what it was trained with) in the metadata."""
    records = {"trained_with": trained_with} if trained_with is not None else None
    return save_component(mixer, path, provenance=provenance, records=records)


def load_mixer(path: str | Path, *, device: str | torch.device | None = None) -> LatentMixer:
    """Load a mixer export (``lswap train`` writes one; ``lswap convert`` imports the official checkpoint).

    The mixer's `LatentMixer.trained_with` holds the export's training record
    (``None`` for exports without one, such as converted official checkpoints).
    """
    export = read_export(path)
    if export.kind != MIXER_KIND:
        raise CheckpointError(
            f"{path} holds a {export.kind} {export.name!r}, not a latent mixer",
            hint="pass the mixer.safetensors a training run wrote",
        )
    mixer = build_mixer(export.config)
    load_state_strict(mixer, export.tensors, source=str(path))
    if "trained_with" in export.records:
        mixer.trained_with = TrainedWith.from_data(export.records["trained_with"])
    mixer.eval()
    return mixer.to(device) if device is not None else mixer
