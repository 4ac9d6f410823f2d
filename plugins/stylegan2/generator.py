"""The StyleGAN2 generator as an lswap `Generator`.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR
2020), as implemented by NVlabs' stylegan2-ada-pytorch
(``training/networks.py``, class ``Generator``); `networks` holds the modules.
"""

from __future__ import annotations

import typing
from typing import ClassVar

import torch
from torch import Tensor

from lswap_core.errors import IncompatibleLatentError, InputError
from lswap_core.interfaces import Generator, NoiseMode

from .config import PRESETS, StyleGAN2Config
from .networks import Impl, MappingNetwork, SynthesisNetwork

NOISE_MODES = typing.get_args(NoiseMode)
SynthesisImpl = typing.Literal["auto", "fast", "reference", "kernels"]
IMPLS = typing.get_args(SynthesisImpl)


class StyleGAN2Generator(Generator):
    """StyleGAN2 (NVlabs stylegan2-ada-pytorch architecture), any power-of-two resolution.

    Its state dict uses NVlabs' names (``mapping.fc0.weight``,
    ``synthesis.b1024.torgb.bias``...): the child modules are registered as
    ``mapping`` and ``synthesis`` although the `Generator` interface's methods
    of those names shadow them as attributes; reach the modules through
    `mapping_network` and `synthesis_network`.
    """

    name = "stylegan2"
    description = "StyleGAN2 generator (NVlabs architecture); official pickles and rosinality checkpoints convert"
    config_class = StyleGAN2Config
    presets: ClassVar[dict[str, dict[str, object]]] = PRESETS

    def __init__(self, config: StyleGAN2Config | None = None) -> None:
        super().__init__(config)
        synthesis = SynthesisNetwork(self.config)
        # Registered under NVlabs' names; see the class docstring.
        self._modules["synthesis"] = synthesis
        self._modules["mapping"] = MappingNetwork(self.config, num_ws=synthesis.num_ws)
        self._layer_resolutions = synthesis.layer_resolutions()

    @property
    def mapping_network(self) -> MappingNetwork:
        return self._modules["mapping"]  # type: ignore[return-value]

    @property
    def synthesis_network(self) -> SynthesisNetwork:
        return self._modules["synthesis"]  # type: ignore[return-value]

    @property
    def num_ws(self) -> int:
        return self.synthesis_network.num_ws

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def layer_resolutions(self) -> tuple[int, ...]:
        return self._layer_resolutions

    @property
    def w_avg(self) -> Tensor:
        return self.mapping_network.w_avg

    def mapping(
        self,
        z: Tensor,
        *,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        impl: Impl = "auto",
    ) -> Tensor:
        """z ``(N, z_dim)`` to W+ ``(N, num_ws, w_dim)``; see `Generator.mapping`.

        :param impl: ``"reference"`` runs NVlabs' reference ops.
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise IncompatibleLatentError(
                f"z of shape {tuple(z.shape)} does not fit generator {self.name!r}, which takes (N, {self.z_dim})"
            )
        if truncation_cutoff is not None and not 0 <= truncation_cutoff <= self.num_ws:
            raise InputError(f"truncation cutoff {truncation_cutoff} is outside 0..{self.num_ws}")
        return self.mapping_network(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, impl=impl)

    def synthesis(
        self,
        ws: Tensor,
        *,
        camera: Tensor | None = None,
        noise_mode: NoiseMode = "const",
        impl: SynthesisImpl = "auto",
        fused_modconv: bool | None = None,
        rng: torch.Generator | None = None,
        num_fp16_res: int | None = None,
    ) -> Tensor:
        """W+ ``(N, num_ws, w_dim)`` to images ``(N, 3, resolution, resolution)``; see `Generator.synthesis`.

        :param impl: ``"auto"`` picks the path for the device: on a CPU the
            fast path (built for CPUs), on CUDA NVlabs' batched algorithm with
            the project's CUDA kernels for ``bias_act`` and ``upfirdn2d``
            (``"kernels"``; the batched algorithm was measured faster than the
            fast path there: 124 against 179 ms for forward+backward at 1024²,
            batch 8, on an H100, with the reference ops); ``"fast"``,
            ``"kernels"`` and ``"reference"`` (NVlabs' algorithm with the
            PyTorch reference ops, the benchmark baseline) force one.
        :param num_fp16_res: run the blocks of this many highest resolutions
            under float16 autocast, as NVlabs' released configs do on GPUs (4);
            the image comes back in float32. ``None``: the config's
            (``--set generator.options.num_fp16_res=4`` in training).
        :param fused_modconv: with ``impl="reference"``, grouped convolutions
            (``True``) or scaled activations (``False``); ``None`` is NVlabs'
            default (grouped when not training). The fast path chooses by itself.
        :param rng: the random generator of ``noise_mode="random"`` (default:
            torch's global one, drawn in the same order as NVlabs).
        """
        if camera is not None:
            raise InputError(f"generator {self.name!r} renders a single view and takes no camera")
        if impl not in IMPLS:
            raise InputError(f"unknown synthesis implementation {impl!r}", hint=f"choose one of {', '.join(IMPLS)}")
        if noise_mode not in NOISE_MODES:
            raise InputError(f"unknown noise mode {noise_mode!r}", hint=f"choose one of {', '.join(NOISE_MODES)}")
        self.check_ws(ws)
        path: Impl = "kernels" if impl == "auto" and ws.device.type == "cuda" else "auto" if impl == "fast" else impl
        num_fp16_res = self.config.num_fp16_res if num_fp16_res is None else num_fp16_res
        if not 0 <= num_fp16_res <= len(self.synthesis_network.blocks()):
            raise InputError(f"num_fp16_res {num_fp16_res} is outside 0..{len(self.synthesis_network.blocks())}, "
                             f"the generator's resolutions")
        return self.synthesis_network(ws, noise_mode=noise_mode, fused_modconv=fused_modconv, impl=path, rng=rng,
                                      num_fp16_res=num_fp16_res)

    def noise_buffers(self) -> dict[str, Tensor]:
        """Every synthesis layer's ``noise_const``, from 4² up (NVlabs' names, as PTI's projector takes them)."""
        return {name: buffer for name, buffer in self.named_buffers() if name.endswith(".noise_const")}
