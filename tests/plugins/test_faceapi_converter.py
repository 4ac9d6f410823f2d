"""The TF.js manifest converter on small files written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import lswap_core
from lswap_core.convert import convert
from lswap_core.errors import CheckpointError, InputError
from lswap_core.testing import ConverterConformance
from lswap_plugins.faceapi import tfjs
from lswap_plugins.faceapi.convert import TfjsManifestConverter, convert_net
from lswap_plugins.faceapi.face_nets import FaceLandmark68Net
from tests.tfjs_files import net_tensors, write_manifest


def tiny_landmark_manifest(folder: Path, stem: str = "face_landmark_68_tiny_model", quantise: bool = True) -> tuple[Path, FaceLandmark68Net]:
    torch.manual_seed(0)
    net = FaceLandmark68Net(tiny=True)
    tensors = net_tensors(net)
    quantised = {name: "uint8" for name in tensors if name.endswith("filter")} if quantise else {}
    return write_manifest(folder, stem, tensors, quantised=quantised), net


class TestConverterConformance(ConverterConformance):
    converter_name = "faceapi"

    def make_sample(self, folder: Path) -> Path:
        return tiny_landmark_manifest(folder)[0]


def test_dequantises_like_tfjs(tmp_path):
    values = np.linspace(-1.5, 2.5, 24, dtype=np.float32).reshape(2, 3, 4)
    manifest = write_manifest(
        tmp_path,
        "m",
        {"a8": values, "a16": values, "half": values, "plain": values, "count": np.array([3, 7], dtype=np.int32)},
        quantised={"a8": "uint8", "a16": "uint16", "half": "float16"},
    )
    groups = tfjs.read_manifest(manifest)
    tensors = tfjs.read_weights(manifest)
    for name, levels in (("a8", 255), ("a16", 65535)):
        record = groups[0]["weights"][[w["name"] for w in groups[0]["weights"]].index(name)]["quantization"]
        codes = np.round((values.astype(np.float64) - record["min"]) / record["scale"])
        np.testing.assert_array_equal(tensors[name], (codes * record["scale"] + record["min"]).astype(np.float32))
        assert np.abs(tensors[name] - values).max() <= 4.0 / levels  # one quantisation step of the range
    np.testing.assert_array_equal(tensors["half"], values.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(tensors["plain"], values)
    np.testing.assert_array_equal(tensors["count"], [3, 7])
    assert tensors["count"].dtype == np.int32 and tensors["plain"].shape == (2, 3, 4)


def test_shards_are_concatenated(tmp_path):
    values = np.arange(40, dtype=np.float32).reshape(8, 5)
    manifest = write_manifest(tmp_path, "m", {"w": values, "b": values[0]}, shards=3)
    assert len(json.loads(manifest.read_text())[0]["paths"]) == 3
    tensors = tfjs.read_weights(manifest)
    np.testing.assert_array_equal(tensors["w"], values)
    np.testing.assert_array_equal(tensors["b"], values[0])


def test_converts_a_net_to_pytorch_layout(tmp_path):
    manifest, net = tiny_landmark_manifest(tmp_path, quantise=False)
    name, tensors = convert_net(manifest)
    assert name == "face_landmark_68_tiny"
    for key, value in net.state_dict().items():
        torch.testing.assert_close(tensors[key], value, rtol=0, atol=0)


def test_net_is_identified_from_tensor_names_not_file_names(tmp_path):
    manifest, _ = tiny_landmark_manifest(tmp_path, stem="renamed")
    result = TfjsManifestConverter().convert(manifest)
    assert (result.kind, result.name) == ("face_analyzer", "faceapi")
    assert result.config == {"nets": ["face_landmark_68_tiny"], "detector": None, "landmarks": "face_landmark_68_tiny"}


def test_export_loads_and_serves_its_net(tmp_path):
    manifest, net = tiny_landmark_manifest(tmp_path)
    export = convert(manifest, tmp_path / "lm.safetensors")
    analyzer = lswap_core.load_face_analyzer("faceapi", weights=export)
    crops = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        ours = analyzer.net("face_landmark_68_tiny").landmarks(crops)
        reference = net.landmarks(crops)
    # the filters went through uint8 quantisation: close, not equal
    assert (ours - reference).abs().max() < 0.05 * reference.abs().max()
    with pytest.raises(InputError, match="no face detector"):
        analyzer.detect(torch.zeros(3, 64, 64))


def test_missing_shard_is_named(tmp_path):
    manifest, _ = tiny_landmark_manifest(tmp_path)
    (tmp_path / "face_landmark_68_tiny_model.bin").unlink()
    with pytest.raises(CheckpointError, match=r"needs face_landmark_68_tiny_model\.bin beside it"):
        convert(manifest, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_truncated_and_oversized_shards_are_refused(tmp_path):
    manifest, _ = tiny_landmark_manifest(tmp_path)
    shard = tmp_path / "face_landmark_68_tiny_model.bin"
    data = shard.read_bytes()
    shard.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        convert_net(manifest)
    shard.write_bytes(data + b"\0" * 8)
    with pytest.raises(CheckpointError, match="8 bytes more"):
        convert_net(manifest)


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    manifest = tmp_path / "broken-weights_manifest.json"
    manifest.write_text('[{"paths": ["a.bin"], "weights": [{"name": "x"')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        TfjsManifestConverter().convert(manifest)
    manifest.write_text('[{"paths": ["a.bin"], "weights": [{"name": "x", "shape": [1]}]}]')
    with pytest.raises(CheckpointError, match="lacks name, shape or dtype"):
        TfjsManifestConverter().convert(manifest)
    assert not TfjsManifestConverter.sniff(tmp_path / "missing.json")


def test_unknown_net_is_refused(tmp_path):
    manifest = write_manifest(tmp_path, "other", {"encoder/dense/kernel": np.ones((4, 4), np.float32)})
    with pytest.raises(CheckpointError, match="does not know"):
        convert(manifest, tmp_path / "out.safetensors")


def test_known_net_with_missing_tensors_names_them(tmp_path):
    torch.manual_seed(0)
    tensors = net_tensors(FaceLandmark68Net(tiny=True))
    del tensors["dense1/conv2/pointwise_filter"]
    manifest = write_manifest(tmp_path, "lm", tensors)
    with pytest.raises(CheckpointError, match="missing dense1/conv2/pointwise_filter"):
        convert_net(manifest)


def test_unsupported_quantisation_is_refused(tmp_path):
    manifest = write_manifest(tmp_path, "m", {"w": np.ones(3, np.float32)})
    data = json.loads(manifest.read_text())
    data[0]["weights"][0]["quantization"] = {"dtype": "int4", "scale": 1, "min": 0}
    manifest.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="int4"):
        tfjs.read_weights(manifest)


def test_a_model_folder_becomes_one_analyzer(tmp_path):
    tiny_landmark_manifest(tmp_path)
    from lswap_plugins.faceapi.detectors import TinyFaceDetector

    torch.manual_seed(1)
    tensors = net_tensors(TinyFaceDetector())
    write_manifest(tmp_path, "tiny_face_detector_model", tensors, quantised={n: "uint8" for n in tensors})
    (tmp_path / "notes.json").write_text('{"not": "a manifest"}')
    export = convert(tmp_path, tmp_path / "analyzer.safetensors")
    analyzer = lswap_core.load_face_analyzer("faceapi", weights=export)
    assert analyzer.config.nets == ("tiny_face_detector", "face_landmark_68_tiny")
    assert (analyzer.config.detector, analyzer.config.landmarks) == ("tiny_face_detector", "face_landmark_68_tiny")
    assert isinstance(analyzer.detect(torch.zeros(3, 96, 128)), list)
