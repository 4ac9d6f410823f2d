"""StyleNeRF against the official code: a network pickle built from the golden fixture is
converted and rendered, and the NeRF image, the final image and the gradients with respect
to ``ws`` are compared with what facebookresearch/StyleNeRF computed (tests/fixtures/README.md)."""

from __future__ import annotations

import functools

import pytest
import torch

import lswap_core
from lswap_core.convert import convert
from tests.golden import load_golden
from tests.pickles import write_stylenerf_golden

# The recorded cameras, as the Python floats the official code was given (the fixture holds them as float32).
MODES = [[0.2, 0.7, 0.5], [0.85, 0.3, 0.5]]
STAGE_TOL = 1e-5  # coarse sampling only: the research note's stage-wise tolerance
FULL_TOL = 1e-4  # importance resampling amplifies rounding differences (searchsorted near bin edges)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These networks are tiny: one thread avoids the thread pool's overhead, which dominates them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def golden():
    return load_golden("stylenerf")


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stylenerf")
    export = convert(write_stylenerf_golden(folder / "ffhq_64.pkl", golden()), folder / "g.safetensors")
    return lswap_core.load_generator("stylenerf", weights=export).eval()


def render(generator, *, hierarchical: bool, camera=None):
    g = golden()
    ws = generator.mapping(g.inputs["z"]).detach().requires_grad_(True)
    camera = g.inputs["cam2world"] if camera is None else camera
    image, nerf = generator.synthesis(ws, camera=camera, background=g.inputs["background"], hierarchical=hierarchical,
                                      return_nerf=True)
    (image.square().mean() + nerf.mean()).backward()
    return image.detach(), nerf.detach(), ws.grad


def assert_close(found, expected, tol):
    assert (found - expected).abs().max().item() <= tol


def test_mapping_and_truncation_match(generator):
    g = golden()
    z = g.inputs["z"]
    truncated = generator.mapping(z, truncation_psi=g.meta["truncation"]["psi"], truncation_cutoff=g.meta["truncation"]["cutoff"])
    assert_close(truncated, g.outputs["ws_trunc"], 1e-6)


def test_stage_wise_parity_without_importance_resampling(generator):
    g = golden()
    image, nerf, grad = render(generator, hierarchical=False)
    assert_close(nerf, g.outputs["img_nerf_flat"], STAGE_TOL)
    assert_close(image, g.outputs["img_flat"], STAGE_TOL)
    assert_close(grad, g.outputs["grad_ws_flat"], 1e-6)
    assert grad[:, :10].abs().sum() > 0  # the NeRF rows receive gradients too


def test_full_default_path_parity(generator):
    g = golden()
    image, nerf, grad = render(generator, hierarchical=True)
    assert_close(nerf, g.outputs["img_nerf_full"], FULL_TOL)
    assert_close(image, g.outputs["img_full"], FULL_TOL)
    assert_close(grad, g.outputs["grad_ws_full"], 1e-5)


def test_linear_cameras_are_the_official_poses(generator):
    from lswap_plugins.stylenerf.cameras import cam2world_from_uvr

    g = golden()
    assert torch.equal(torch.tensor(MODES, dtype=torch.float32), g.inputs["modes"])
    assert_close(cam2world_from_uvr(torch.tensor(MODES, dtype=torch.float64), generator.config), g.inputs["cam2world"], 1e-7)
    image, nerf, _ = render(generator, hierarchical=False, camera=torch.tensor(MODES, dtype=torch.float64))
    assert_close(nerf, g.outputs["img_nerf_flat"], STAGE_TOL)
    assert_close(image, g.outputs["img_flat"], STAGE_TOL)
