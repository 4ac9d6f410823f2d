"""ArcFace embedders: IR-SE-50 (pSp/e4e/PTI) and insightface iresnet, their checkpoints and crops.

The iresnet is checked against ``tests/fixtures/arcface_iresnet.safetensors``,
recorded from insightface's own ``iresnet.py`` (see ``tests/fixtures/README.md``).
IR-SE has no golden fixture (its 16-channel minimum for squeeze-and-excitation
makes even a tiny one too large), so its tests stay with hand-written key names
and the formula test in ``test_backbones.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lswap_plugins.backbones.face_templates import ARCFACE_FIVE_POINTS_112, ffhq_five_points

import lswap_core
from lswap_core.conventions import warp_affine
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError
from lswap_core.testing import ConverterConformance, EmbedderConformance, random_images
from tests.golden import load_golden

TINY_IRSE = {"backbone": "ir_se50", "blocks": (1, 2, 1, 1), "width": 16, "embedding_dim": 8}
TINY_IRESNET = {"backbone": "iresnet50", "blocks": (1, 2, 1, 1), "width": 8, "embedding_dim": 8}
# Measured lswap vs insightface (torch 2.14.1 recorded, 2.13 here, CPU): 0 for the features (|f| <= 2.3)
# and for the input gradient (|g| <= 1.0); the tolerance leaves room for other CPU kernels only.
GOLDEN_ATOL = 1e-5


@pytest.fixture(scope="module")
def iresnet_golden():
    return load_golden("arcface_iresnet")


def write_backbone_pth(path, golden, legacy=False):
    """insightface's ``backbone.pth``: ``torch.save(backbone.state_dict())`` of the recorded network."""
    torch.save(golden.state, path, _use_new_zipfile_serialization=not legacy)
    return path


class TestIRSEEmbedder(EmbedderConformance):
    component_name = "arcface"
    config = TINY_IRSE


class TestIResNetEmbedder(EmbedderConformance):
    component_name = "arcface"
    config = TINY_IRESNET


def randomised(config: dict, seed: int = 0):
    """A tiny embedder with random batch-norm statistics and PReLU slopes, as a trained one has."""
    torch.manual_seed(seed)
    embedder = lswap_core.load_embedder("arcface", **config)
    with torch.no_grad():
        for name, tensor in embedder.state_dict().items():
            if name.endswith("running_mean"):
                tensor.normal_(0, 0.1)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
            elif name.endswith(("prelu.weight", "input_layer.2.weight")) or ".res_layer.2." in name:
                tensor.uniform_(0.1, 0.4)
    return embedder


def irse_state(config: dict = TINY_IRSE, seed: int = 0) -> dict[str, torch.Tensor]:
    """An IR-SE state dict laid out as ``model_ir_se50.pth`` (lswap's tensors without ``net.``); no golden exists for IR-SE."""
    return {key[len("net."):]: value for key, value in randomised(config, seed).state_dict().items()}


def test_irse_key_layout_is_treb1en():
    keys = set(irse_state())
    for key in (
        "input_layer.0.weight", "input_layer.1.running_var", "input_layer.2.weight",
        "body.0.shortcut_layer.0.weight",  # 16 -> 16 channels at stride 2 is a max-pool: no weights
        "body.1.shortcut_layer.1.running_mean", "body.1.res_layer.0.weight", "body.1.res_layer.2.weight",
        "body.1.res_layer.5.fc1.weight", "body.1.res_layer.5.fc2.weight", "body.2.res_layer.4.bias",
        "output_layer.0.weight", "output_layer.3.weight", "output_layer.4.running_var",
    ):
        if key == "body.0.shortcut_layer.0.weight":
            assert key not in keys
        else:
            assert key in keys, key


def test_iresnet_key_layout_is_insightface(iresnet_golden):
    """lswap's iresnet has exactly the tensors of insightface's, with the same shapes."""
    config = iresnet_golden.meta["lswap_config"]
    embedder = lswap_core.load_embedder("arcface", **config)
    ours = {key[len("net."):]: tuple(value.shape) for key, value in embedder.state_dict().items()}
    assert ours == {key: tuple(value.shape) for key, value in iresnet_golden.state.items()}
    keys = set(iresnet_golden.state)
    for key in (
        "conv1.weight", "bn1.running_mean", "prelu.weight", "layer1.0.bn1.weight", "layer1.0.conv1.weight",
        "layer1.0.bn2.weight", "layer1.0.prelu.weight", "layer1.0.conv2.weight", "layer1.0.bn3.weight",
        "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var", "layer2.1.conv2.weight",
        "bn2.weight", "fc.weight", "fc.bias", "features.weight", "features.running_var",
    ):
        assert key in keys, key


