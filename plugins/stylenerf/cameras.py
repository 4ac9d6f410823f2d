"""StyleNeRF's cameras: poses on a sphere looking at the origin, rays through a pixel grid.

After the official ``dnnlib/camera.py`` and ``CameraRay`` (``training/stylenerf.py``):
a camera ``(u, v, r)`` in [0, 1] maps linearly onto yaw ``range_u``, polar angle
``range_v`` and the radius; the eye sits at ``r·(sin v cos u, sin v sin u, cos v)``,
and the camera-to-world rotation is GRAF's look-at with up = +z (the camera looks
along its −z axis). Pixels lie on a centred grid with row 0 at +y.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import Tensor

from lswap_core.errors import InputError

from .config import StyleNeRFConfig

VIEW_NAMES = ("front", "left", "right", "up", "down")


class CameraShapeError(InputError):
    """A camera tensor that is neither (N, 3) (u, v, r) nor (N, 4, 4) camera-to-world."""


def intrinsics_inverse(fov: float) -> Tensor:
    """``K⁻¹ (4, 4)`` for a square image spanning [−1, 1] (official ``get_camera_mat``)."""
    focal = np.float32(1.0 / np.tan(0.5 * fov * np.pi / 180.0))
    k = torch.tensor([[focal, 0, 0, 0], [0, focal, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.float32)
    return torch.inverse(k)  # inverted, not 1/f, to round as the official code does


def look_at(eye: Tensor) -> Tensor:
    """Rotations ``(N, 3, 3)`` whose columns are the camera axes x, y, z for eyes ``(N, 3)``."""

    def normalize(x: Tensor) -> Tensor:
        return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-8)

    up = torch.tensor([0.0, 0.0, 1.0], device=eye.device).expand_as(eye)
    z_axis = normalize(eye)
    x_axis = normalize(torch.cross(up, z_axis, dim=-1))
    y_axis = normalize(torch.cross(z_axis, x_axis, dim=-1))
    return torch.stack([x_axis, y_axis, z_axis], dim=-1)


def cam2world_from_uvr(uvr: Tensor, config: StyleNeRFConfig) -> Tensor:
    """Camera-to-world matrices ``(N, 4, 4)`` of linear cameras ``(N, 3)`` (official ``get_camera_pose``)."""
    uvr = uvr.to(torch.float64)  # the official code computes the angles in numpy float64
    u0, u1 = config.range_u
    v0, v1 = config.range_v
    yaw = u0 + uvr[:, 0] * (u1 - u0)
    polar = v0 + uvr[:, 1] * (v1 - v0)
    eye = torch.stack([polar.sin() * yaw.cos(), polar.sin() * yaw.sin(), polar.cos()], dim=-1).float()
    eye = eye * config.radius  # range_radius is a single value
    matrices = torch.eye(4).repeat(uvr.shape[0], 1, 1)
    matrices[:, :3, :3] = look_at(eye)
    matrices[:, :3, 3] = eye
    return matrices


def cam2world(camera: Tensor | None, batch: int, config: StyleNeRFConfig, device: torch.device) -> Tensor:
    """``(batch, 4, 4)`` camera-to-world matrices from a camera argument (``None`` is the front view)."""
    if camera is None:
        camera = torch.tensor([[0.5, 0.5, 0.5]])
    if not isinstance(camera, Tensor) or camera.ndim not in (2, 3) or tuple(camera.shape[1:]) not in ((3,), (4, 4)):
        shape = tuple(camera.shape) if isinstance(camera, Tensor) else type(camera).__name__
        raise CameraShapeError(
            f"camera of shape {shape} is not (N, 3) (u, v, r) or (N, 4, 4) camera-to-world",
            hint="pass generator.sample_cameras(n) or a view from generator.named_views",
        )
    if camera.shape[0] not in (1, batch):
        raise CameraShapeError(f"{camera.shape[0]} cameras for {batch} codes", hint="pass one camera per code, or one for all")
    camera = camera.detach().cpu()  # float64 (u, v, r) keep their precision: the official angles are float64
    matrices = cam2world_from_uvr(camera, config) if camera.ndim == 2 else camera.float()
    return matrices.expand(batch, 4, 4).to(device)


def pixel_grid(resolution: int) -> Tensor:
    """Image-plane points ``(resolution², 2)``: centres of a grid over [−1, 1], row-major, row 0 at +y."""
    extent = 1 - 1 / resolution  # official ray_align_corner=False
    coords = torch.linspace(-extent, extent, resolution)
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([x, -y], dim=-1).reshape(-1, 2)


def rays(matrices: Tensor, resolution: int, fov: float) -> tuple[Tensor, Tensor]:
    """Origins ``(N, 1, 3)`` and unnormalised directions ``(N, P, 3)`` (camera-space z component −1)."""
    n = matrices.shape[0]
    pixels = pixel_grid(resolution).to(matrices.device)
    homogeneous = torch.cat([pixels, -torch.ones_like(pixels[:, :1]), torch.ones_like(pixels[:, :1])], dim=1)
    transform = matrices @ intrinsics_inverse(fov).to(matrices.device)  # official: world_mat @ camera_mat @ p
    points = (transform @ homogeneous.t().expand(n, 4, -1))[:, :3].transpose(1, 2)
    origins = matrices[:, None, :3, 3]
    return origins, points - origins


def sample_uvr(n: int, rng: torch.Generator | None) -> Tensor:
    """FFHQ's pose prior in linear units: yaw and pitch Gaussian, their ranges at ±1σ (official
    ``gaussian_camera``): u, v = 0.5 + 0.5·N(0, 1); r is unused (radius fixed)."""
    uv = 0.5 + 0.5 * torch.randn(n, 2, generator=rng)
    return torch.cat([uv, torch.full((n, 1), 0.5)], dim=1)


def named_views() -> dict[str, Tensor]:
    """The front view and the edges of the training range: left/right turn the camera to the
    viewer's left/right (yaw ∓0.3 rad), up/down raise/lower it (pitch ∓0.155 rad)."""
    views = {"front": (0.5, 0.5), "left": (0.0, 0.5), "right": (1.0, 0.5), "up": (0.5, 0.0), "down": (0.5, 1.0)}
    return {name: torch.tensor([[u, v, 0.5]]) for name, (u, v) in views.items()}


def orbit_uvr(frames: int, config: StyleNeRFConfig) -> Tensor:
    """``(frames, 3)`` linear cameras on the official video path (``rotation_camera3``): yaw 0.4 sin(2πt) and
    pitch π/2 + 0.2 cos(2πt), t in [0, 1), mapped back to (u, v); they reach a little past the training range."""
    t = torch.arange(frames, dtype=torch.float64) / frames
    yaw = 0.4 * torch.sin(2 * torch.pi * t)
    pitch = torch.pi / 2 + 0.2 * torch.cos(2 * torch.pi * t)
    (u0, u1), (v0, v1) = config.range_u, config.range_v
    u, v = (yaw - u0) / (u1 - u0), (pitch - v0) / (v1 - v0)
    return torch.stack([u, v, torch.full_like(u, 0.5)], dim=1)


def view(name: str) -> Tensor:
    """The ``(1, 3)`` camera of a named view; unknown names list the known ones."""
    views = named_views()
    if name not in views:
        raise UnknownViewError(f"unknown view {name!r}", hint=f"choose from: {', '.join(VIEW_NAMES)}")
    return views[name]


class UnknownViewError(InputError):
    """A view name the generator does not have."""


