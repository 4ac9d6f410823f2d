"""The StyleNeRF generator as an lswap `Generator`.

Gu, Liu, Wang and Theobalt, "StyleNeRF: A Style-based 3D-Aware Generator for
High-resolution Image Synthesis" (ICLR 2022), as implemented by
facebookresearch/StyleNeRF (``training/networks.py`` ``Generator`` with
``training/stylenerf.py`` ``NeRFSynthesisNetwork``, FFHQ configuration). W+ rows
0–9 drive the foreground NeRF, the rest the 2D upsampler (see `layer_resolutions`);
the background NeRF takes a separate 32-d latent, which is not part of W+.
"""

from __future__ import annotations

import typing
from typing import ClassVar

import torch
from torch import Tensor, nn

from lswap_core.errors import IncompatibleLatentError, InputError
from lswap_core.interfaces import Generator, NoiseMode

from . import cameras
from .config import PRESETS, StyleNeRFConfig
from .layers import MappingNetwork
from .nerf import BackgroundNeRF, ForegroundNeRF
from .rendering import Sampling, VolumeRenderer
from .upsampler import SynthesisBlock

NOISE_MODES = typing.get_args(NoiseMode)


class BackgroundShapeError(InputError):
    """A background latent that is not (N, z_dim_bg)."""


class SynthesisNetwork(nn.Module):
    """The official ``NeRFSynthesisNetwork`` (FFHQ options): NeRFs, renderer and upsampler blocks."""

    def __init__(self, config: StyleNeRFConfig) -> None:
        super().__init__()
        self.config = config
        self.fg_nerf = ForegroundNeRF(config.w_dim, config.fg_hidden, config.fg_blocks, config.rgb_out_dim, config.pe_freqs)
        self.bg_nerf = BackgroundNeRF(config.z_dim_bg, config.bg_hidden, config.bg_blocks, config.rgb_out_dim, config.pe_freqs)
        self.renderer = VolumeRenderer(config)
        self.block_names: list[str] = []
        in_channels = config.rgb_out_dim
        for res in config.block_resolutions:
            name = f"b{res}"
            setattr(self, name, SynthesisBlock(in_channels, config.channels(res), config.w_dim, res, config))
            self.block_names.append(name)
            in_channels = config.channels(res)
        self.num_ws = self.fg_nerf.num_ws + SynthesisBlock.num_conv * len(self.block_names) + 1

    def layer_resolutions(self) -> tuple[int, ...]:
        """NeRF rows count at the volume resolution; an upsampler row shared by a ToRGB and the next
        block's first layer counts at the ToRGB's (lower) resolution, as for StyleGAN2."""
        rows = [self.config.resolution_vol] * self.fg_nerf.num_ws
        for index, name in enumerate(self.block_names):
            block = getattr(self, name)
            rows += [block.resolution] * (3 if index == 0 else 2)
        return tuple(rows)

    def forward(self, ws: Tensor, matrices: Tensor, background: Tensor, sampling: Sampling) -> tuple[Tensor, Tensor]:
        n_nerf = self.fg_nerf.num_ws
        features = self.renderer.render(self.fg_nerf, self.bg_nerf, ws[:, :n_nerf], background, matrices, sampling)
        img = features[:, :3]
        x = features[:, 3:]
        nerf_image, row = img, n_nerf
        for name in self.block_names:  # rows narrow(w_idx, num_conv + num_torgb), w_idx += num_conv
            x, img = getattr(self, name)(x, img, ws[:, row : row + 3])
            row += SynthesisBlock.num_conv
        return img, nerf_image


