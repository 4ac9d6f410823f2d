"""The deep3dface shape model: regressor checkpoints, the Basel face model, projection and crops.

Official behaviour comes from ``tests/fixtures/deep3dface.safetensors``, recorded
from sicxu/Deep3DFaceRecon_pytorch (models/networks.py ReconNetWrapper,
models/bfm.py ParametricFaceModel, util/preprocess.py align_img) on the
synthetic Basel face model of ``tests/face_models.py``, fed as LatentSwap's
shape loss feeds it (see ``tests/fixtures/README.md``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from lswap_plugins.backbones.face_templates import ffhq_five_points
from lswap_plugins.deep3dface.crop import crop_window, five_point_crop, pos
from lswap_plugins.deep3dface.model import join_official, split_official
from scipy.io import loadmat

import lswap_core
from lswap_core.checkpoints import save_component
from lswap_core.convert import convert
from lswap_core.errors import CheckpointError, InputError
from lswap_core.testing import ConverterConformance, ShapeModelConformance, random_images
from tests.face_models import synthetic_face, write_bfm, write_reference
from tests.golden import load_golden

TINY = {"layers": (1, 1, 2, 1), "width": 4}


@pytest.fixture(scope="module")
def golden():
    golden = load_golden("deep3dface")
    face = synthetic_face(0)  # the fixture's landmarks hold for this face model only
    arrays = (np.ascontiguousarray(face[key], np.float64).tobytes() for key in ("meanshape", "idBase", "exBase", "keypoints"))
    assert hashlib.sha256(b"".join(arrays)).hexdigest() == golden.meta["face_model_sha256"], "tests/face_models.py changed"
    return golden


def y_down(landmarks: torch.Tensor) -> torch.Tensor:
    """Official landmarks (y up, compute_for_render) in lswap's convention: rows of the 224x224 input, y down."""
    return torch.stack([landmarks[..., 0], 223 - landmarks[..., 1]], dim=-1)


def gradient_projection(projection: torch.Tensor) -> torch.Tensor:
    """The projection that, applied to y-down landmarks, has the gradient the official one has on y-up landmarks."""
    return torch.stack([projection[..., 0], -projection[..., 1]], dim=-1)


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


def official_checkpoint(path):
    """The recorded regressor as ``epoch_20.pth``, as Deep3DFaceRecon's save_networks writes it: net_recon plus optimizer state."""
    recon = dict(load_golden("deep3dface").state)
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


def test_landmarks_are_deep3dfacerecons(face_files, golden):
    """bfm.py compute_for_render on recorded coefficients (angles up to 1.5 rad): the 68 landmarks and their gradient.

    Measured lswap vs official: landmarks 3.1e-5 px (|q| <= 264, float32), coefficient gradient 3.7e-4
    (|g| <= 2020). Tolerances: 2e-4 px and 2e-3.
    """
    model = build(face_files)
    coefficients = golden.inputs["coefficients"].clone().requires_grad_(True)
    landmarks = model.landmarks(split_official(coefficients))
    (landmarks * gradient_projection(golden.inputs["coefficient_projection"])).sum().backward()
    torch.testing.assert_close(landmarks.detach(), y_down(golden.outputs["coefficient_landmarks"]), rtol=0, atol=2e-4)
    torch.testing.assert_close(coefficients.grad, golden.outputs["coefficient_gradient"], rtol=0, atol=2e-3)


def test_pos_recovers_scale_and_translation():
    reference = np.random.default_rng(1).normal(size=(5, 3))
    points = 2.5 * reference[:, :2] + np.array([30.0, -12.0])  # scaled orthographic projection
    translation, scale = pos(points, reference)
    np.testing.assert_allclose(translation, [30.0, -12.0], atol=1e-9)
    assert scale == pytest.approx(2.5)


def test_five_point_crop_is_align_img(face_files, golden):
    """util/preprocess.py align_img (PIL bicubic, uint8) on a recorded 64x64 noise image and five points.

    The fitted scale and translation agree to float precision; the crop (sampled every 4th pixel) differs by at
    most 1.03 grey levels (PIL's fixed-point filter and uint8 rounding). Tolerance: 1.5 levels.
    """
    reference = build(face_files).alignment_reference.double().numpy()
    points = golden.inputs["align_five_points"].double().numpy()  # pixels, y down
    image = golden.inputs["align_image"].permute(2, 0, 1)[None].float() / 255
    height, width = image.shape[-2:]
    w0, h0, scale, tx, ty = golden.outputs["align_trans_params"].tolist()
    translation, fitted = pos(np.stack([points[:, 0], height - 1 - points[:, 1]], 1), reference)
    assert (w0, h0) == (width, height)
    np.testing.assert_allclose(translation, [tx, ty], rtol=1e-6)
    assert 102 / fitted == pytest.approx(scale, rel=1e-6)
    assert crop_window(height, width, points, reference)[:2] == (int(h0 * scale), int(w0 * scale))
    crop = five_point_crop(image, points, reference)[0].permute(1, 2, 0) * 255
    torch.testing.assert_close(crop[::4, ::4], golden.outputs["align_crop_every4"].float(), rtol=0, atol=1.5)


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


def test_official_checkpoint_converts_to_a_self_contained_export(tmp_path, face_files, golden, monkeypatch):
    """epoch_20.pth + the face model files -> one export that regresses and projects as LatentSwap's shape loss:
    ``compute_for_render(f_3d(F.interpolate((1 + x) / 2, size=224, mode='bilinear')))[3]`` on 512x512 images.

    Measured lswap vs official: coefficients 0, landmarks 3.1e-5 px, input gradient 1.2e-4 (|g| <= 225).
    Tolerances: 1e-5, 2e-4 px, 1e-3.
    """
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    official_checkpoint(folder / "epoch_20.pth")
    for file in face_files:
        (folder / file.name).write_bytes(file.read_bytes())
    export = convert(folder / "epoch_20.pth", tmp_path / "deep3dface.safetensors")
    for file in face_files:
        (folder / file.name).unlink()  # the export needs neither file any more
    model = lswap_core.load_shape_model("deep3dface", weights=export, crop="resize")
    assert model.config.layers == tuple(golden.meta["lswap_config"]["layers"]) and model.config.width == 2
    lowres = golden.inputs["images_lowres"].clone().requires_grad_(True)
    images = lowres.repeat_interleave(32, 2).repeat_interleave(32, 3)  # 16x16 blocks of 32x32 pixels, as recorded
    coefficients = model.coefficients(images)
    landmarks = model.landmarks(coefficients)
    (landmarks * gradient_projection(golden.inputs["projection"])).sum().backward()
    torch.testing.assert_close(join_official(coefficients).detach(), golden.outputs["coefficients"], rtol=0, atol=1e-5)
    torch.testing.assert_close(landmarks.detach(), y_down(golden.outputs["landmarks"]), rtol=0, atol=2e-4)
    torch.testing.assert_close(lowres.grad, golden.outputs["lowres_gradient"], rtol=0, atol=1e-3)


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
    recon["final_layers.7.weight"] = torch.zeros(1, 64, 1, 1)
    del recon["backbone.layer2.1.conv2.weight"]
    torch.save({"net_recon": recon}, tmp_path / "epoch_20.pth")
    for file in face_files:
        (tmp_path / file.name).write_bytes(file.read_bytes())
    with pytest.raises(CheckpointError, match=r"missing: backbone\.layer2\.1\.conv2\.weight; unexpected: final_layers\.7\.weight"):
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
