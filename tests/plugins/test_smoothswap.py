"""The smooth identity embedder: conformance, official Lightning checkpoints, input convention.

Official behaviour comes from ``tests/fixtures/smoothswap.safetensors``, recorded
from LatentSwap's model/embedder.py on torchvision's resnet50, loaded and fed as
latentswap_pl.py does (see ``tests/fixtures/README.md``).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import lswap_core
from lswap_core.checkpoints import save_component
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError
from lswap_core.testing import ConverterConformance, EmbedderConformance, random_images
from tests.golden import load_golden
from tests.pickles import write_lightning_checkpoint

TINY = {"layers": (1, 2, 1, 1), "width": 4, "fc_dim": 32, "hidden_dim": 24, "embedding_dim": 16, "input_size": 64}


class TestSmoothSwapEmbedder(EmbedderConformance):
    component_name = "smoothswap"
    config = TINY


@pytest.fixture(scope="module")
def golden():
    return load_golden("smoothswap")


def official_state() -> dict[str, torch.Tensor]:
    """The recorded embedder's state dict under the official Lightning names (``net.`` + module names)."""
    return dict(load_golden("smoothswap").state)


def write_official(path, state, **hyper_parameters):
    extra = {"head.weight": torch.randn(3, 16)}  # training-only modules beside `net` are left out
    return write_lightning_checkpoint(path, {**state, **extra}, {"model": {"lr": 1e-4, "sizes": [256, 512]}, **hyper_parameters})


def test_official_key_layout(golden):
    """lswap's embedder has exactly the tensors of LatentSwap's IdentityEmbedder, with the same shapes."""
    embedder = lswap_core.load_embedder("smoothswap", **golden.meta["lswap_config"])
    ours = {f"net.{key}": tuple(value.shape) for key, value in embedder.state_dict().items()}
    assert ours == {key: tuple(value.shape) for key, value in golden.state.items()}
    keys = set(golden.state)
    for key in (
        "net.resnet.conv1.weight",
        "net.resnet.bn1.running_var",
        "net.resnet.layer1.0.conv3.weight",
        "net.resnet.layer1.0.downsample.0.weight",
        "net.resnet.layer2.1.bn2.weight",
        "net.resnet.layer4.0.downsample.1.running_mean",
        "net.resnet.fc.weight",
        "net.last.0.weight",
        "net.last.1.num_batches_tracked",
        "net.last.3.bias",
        "net.last.4.running_var",
    ):
        assert key in keys, key


def test_default_is_the_official_architecture():
    embedder = lswap_core.load_embedder("smoothswap")
    shapes = {key: tuple(value.shape) for key, value in embedder.state_dict().items()}
    assert shapes["resnet.fc.weight"] == (2048, 2048)  # resnet50(num_classes=2048)
    assert shapes["last.0.weight"] == (1024, 2048) and shapes["last.3.weight"] == (512, 1024)
    assert shapes["resnet.layer3.5.conv2.weight"] == (256, 256, 3, 3) and "resnet.layer3.6.conv1.weight" not in shapes
    assert embedder.embedding_dim == 512 and embedder.input_convention.size == (256, 256)
    assert embedder.last[2].negative_slope == 0.01


def test_lightning_checkpoint_converts_and_embeds_like_the_official_forward(tmp_path, golden):
    """The recorded checkpoint, converted, embeds 512x512 generator images as latentswap_pl.py does:
    ``identity_embedder(F.interpolate((1 + x) / 2, size=256, mode='bilinear'))``, shrinking without antialiasing.

    Measured lswap vs official (torch 2.14.1 recorded, 2.13 here, CPU): embeddings 6e-8 (unit vectors),
    input gradient 5.7e-6 (|g| <= 16). Tolerances: 1e-6 and 5e-5.
    """
    source = write_official(tmp_path / "epoch=5-step=109999.ckpt", golden.state)
    assert type(find_converter(source)).__name__ == "SmoothSwapConverter"
    export = convert(source, tmp_path / "smoothswap.safetensors")
    embedder = lswap_core.load_embedder("smoothswap", weights=export)
    config = golden.meta["lswap_config"]
    assert embedder.config.layers == tuple(config["layers"]) and embedder.config.width == config["width"]
    assert (embedder.config.fc_dim, embedder.config.hidden_dim, embedder.config.embedding_dim) == (32, 24, 16)
    assert embedder.config.input_size == 256  # not in the file: the official convention
    lowres = golden.inputs["images_lowres"].clone().requires_grad_(True)
    images = lowres.repeat_interleave(32, 2).repeat_interleave(32, 3)  # 16x16 blocks of 32x32 pixels, as recorded
    embeddings = embedder.embed(images)
    (embeddings * golden.inputs["projection"]).sum().backward()
    torch.testing.assert_close(embeddings.detach(), golden.outputs["embeddings"], rtol=0, atol=1e-6)
    torch.testing.assert_close(lowres.grad, golden.outputs["lowres_gradient"], rtol=0, atol=5e-5)


def test_antialias_option_changes_only_the_resize():
    torch.manual_seed(0)
    plain = lswap_core.load_embedder("smoothswap", **TINY)
    filtered = lswap_core.load_embedder("smoothswap", antialias=True, **TINY)
    filtered.load_state_dict(plain.state_dict())
    images = random_images(1, 256, seed=1) + 0.3 * torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = plain(F.interpolate((images + 1) / 2, size=64, mode="bilinear", antialias=True))
        torch.testing.assert_close(filtered.embed(images), expected)
        assert not torch.allclose(plain.embed(images), expected)


def test_grayscale_and_rgba_batches_are_converted():
    embedder = lswap_core.load_embedder("smoothswap", **TINY)
    rgb = random_images(2, 64)
    grey = rgb.mean(dim=1, keepdim=True)
    with torch.no_grad():
        torch.testing.assert_close(embedder.embed(grey), embedder.embed(grey.expand(-1, 3, -1, -1)))
        torch.testing.assert_close(embedder.embed(torch.cat([rgb, torch.ones(2, 1, 64, 64)], 1)), embedder.embed(rgb))


def test_checkpoint_without_the_embedder_is_refused_by_name(tmp_path):
    state = {"net.mixer.0.weight": torch.randn(4, 4)}
    source = write_lightning_checkpoint(tmp_path / "mixer.ckpt", state, {"lr": 1.0})
    with pytest.raises(CheckpointError, match=r"lacks net\.resnet\.conv1\.weight"):
        convert(source, tmp_path / "out.safetensors", format="smoothswap")
    assert not (tmp_path / "out.safetensors").exists()


def test_checkpoint_of_another_embedder_architecture_names_the_keys(tmp_path):
    state = official_state()
    state["net.last.5.weight"] = torch.randn(16, 16)  # a head one layer longer
    del state["net.resnet.layer2.1.conv1.weight"]
    source = write_official(tmp_path / "other.ckpt", state)
    with pytest.raises(CheckpointError, match=r"missing: resnet\.layer2\.1\.conv1\.weight.*unexpected: last\.5\.weight"):
        convert(source, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_export_of_another_component_is_refused(tmp_path):
    arcface = lswap_core.load_embedder("arcface", blocks=(1, 1, 1, 1), width=16, embedding_dim=8)
    path = save_component(arcface, tmp_path / "arcface.safetensors")
    with pytest.raises(CheckpointError, match="not the identity embedder 'smoothswap'"):
        lswap_core.load_embedder("smoothswap", weights=path)


class TestSmoothSwapConverter(ConverterConformance):
    converter_name = "smoothswap"

    def make_sample(self, folder):
        return write_official(folder / "epoch=5-step=109999.ckpt", official_state())