class StyleNeRFGenerator(Generator):
    """StyleNeRF (facebookresearch/StyleNeRF, FFHQ configuration), any output resolution.

    Its state dict uses the official names (``mapping.fc0.weight``,
    ``synthesis.fg_nerf.blocks.0.affine.weight``, ``synthesis.b64.conv0.adapter.0.weight``...);
    the child modules ``mapping`` and ``synthesis`` are shadowed by the interface's methods:
    reach them through `mapping_network` and `synthesis_network`.
    """

    name = "stylenerf"
    description = "StyleNeRF 3D-aware generator (facebookresearch architecture, FFHQ); official pickles convert"
    config_class = StyleNeRFConfig
    presets: ClassVar[dict[str, dict[str, object]]] = PRESETS
    supports_camera = True

    def __init__(self, config: StyleNeRFConfig | None = None) -> None:
        super().__init__(config)
        synthesis = SynthesisNetwork(self.config)
        self._modules["synthesis"] = synthesis
        cfg = self.config
        self._modules["mapping"] = MappingNetwork(
            cfg.z_dim, cfg.w_dim, synthesis.num_ws, cfg.mapping_layers, cfg.mapping_lr_multiplier, cfg.w_avg_beta
        )
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

    def mapping(self, z: Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise IncompatibleLatentError(
                f"z of shape {tuple(z.shape)} does not fit generator {self.name!r}, which takes (N, {self.z_dim})"
            )
        if truncation_cutoff is not None and not 0 <= truncation_cutoff <= self.num_ws:
            raise InputError(f"truncation cutoff {truncation_cutoff} is outside 0..{self.num_ws}")
        return self.mapping_network(z, truncation_psi, truncation_cutoff)

    def sample_cameras(self, n: int, *, rng: torch.Generator | None = None) -> Tensor:
        """``(n, 3)`` linear (u, v, r) cameras from FFHQ's Gaussian pose prior (yaw σ 0.3 rad, pitch σ 0.155 rad)."""
        return cameras.sample_uvr(n, rng)

    @property
    def named_views(self) -> dict[str, Tensor]:
        """``front``, ``left``, ``right``, ``up``, ``down`` as ``(1, 3)`` (u, v, r) cameras at the edges of
        the training range."""
        return cameras.named_views()

    def orbit_cameras(self, frames: int) -> Tensor:
        """``(frames, 3)`` cameras on the official turntable path (yaw ±0.4 rad, pitch ±0.2 rad)."""
        return cameras.orbit_uvr(frames, self.config)

    def view(self, name: str) -> Tensor:
        """The ``(1, 3)`` camera named ``name``; an unknown name is an error listing the names."""
        return cameras.view(name)

    def synthesis(
        self,
        ws: Tensor,
        *,
        camera: Tensor | None = None,
        noise_mode: NoiseMode = "const",
        rng: torch.Generator | None = None,
        background: Tensor | None = None,
        hierarchical: bool | None = None,
        return_nerf: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """W+ ``(N, num_ws, w_dim)`` to images ``(N, 3, resolution, resolution)``; see `Generator.synthesis`.

        :param camera: ``(N, 3)`` (u, v, r) in the official linear [0, 1] convention (0.5, 0.5 is
            the front; see `named_views`), or ``(N, 4, 4)`` camera-to-world matrices; one row
            serves every code. ``None`` is the front view.
        :param noise_mode: ``"const"`` and ``"none"`` render deterministically (the official
            evaluation mode); ``"random"`` jitters the ray samples and draws the fine samples at
            random (the official training mode), from ``rng``.
        :param rng: where the background latent (when omitted) and the ``"random"`` sampling are
            drawn from. Without ``rng``, ``"random"`` draws from torch's global generator and
            the other modes use the zero background latent (the prior's mean).
        :param background: ``(N, z_dim_bg)`` background latent; the official sampling draws it
            from N(0, I).
        :param hierarchical: importance resampling of the foreground (default: the config's,
            on for the official networks); ``False`` renders the coarse samples only.
        :param return_nerf: also return the raw volume rendering ``(N, 3, resolution_vol, resolution_vol)``.
        """
        if noise_mode not in NOISE_MODES:
            raise InputError(f"unknown noise mode {noise_mode!r}", hint=f"choose one of {', '.join(NOISE_MODES)}")
        self.check_ws(ws)
        n, cfg = ws.shape[0], self.config
        matrices = cameras.cam2world(camera, n, cfg, ws.device)
        stochastic = noise_mode == "random"
        if background is None:
            if rng is not None or stochastic:
                background = torch.randn(n, cfg.z_dim_bg, generator=rng, device=ws.device)
            else:
                background = torch.zeros(n, cfg.z_dim_bg, device=ws.device)
        elif background.ndim != 2 or tuple(background.shape) != (n, cfg.z_dim_bg):
            raise BackgroundShapeError(
                f"background latent of shape {tuple(background.shape)} does not fit; this generator takes ({n}, {cfg.z_dim_bg})"
            )
        sampling = Sampling(cfg.hierarchical if hierarchical is None else hierarchical, stochastic, rng)
        image, nerf_image = self.synthesis_network(ws.float(), matrices, background.to(ws.device, torch.float32), sampling)
        return (image, nerf_image) if return_nerf else image
