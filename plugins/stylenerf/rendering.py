"""Volume rendering of StyleNeRF's two fields into a low-resolution feature map.

After the official ``VolumeRenderer`` and ``CameraRay`` (``training/stylenerf.py``) and
``sample_pdf``/``depth2pts_outside`` (``dnnlib/camera.py``): coarse samples evenly spaced
in depth, an importance-resampled fine pass (NeRF, Mildenhall et al. 2020, section 5.2)
in deterministic mode unless the call is stochastic, and a NeRF++ background whose
contribution is weighted by the light the foreground lets through.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .cameras import rays
from .config import StyleNeRFConfig
from .nerf import BackgroundNeRF, ForegroundNeRF

PDF_EPS = 1e-5  # official sample_pdf eps
TRANSMITTANCE_EPS = 1e-10
BG_LAST_DIST = 1e10  # the background's last interval reaches infinity: everything left is absorbed


@dataclasses.dataclass
class Sampling:
    """How a call samples along rays: ``stochastic`` jitters the depths and draws the fine samples
    at random (the official training mode), from ``rng``; otherwise everything is fixed."""

    hierarchical: bool
    stochastic: bool
    rng: torch.Generator | None


def jitter(s: Tensor, rng: torch.Generator | None) -> Tensor:
    """A uniform draw inside each sample's interval (official ``add_noise_to_interval``)."""
    mid = 0.5 * (s[..., 1:] + s[..., :-1])
    high = torch.cat([mid, s[..., -1:]], dim=-1)
    low = torch.cat([s[..., :1], mid], dim=-1)
    return low + (high - low) * torch.rand(s.shape, generator=rng, device=s.device)


def volume_weights(sigma: Tensor, dists: Tensor, *, last_opaque: bool) -> tuple[Tensor, Tensor]:
    """Compositing weights ``α·T`` and the transmittance left before the last sample."""
    alpha = 1.0 - torch.exp(-torch.relu(sigma) * dists)
    if last_opaque:
        alpha = torch.cat([alpha[..., :-1], torch.ones_like(alpha[..., -1:])], dim=-1)
    shifted = torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha + TRANSMITTANCE_EPS], dim=-1)
    transmittance = torch.cumprod(shifted, dim=-1)[..., :-1]
    return alpha * transmittance, transmittance[..., -1]


def sample_pdf(bins: Tensor, weights: Tensor, n: int, rng: torch.Generator | None, deterministic: bool) -> Tensor:
    """``n`` inverse-CDF samples per row of piecewise-constant ``weights`` over ``bins`` (edges)."""
    rows = weights.shape[0]
    weights = weights + PDF_EPS
    cdf = torch.cumsum(weights / weights.sum(-1, keepdim=True), -1)
    cdf = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], -1)
    if deterministic:
        u = torch.linspace(0, 1, n, device=bins.device).expand(rows, n).contiguous()
    else:
        u = torch.rand(rows, n, generator=rng, device=bins.device)
    index = torch.searchsorted(cdf, u)
    below = (index - 1).clamp(min=0)
    above = index.clamp(max=weights.shape[1])
    pair = torch.stack([below, above], -1).view(rows, 2 * n)
    cdf_pair = torch.gather(cdf, 1, pair).view(rows, n, 2)
    bins_pair = torch.gather(bins, 1, pair).view(rows, n, 2)
    denom = cdf_pair[..., 1] - cdf_pair[..., 0]
    denom = torch.where(denom < PDF_EPS, torch.ones_like(denom), denom)  # empty bins are never chosen
    return bins_pair[..., 0] + (u - cdf_pair[..., 0]) / denom * (bins_pair[..., 1] - bins_pair[..., 0])


def inverse_sphere_points(origins: Tensor, directions: Tensor, inverse_depth: Tensor) -> Tensor:
    """NeRF++ background points ``(N, P, S, 4)``: the unit-sphere point seen at ``inverse_depth``
    (1/r) along each normalised ray, and that inverse depth (official ``depth2pts_outside``)."""
    o, d = origins[:, :, None], directions[:, :, None]
    d1 = -(d * o).sum(-1) / (d * d).sum(-1)
    p_mid = o + d1.unsqueeze(-1) * d
    p_mid_norm = p_mid.norm(dim=-1)
    d2 = torch.sqrt(1.0 - p_mid_norm * p_mid_norm) * (1.0 / d.norm(dim=-1))
    p_sphere = o + (d1 + d2).unsqueeze(-1) * d
    axis = torch.cross(o.expand_as(p_sphere), p_sphere, dim=-1)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    angle = (torch.asin(p_mid_norm) - torch.asin(p_mid_norm * inverse_depth)).unsqueeze(-1)
    rotated = (
        p_sphere * torch.cos(angle)
        + torch.cross(axis.expand(*angle.shape[:-1], 3), p_sphere.expand(*angle.shape[:-1], 3), dim=-1) * torch.sin(angle)
        + axis * (axis * p_sphere).sum(-1, keepdim=True) * (1.0 - torch.cos(angle))
    )
    rotated = rotated / rotated.norm(dim=-1, keepdim=True)
    return torch.cat([rotated, inverse_depth.unsqueeze(-1)], dim=-1)


