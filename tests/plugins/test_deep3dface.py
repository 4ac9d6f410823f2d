"""The deep3dface shape model: regressor checkpoints, the Basel face model, projection and crops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.io import loadmat

import lswap_core
from lswap_core.checkpoints import save_component
from lswap_core.convert import convert
from lswap_core.errors import CheckpointError, InputError
from lswap_core.interfaces import ShapeCoefficients
from lswap_core.testing import ConverterConformance, ShapeModelConformance, random_images
from lswap_plugins.backbones.face_templates import ffhq_five_points
from lswap_plugins.deep3dface.crop import crop_window, five_point_crop, pos
from lswap_plugins.deep3dface.model import join_official, split_official
from tests.face_models import write_bfm, write_reference

TINY = {"layers": (1, 1, 2, 1), "width": 4}


@pytest.fixture(scope="module")
def face_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bfm")
    return write_bfm(folder / "BFM_model_front.mat"), write_reference(folder / "similarity_Lm3D_all.mat")


def build(face_files, **config):
    torch.manual_seed(0)
    model = lswap_core.load_shape_model("deep3dface", **{**TINY, **config})
    model.load_face_model(*face_files)
    return model


class TestDeep3DFace(ShapeModelConformance):
    component_name = "deep3dface"
    config = TINY

    @pytest.fixture(autouse=True)
    def _face_files(self, face_files):
        self.face_files = face_files

    def build(self):
        model = super().build()
        model.load_face_model(*self.face_files)
        return model


class TestDeep3DFaceOfficialCrop(TestDeep3DFace):
    config = {**TINY, "crop": "resize"}


def official_checkpoint(path, seed=0, **config):
    """``epoch_20.pth`` as Deep3DFaceRecon's save_networks writes it: net_recon plus optimizer state."""
    torch.manual_seed(seed)
    model = lswap_core.load_shape_model("deep3dface", **{**TINY, **config})
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
    recon = {k: v for k, v in model.state_dict().items() if k.startswith(("backbone.", "final_layers."))}
    torch.save({"net_recon": recon, "opt_00": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "epoch": 20}, path)
    return recon


def test_regressor_has_the_official_layout_and_heads():
    model = lswap_core.load_shape_model("deep3dface")
    keys = set(model.state_dict())
    assert {"backbone.conv1.weight", "backbone.layer1.0.downsample.0.weight", "backbone.layer3.5.bn3.running_var"} <= keys
    assert "backbone.layer3.6.conv1.weight" not in keys and "backbone.fc.weight" not in keys  # use_last_fc=False
    widths = [head.out_channels for head in model.final_layers]
    assert widths == [80, 64, 80, 3, 27, 2, 1] and model.final_layers[0].in_channels == 2048


def test_split_follows_bfm_split_coeff():
    vector = torch.arange(257.0)[None]
    parts = split_official(vector)
    assert parts.identity[0, [0, -1]].tolist() == [0, 79] and parts.expression[0, [0, -1]].tolist() == [80, 143]
    assert parts.pose[0].tolist() == [224, 225, 226, 254, 255, 256]  # angles, translation
    assert parts.extra[0, [0, 79, 80, 106]].tolist() == [144, 223, 227, 253]  # texture, lighting
    assert torch.equal(join_official(parts), vector)


def test_fuse_is_latentswaps_concatenation(face_files):
    model = build(face_files)
    with torch.no_grad():
        source, target = model.coefficients(random_images(2, 64, seed=1)), model.coefficients(random_images(2, 64, seed=2))
    fused = join_official(model.fuse(source, target))
    expected = torch.cat([join_official(source)[:, :80], join_official(target)[:, 80:]], dim=1)  # model/loss.py
    assert torch.equal(fused, expected)


