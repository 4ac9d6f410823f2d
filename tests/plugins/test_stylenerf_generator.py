"""The StyleNeRF generator: conformance (with cameras), geometry, cameras, views and bad input."""

from __future__ import annotations

import pytest
import torch

import lswap_core
from lswap_core.errors import InputError
from lswap_core.layers import group_of, layer_mask
from lswap_core.testing import GeneratorConformance, seeded
from lswap_plugins.stylenerf.config import StyleNeRFConfig


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These networks are tiny: one thread avoids the thread pool's overhead, which dominates them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TestStyleNeRFConformance(GeneratorConformance):
    component_name = "stylenerf"
    preset = "tiny"
    output_bound = 8.0  # random weights; the NeRF features are unnormalised


@pytest.fixture(scope="module")
def tiny():
    return lswap_core.load_generator("stylenerf", preset="tiny", init_seed=0).eval()


@pytest.mark.parametrize(("resolution", "num_ws"), [(64, 13), (256, 17), (512, 19), (1024, 21)])
def test_rows_per_resolution_match_the_official_networks(resolution, num_ws):
    from torch._subclasses.fake_tensor import FakeTensorMode

    from lswap_plugins.stylenerf.generator import StyleNeRFGenerator

    with FakeTensorMode():
        generator = StyleNeRFGenerator(StyleNeRFConfig(resolution=resolution))
    assert generator.num_ws == num_ws
    groups = [group_of(r) for r in generator.layer_resolutions]
    assert groups[:10] == ["middle"] * 10  # the foreground NeRF, rendered at 32²
    assert groups[10:13] == ["fine1"] * 3  # b64's conv0, conv1 and torgb (shared with b128.conv0)


def test_layer_groups_of_the_1024_network():
    from torch._subclasses.fake_tensor import FakeTensorMode

    from lswap_plugins.stylenerf.generator import StyleNeRFGenerator

    with FakeTensorMode():
        generator = StyleNeRFGenerator(StyleNeRFConfig())
    assert generator.layer_resolutions == (32,) * 10 + (64,) * 3 + (128,) * 2 + (256,) * 2 + (512,) * 2 + (1024,) * 2
    assert layer_mask(generator.layer_resolutions, ["fine2"]).sum() == 6
    with pytest.raises(InputError, match="no coarse layers"):
        layer_mask(generator.layer_resolutions, ["coarse"])


def test_camera_forms_and_the_front_default_agree(tiny):
    ws = tiny.mapping(torch.randn(2, tiny.z_dim, generator=seeded(0)))
    front = tiny.synthesis(ws)
    assert torch.equal(front, tiny.synthesis(ws, camera=tiny.named_views["front"]))
    from lswap_plugins.stylenerf.cameras import cam2world_from_uvr

    matrices = cam2world_from_uvr(torch.tensor([[0.5, 0.5, 0.5]]), tiny.config).expand(2, 4, 4)
    torch.testing.assert_close(tiny.synthesis(ws, camera=matrices), front, atol=1e-6, rtol=0)
    image, nerf = tiny.synthesis(ws, return_nerf=True)
    assert nerf.shape == (2, 3, tiny.config.resolution_vol, tiny.config.resolution_vol) and torch.equal(image, front)


def test_front_camera_sits_on_the_x_axis_and_views_span_the_training_range(tiny):
    from lswap_plugins.stylenerf.cameras import cam2world_from_uvr

    views = tiny.named_views
    assert list(views) == ["front", "left", "right", "up", "down"]
    matrices = cam2world_from_uvr(torch.cat(list(views.values())).double(), tiny.config)
    torch.testing.assert_close(matrices[0, :3, 3], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6, rtol=0)
    yaw = torch.atan2(matrices[:, 1, 3], matrices[:, 0, 3])
    torch.testing.assert_close(yaw[1:3], torch.tensor([-0.3, 0.3]), atol=1e-6, rtol=0)
    assert matrices[3, 2, 3] > 0 > matrices[4, 2, 3]  # up looks from above, down from below


def test_sampled_cameras_follow_the_ffhq_pose_prior(tiny):
    cameras = tiny.sample_cameras(4000, rng=seeded(1))
    assert cameras.shape == (4000, 3)
    yaw = -0.3 + 0.6 * cameras[:, 0]
    assert abs(yaw.mean()) < 0.02 and abs(yaw.std() - 0.3) < 0.02


def test_background_comes_from_the_rng_or_is_given(tiny):
    ws = tiny.mapping(torch.randn(1, tiny.z_dim, generator=seeded(0)))
    drawn = tiny.synthesis(ws, rng=seeded(3))
    given = tiny.synthesis(ws, background=torch.randn(1, tiny.config.z_dim_bg, generator=seeded(3)))
    assert torch.equal(drawn, given)
    assert not torch.equal(drawn, tiny.synthesis(ws))  # without rng: the zero latent


def test_bad_cameras_backgrounds_and_view_names_are_one_line_errors(tiny):
    ws = tiny.mapping(torch.randn(2, tiny.z_dim, generator=seeded(0)))
    for camera in (torch.zeros(2, 2), torch.zeros(2, 3, 3), torch.zeros(3, 3), torch.zeros(4)):
        with pytest.raises(InputError, match="camera"):
            tiny.synthesis(ws, camera=camera)
    with pytest.raises(InputError, match=r"\(2, 8\)"):
        tiny.synthesis(ws, background=torch.zeros(2, 3))
    with pytest.raises(InputError, match="unknown view 'back'") as error:
        tiny.view("back")
    assert "front, left, right, up, down" in str(error.value.hint)
    with pytest.raises(InputError, match="noise mode"):
        tiny.synthesis(ws, noise_mode="loud")


def test_random_sampling_is_stochastic_and_seeded(tiny):
    ws = tiny.mapping(torch.randn(1, tiny.z_dim, generator=seeded(0)))
    first = tiny.synthesis(ws, noise_mode="random", rng=seeded(4), background=torch.zeros(1, 8))
    assert torch.equal(first, tiny.synthesis(ws, noise_mode="random", rng=seeded(4), background=torch.zeros(1, 8)))
    assert not torch.equal(first, tiny.synthesis(ws, noise_mode="random", rng=seeded(5), background=torch.zeros(1, 8)))
    assert not torch.equal(first, tiny.synthesis(ws, background=torch.zeros(1, 8)))