class VolumeRenderer:
    """Renders ``(N, 3 + C, R, R)`` feature maps: colour first, then the upsampler's features."""

    def __init__(self, config: StyleNeRFConfig) -> None:
        self.config = config

    def depths(self, s: Tensor) -> Tensor:
        near, far = self.config.depth_range
        return far * s + near * (1 - s)  # official get_transformed_depth without warping

    def foreground(self, nerf: ForegroundNeRF, origins: Tensor, dirs: Tensor, s: Tensor, ws: Tensor) -> tuple[Tensor, Tensor]:
        t = self.depths(s)
        points = origins[:, :, None] + t.unsqueeze(-1) * dirs[:, :, None]
        n, p, steps = s.shape
        feat, sigma = nerf(points.reshape(n, p * steps, 3), ws)
        return feat.reshape(n, p, steps, -1), sigma.reshape(n, p, steps)

    def render(self, fg: ForegroundNeRF, bg: BackgroundNeRF, ws: Tensor, background: Tensor, matrices: Tensor,
               sampling: Sampling) -> Tensor:
        cfg, res = self.config, self.config.resolution_vol
        origins, dirs = rays(matrices, res, cfg.fov)
        n, p = dirs.shape[:2]
        steps = cfg.n_ray_samples
        s = torch.linspace(0.0, 1.0, steps, device=ws.device).expand(n, p, steps)
        if sampling.stochastic:
            s = jitter(s, sampling.rng)
        feat, sigma = self.foreground(fg, origins, dirs, s, ws)
        ray_length = dirs.norm(dim=-1, keepdim=True)  # depths are along the optical axis; distances along the ray

        def weights_of(s: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
            t = self.depths(s)
            dists = torch.cat([(t[..., 1:] - t[..., :-1]) * ray_length, torch.zeros_like(t[..., :1])], dim=-1)
            return volume_weights(sigma, dists, last_opaque=False)  # the last foreground sample has no extent

        weights, _ = weights_of(s, sigma)
        if sampling.hierarchical:
            with torch.no_grad():  # sample positions carry no gradient (official)
                mid = 0.5 * (s[..., :-1] + s[..., 1:])
                fine = sample_pdf(mid.reshape(-1, steps - 1), weights.reshape(-1, steps)[:, 1:-1], steps,
                                  sampling.rng, deterministic=not sampling.stochastic).reshape(n, p, steps)
            feat_f, sigma_f = self.foreground(fg, origins, dirs, fine, ws)
            s, order = torch.sort(torch.cat([fine, s], dim=-1), dim=-1)
            sigma = torch.gather(torch.cat([sigma_f, sigma], dim=-1), -1, order)
            feat = torch.cat([feat_f, feat], dim=2)
            feat = torch.gather(feat, 2, order.unsqueeze(-1).expand(-1, -1, -1, feat.shape[-1]))
        weights, transmittance = weights_of(s, sigma)
        fg_feat = (weights.unsqueeze(-1) * feat).sum(dim=-2)

        bg_steps = cfg.n_bg_samples
        di = torch.linspace(-1.0, 0.0, bg_steps, device=ws.device).expand(n, p, bg_steps) * cfg.bg_start
        if sampling.stochastic:
            di = jitter(di, sampling.rng)
        bg_points = inverse_sphere_points(origins, dirs / dirs.norm(dim=-1, keepdim=True), -di)
        bg_feat, bg_sigma = bg(bg_points.reshape(n, p * bg_steps, 4), background)
        bg_dists = torch.cat([di[..., 1:] - di[..., :-1], torch.full_like(di[..., :1], BG_LAST_DIST)], dim=-1)
        bg_weights, _ = volume_weights(bg_sigma.reshape(n, p, bg_steps), bg_dists, last_opaque=True)
        bg_feat = (bg_weights.unsqueeze(-1) * bg_feat.reshape(n, p, bg_steps, -1)).sum(dim=-2)
        features = fg_feat + transmittance.unsqueeze(-1) * bg_feat
        return features.transpose(1, 2).reshape(n, -1, res, res)