def test_landmarks_are_the_pinhole_projection_of_the_bfm_keypoints(face_files):
    model = build(face_files)
    data = loadmat(str(face_files[0]))
    vertices = data["meanshape"].reshape(-1, 3)
    centred = vertices - vertices.mean(0)
    index = data["keypoints"].reshape(-1).astype(int) - 1
    identity_column, expression_column = 7, 3

    def coefficients(identity=0.0, expression=0.0, angles=(0, 0, 0), translation=(0, 0, 0)):
        parts = ShapeCoefficients(torch.zeros(1, 80), torch.zeros(1, 64), torch.tensor([[*angles, *translation]], dtype=torch.float32), torch.zeros(1, 107))
        parts.identity[0, identity_column], parts.expression[0, expression_column] = identity, expression
        return parts

    def pinhole(points):  # focal 1015, principal point 112, camera 10 dm along +z; rows counted downwards
        depth = 10.0 - points[:, 2]
        return np.stack([1015 * points[:, 0] / depth + 112, 223 - (1015 * points[:, 1] / depth + 112)], 1)

    translation = np.array([0.1, -0.2, 0.3])
    expected = pinhole(centred[index] + translation)
    actual = model.landmarks(coefficients(translation=tuple(translation)))[0].double().numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-3)

    identity_base = data["idBase"][:, identity_column].reshape(-1, 3)
    expression_base = data["exBase"][:, expression_column].reshape(-1, 3)
    shape = centred + 0.5 * identity_base - 2.0 * expression_base
    actual = model.landmarks(coefficients(identity=0.5, expression=-2.0))[0].double().numpy()
    np.testing.assert_allclose(actual, pinhole(shape[index]), atol=1e-3)

    # Ry by 90 degrees takes (x, y, z) to (z, y, -x).
    turned = centred[index][:, [2, 1, 0]] * np.array([1, 1, -1])
    actual = model.landmarks(coefficients(angles=(0, math.pi / 2, 0)))[0].double().numpy()
    np.testing.assert_allclose(actual, pinhole(turned), atol=1e-3)
    # Rz·Ry·Rx: x first, then y, then z.
    angles = (0.3, -0.2, 0.1)
    (cx, cy, cz), (sx, sy, sz) = np.cos(angles), np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    actual = model.landmarks(coefficients(angles=angles))[0].double().numpy()
    np.testing.assert_allclose(actual, pinhole(centred[index] @ (rz @ ry @ rx).T), atol=1e-3)


def test_resize_crop_is_latentswaps_interpolation(face_files):
    model = build(face_files, crop="resize")
    images = random_images(2, 256, seed=5)
    expected = F.interpolate((images + 1) / 2, size=224, mode="bilinear")  # model/loss.py shape_loss
    torch.testing.assert_close(model.preprocess(images), expected, rtol=0, atol=0)


def test_pos_recovers_scale_and_translation():
    reference = np.random.default_rng(1).normal(size=(5, 3))
    points = 2.5 * reference[:, :2] + np.array([30.0, -12.0])  # scaled orthographic projection
    translation, scale = pos(points, reference)
    np.testing.assert_allclose(translation, [30.0, -12.0], atol=1e-9)
    assert scale == pytest.approx(2.5)


def test_five_point_crop_puts_the_face_where_deep3dface_expects_it(face_files):
    reference = loadmat(str(face_files[1]))["lm"]
    reference_5 = np.stack([reference[[36, 39]].mean(0), reference[[42, 45]].mean(0), reference[30], reference[48], reference[54]])
    height = width = 600
    y_up = 180.0 * reference_5[:, :2] + np.array([290.0, 310.0])  # a face 180 px per decimetre
    points = np.stack([y_up[:, 0], height - 1 - y_up[:, 1]], 1)
    resized_height, resized_width, top, left = crop_window(height, width, points, reference_5)
    scale = resized_width / width
    assert scale == pytest.approx(102 / 180, rel=1e-2)  # rescale_factor 102
    in_crop = points * scale - np.array([left, top])
    expected = np.stack([112 + 102 * reference_5[:, 0], 112 - 102 * reference_5[:, 1]], 1)
    np.testing.assert_allclose(in_crop, expected, atol=1.5)