@pytest.mark.parametrize(
    ("preset", "last_block", "head"),
    [
        ("ir_se50", "body.23.res_layer.5.fc2.weight", "output_layer.3.weight"),  # 3 + 4 + 14 + 3 units
        ("iresnet50", "layer3.13.conv2.weight", "fc.weight"),
        ("iresnet100", "layer3.29.conv2.weight", "fc.weight"),
    ],
)
def test_presets_are_the_published_networks(preset, last_block, head):
    embedder = lswap_core.load_embedder("arcface", preset=preset)
    shapes = {key[len("net."):]: tuple(value.shape) for key, value in embedder.state_dict().items()}
    assert last_block in shapes and last_block.replace(".23.", ".24.").replace(".13.", ".14.").replace(".29.", ".30.") not in shapes
    assert shapes[head] == (512, 512 * 7 * 7)  # a 7x7 map of 512 channels from 112x112 inputs
    assert embedder.embedding_dim == 512 and embedder.input_convention.size == (112, 112)


def test_e4e_crop_is_idloss_extract_feats():
    embedder = lswap_core.load_embedder("arcface", **TINY_IRSE)
    images = random_images(2, 1024, seed=4) + 0.2 * torch.randn(2, 3, 1024, 1024, generator=torch.Generator().manual_seed(1))
    # psp.py face_pool (AdaptiveAvgPool2d((256, 256))), then id_loss.py extract_feats.
    pooled = torch.nn.AdaptiveAvgPool2d((256, 256))(images)
    expected = torch.nn.AdaptiveAvgPool2d((112, 112))(pooled[:, :, 35:223, 32:220])
    torch.testing.assert_close(embedder.prepare(images), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(embedder.prepare(pooled), expected, rtol=0, atol=1e-6)
    assert embedder.input_convention.crop == (32 / 256, 35 / 256, 220 / 256, 223 / 256)


def test_arcface_crop_puts_the_ffhq_landmarks_on_insightfaces_template():
    embedder = lswap_core.load_embedder("arcface", **TINY_IRESNET)
    assert embedder.config.crop_mode == "arcface"
    size = 512
    rows, columns = np.mgrid[0:size, 0:size]
    images = -torch.ones(1, 3, size, size)
    for x, y in ffhq_five_points(size, size):  # a bright disc at each landmark
        images[:, :, torch.from_numpy((columns - x) ** 2 + (rows - y) ** 2 < 25)] = 1.0
    crop = (embedder.prepare(images)[0, 0] + 1).numpy() / 2
    rows, columns = np.mgrid[0:112, 0:112]
    for x, y in ARCFACE_FIVE_POINTS_112:
        near = crop * ((columns - x) ** 2 + (rows - y) ** 2 < 49)
        centroid = np.array([(near * columns).sum(), (near * rows).sum()]) / near.sum()
        # The five points do not fit a similarity exactly: least-squares residuals stay under 2.5 px.
        assert np.hypot(*(centroid - (x, y))) < 2.5, f"landmark at {centroid}, template ({x:.1f}, {y:.1f})"
    assert crop.sum() == pytest.approx(5 * np.pi * (5 * 112 / 400) ** 2, rel=0.2)  # the five discs, nothing else


def test_arcface_crop_is_the_least_squares_similarity():
    embedder = lswap_core.load_embedder("arcface", **TINY_IRESNET)
    fitted = embedder._arcface_matrix @ np.c_[ffhq_five_points(144, 144), np.ones(5)].T
    residual = fitted.T - ARCFACE_FIVE_POINTS_112
    assert np.abs(residual.sum(0)).max() < 1e-9  # least squares with a translation: residuals sum to zero
    assert np.hypot(*residual.T).max() < 2.5


def test_warp_affine_matches_direct_indexing():
    images = torch.randn(2, 3, 20, 24)
    shift = np.array([[1.0, 0.0, -3.0], [0.0, 1.0, -5.0]])  # output (u, v) = input (u + 3, v + 5)
    warped = warp_affine(images, shift, 8, fill=-1.0)
    torch.testing.assert_close(warped, images[:, :, 5:13, 3:11])
    outside = warp_affine(images, np.array([[1.0, 0.0, 100.0], [0.0, 1.0, 0.0]]), 4)
    assert torch.equal(outside, -torch.ones_like(outside))  # black beyond the image, as cv2.warpAffine's border


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_iresnet_reproduces_insightface(tmp_path, iresnet_golden, legacy):
    """backbone.pth -> convert -> the network gives insightface's features and input gradient."""
    export = convert(write_backbone_pth(tmp_path / "backbone.pth", iresnet_golden, legacy), tmp_path / "arcface.safetensors")
    embedder = lswap_core.load_embedder("arcface", weights=export)
    config = iresnet_golden.meta["lswap_config"]
    assert embedder.config.backbone == "iresnet50" and embedder.config.blocks == tuple(config["blocks"])
    assert (embedder.config.width, embedder.config.embedding_dim) == (config["width"], config["embedding_dim"])
    # arcface_torch/inference.py: img.div_(255).sub_(0.5).div_(0.5)
    images = iresnet_golden.inputs["image"].float().div(255).sub(0.5).div(0.5).requires_grad_(True)
    features = embedder(images)  # the network alone: insightface's features are not normalised
    (features * iresnet_golden.inputs["projection"]).sum().backward()
    torch.testing.assert_close(features.detach(), iresnet_golden.outputs["features"], rtol=0, atol=GOLDEN_ATOL)
    torch.testing.assert_close(images.grad[:, :, ::4, ::4], iresnet_golden.outputs["input_gradient_every4"], rtol=0, atol=GOLDEN_ATOL)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_irse_state_dict_converts_unchanged(tmp_path, legacy):
    state = irse_state()
    torch.save(state, tmp_path / "model_ir_se50.pth", _use_new_zipfile_serialization=not legacy)  # model_ir_se50.pth predates the zip format
    export = convert(tmp_path / "model_ir_se50.pth", tmp_path / "arcface.safetensors")
    embedder = lswap_core.load_embedder("arcface", weights=export)
    assert embedder.config.backbone == "ir_se50" and embedder.config.blocks == TINY_IRSE["blocks"]
    converted = embedder.state_dict()
    assert set(converted) == {f"net.{key}" for key in state}
    for key, value in state.items():
        assert torch.equal(converted[f"net.{key}"], value), key


def test_published_depths_convert_to_the_preset_config(tmp_path):
    # Only the depth matters here: a full-depth iresnet100 layout of lswap's, at width 8.
    state = {key[len("net."):]: value for key, value in randomised({"backbone": "iresnet100", "width": 8, "embedding_dim": 8}).state_dict().items()}
    torch.save(state, tmp_path / "backbone.pth")
    export = convert(tmp_path / "backbone.pth", tmp_path / "r100.safetensors")
    embedder = lswap_core.load_embedder("arcface", weights=export)
    assert (embedder.config.backbone, embedder.config.blocks) == ("iresnet100", None)


def test_irse_embedding_is_the_normalised_backbone_output():
    embedder = randomised(TINY_IRSE)
    images = random_images(2, 256, seed=7)
    with torch.no_grad():
        crops = embedder.prepare(images)
        body = embedder.net
        features = body.output_layer(body.body(body.input_layer(crops)))
        torch.testing.assert_close(embedder.embed(images), features / features.norm(dim=1, keepdim=True))


def test_each_layout_is_recognised_by_its_own_converter(tmp_path, iresnet_golden):
    torch.save(irse_state(), tmp_path / "model_ir_se50.pth")
    write_backbone_pth(tmp_path / "backbone.pth", iresnet_golden)
    assert find_converter(tmp_path / "model_ir_se50.pth").name == "arcface-ir-se"
    assert find_converter(tmp_path / "backbone.pth").name == "arcface-iresnet"


def test_a_checkpoint_of_another_architecture_is_refused_by_name(tmp_path, iresnet_golden):
    write_backbone_pth(tmp_path / "backbone.pth", iresnet_golden)
    with pytest.raises(CheckpointError, match=r"lacks input_layer\.0\.weight.*so it is not an IR-SE"):
        convert(tmp_path / "backbone.pth", tmp_path / "out.safetensors", format="arcface-ir-se")
    state = irse_state()
    state["body.3.res_layer.5.fc3.weight"] = torch.randn(2, 2, 1, 1)
    del state["output_layer.4.running_mean"]
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"missing: net\.output_layer\.4\.running_mean; unexpected: net\.body\.3\.res_layer\.5\.fc3"):
        convert(tmp_path / "odd.pth", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_smooth_embedder_checkpoint_is_not_taken_for_arcface(tmp_path):
    # LatentSwap's embedder as a plain state dict (resnet.*, last.*): torchvision names, like iresnet's in part.
    smooth = load_golden("smoothswap").state
    torch.save({key[len("net."):]: value for key, value in smooth.items()}, tmp_path / "x.pth")
    with pytest.raises(Exception, match="no converter recognises"):
        find_converter(tmp_path / "x.pth")


class TestIRSEConverter(ConverterConformance):
    converter_name = "arcface-ir-se"

    def make_sample(self, folder):
        torch.save(irse_state(), folder / "model_ir_se50.pth")
        return folder / "model_ir_se50.pth"


class TestIResNetConverter(ConverterConformance):
    converter_name = "arcface-iresnet"

    def make_sample(self, folder):
        return write_backbone_pth(folder / "backbone.pth", load_golden("arcface_iresnet"))