def test_five_point_crop_per_image_matches_the_shared_template(face_files):
    model = build(face_files)
    images = random_images(2, 128, seed=3)
    template = torch.tensor(ffhq_five_points(128, 128), dtype=torch.float32).expand(2, 5, 2)
    torch.testing.assert_close(model.preprocess(images), model.preprocess(images, template))
    moved = template + torch.tensor([[[8.0, 0.0]], [[0.0, 0.0]]])
    shifted = model.preprocess(images, moved)
    assert not torch.allclose(shifted[0], model.preprocess(images)[0]) and torch.equal(shifted[1], model.preprocess(images)[1])
    assert shifted.shape == (2, 3, 224, 224) and 0 <= shifted.min() and shifted.max() <= 1
    with pytest.raises(InputError, match="five_points must be"):
        model.preprocess(images, template[:1])


def test_five_point_crop_of_an_ffhq_image_covers_the_face(face_files):
    model = build(face_files)
    left, top, right, bottom = model.input_convention.crop
    # The face, brows to chin, fills most of the crop: most of an FFHQ image, less hair and background.
    assert 0 < left < 0.3 and 0.7 < right < 1.05 and 0 < top < 0.35 and 0.85 < bottom < 1.1


def test_five_point_crop_pads_outside_the_image_with_black():
    images = torch.ones(1, 3, 40, 40)
    reference = np.array([[-0.3, 0.3, 0.3], [0.3, 0.3, 0.3], [0, 0, 0.7], [-0.25, -0.4, 0.4], [0.25, -0.4, 0.4]])
    points = np.array([[5.0, 5.0], [12.0, 5.0], [8.5, 9.0], [6.0, 13.0], [11.0, 13.0]])  # a small face near a corner
    crop = five_point_crop(images, points, reference)
    assert crop.shape == (1, 3, 224, 224) and crop.min() == 0 and crop.max() == pytest.approx(1, abs=1e-5)


def test_official_checkpoint_converts_to_a_self_contained_export(tmp_path, face_files, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    recon = official_checkpoint(folder / "epoch_20.pth")
    for file in face_files:
        (folder / file.name).write_bytes(file.read_bytes())
    export = convert(folder / "epoch_20.pth", tmp_path / "deep3dface.safetensors")
    for file in face_files:
        (folder / file.name).unlink()  # the export needs neither file any more
    model = lswap_core.load_shape_model("deep3dface", weights=export)
    for key, value in recon.items():
        assert torch.equal(model.state_dict()[key], value)
    reference = build(face_files)
    reference.load_state_dict(recon, strict=False)
    images = random_images(2, 96, seed=8)
    with torch.no_grad():
        torch.testing.assert_close(model.landmarks(model.coefficients(images)), reference.landmarks(reference.coefficients(images)))


def test_converter_finds_the_face_model_in_the_cache(tmp_path, face_files, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    official_checkpoint(tmp_path / "epoch_20.pth")
    with pytest.raises(CheckpointError, match=r"needs BFM_model_front\.mat, found neither beside it nor in .*assets/bfm"):
        convert(tmp_path / "epoch_20.pth", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()
    for file, asset in zip(face_files, ("bfm", "deep3dface")):
        (tmp_path / "home" / "assets" / asset).mkdir(parents=True)
        (tmp_path / "home" / "assets" / asset / file.name).write_bytes(file.read_bytes())
    convert(tmp_path / "epoch_20.pth", tmp_path / "out.safetensors")


def test_converter_reads_the_face_model_of_a_deep3dfacerecon_checkout(tmp_path, face_files, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    checkout = tmp_path / "Deep3DFaceRecon_pytorch"
    (checkout / "checkpoints" / "face_recon_feat0.2_augment").mkdir(parents=True)
    (checkout / "BFM").mkdir()
    for file in face_files:
        (checkout / "BFM" / file.name).write_bytes(file.read_bytes())
    official_checkpoint(checkout / "checkpoints" / "face_recon_feat0.2_augment" / "epoch_20.pth")
    export = convert(checkout / "checkpoints" / "face_recon_feat0.2_augment" / "epoch_20.pth", tmp_path / "d.safetensors")
    assert bool(lswap_core.load_shape_model("deep3dface", weights=export).has_face_model)


def test_bfm_without_the_needed_fields_is_a_clear_error(tmp_path, face_files):
    model = lswap_core.load_shape_model("deep3dface", **TINY)
    bad = write_bfm(tmp_path / "BFM_model_front.mat", without=("exBase", "keypoints"))
    with pytest.raises(CheckpointError, match="lacks the field.s. exBase, keypoints"):
        model.load_face_model(bad, face_files[1])
    from scipy.io import savemat

    savemat(str(tmp_path / "01_MorphableModel.mat"), {"shapeMU": np.zeros((6, 1)), "shapePC": np.zeros((6, 2)), "shapeEV": np.ones((2, 1))})
    with pytest.raises(CheckpointError, match="original BFM09 file; build BFM_model_front.mat"):
        model.load_face_model(tmp_path / "01_MorphableModel.mat", face_files[1])
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(CheckpointError, match="not a readable .mat file"):
        model.load_face_model(tmp_path / "junk.mat", face_files[1])
    with pytest.raises(CheckpointError, match="does not exist"):
        model.load_face_model(tmp_path / "missing.mat", face_files[1])
    assert not bool(model.has_face_model)


def test_landmarks_without_a_face_model_say_how_to_get_one():
    model = lswap_core.load_shape_model("deep3dface", crop="resize", **TINY)
    with torch.no_grad():
        coefficients = model.coefficients(random_images(1, 64))
    with pytest.raises(InputError, match="no Basel face model loaded.*lswap weights fetch deep3dface"):
        model.landmarks(coefficients)


def test_a_checkpoint_of_another_architecture_is_refused_by_name(tmp_path, face_files):
    recon = official_checkpoint(tmp_path / "epoch_20.pth")
    recon["final_layers.7.weight"] = torch.zeros(1, 2048, 1, 1)
    del recon["backbone.layer3.1.conv2.weight"]
    torch.save({"net_recon": recon}, tmp_path / "epoch_20.pth")
    for file in face_files:
        (tmp_path / file.name).write_bytes(file.read_bytes())
    with pytest.raises(CheckpointError, match=r"missing: backbone\.layer3\.1\.conv2\.weight; unexpected: final_layers\.7\.weight"):
        convert(tmp_path / "epoch_20.pth", tmp_path / "out.safetensors")
    torch.save({"state_dict": recon}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="holds no state dict under 'net_recon' .it has state_dict., so it is not a Deep3DFaceRecon"):
        convert(tmp_path / "other.pth", tmp_path / "out.safetensors", format="deep3dface")


def test_export_round_trip_keeps_the_crop_choice(tmp_path, face_files):
    model = build(face_files, crop="resize")
    path = save_component(model, tmp_path / "d.safetensors")
    assert lswap_core.load_shape_model("deep3dface", weights=path).config.crop == "resize"
    assert lswap_core.load_shape_model("deep3dface", weights=path, crop="five_point").config.crop == "five_point"


class TestDeep3DFaceConverter(ConverterConformance):
    converter_name = "deep3dface"

    @pytest.fixture(autouse=True)
    def _face_files(self, face_files):
        self.face_files = face_files

    def make_sample(self, folder):
        official_checkpoint(folder / "epoch_20.pth")
        for file in self.face_files:
            (folder / file.name).write_bytes(file.read_bytes())
        return folder / "epoch_20.pth"
