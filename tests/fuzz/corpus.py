"""Valid files of every format lswap loads, built by the tests themselves, to mutate.

Each `Seed` is one input a loader is given: its files (name -> bytes; a TF.js
manifest comes with its ``.bin`` shards, a Deep3DFaceRecon checkpoint with
the face model files beside it), which of them is passed to the loader, and
the format-aware mutators of each file. Seeds come from the same writers the
converter tests use (``tests/pickles.py``, ``tests/golden.py``,
``tests/tfjs_files.py``), from lswap's own writers (exports, resume states),
and from PIL and the built-in configs. Hostile seeds carry code-executing
gadgets (``mutations.code_gadgets``) inside every container lswap unpickles.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import pickle
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import mutations as mut


@dataclasses.dataclass
class Seed:
    """One valid (or hostile) input of a loader.

    :param files: relative path -> content; written into a fresh folder per input.
    :param main: the relative path handed to the loader (a file or a folder).
    :param mutators: relative path -> the format-aware mutators of that file
        (files not named are never mutated: fixed companions such as face models).
    :param options: what the loader call needs to know (the converter ``format``...).
    """

    name: str
    files: dict[str, bytes]
    main: str
    mutators: dict[str, tuple[mut.Mutator, ...]]
    options: dict[str, object] = dataclasses.field(default_factory=dict)


PICKLE_FILE = mut.PICKLE
ZIP_FILE = mut.ZIP + mut.PICKLE  # pickle ops also find the stored data.pkl inside an archive


def _saved(obj: object, *, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def _file_bytes(write: Callable[[Path], object], name: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write(path)
        return path.read_bytes()


def _torch_seed(name: str, file: str, data: bytes, **options: object) -> Seed:
    kind = ZIP_FILE if data[:2] == b"PK" else PICKLE_FILE
    return Seed(name, {file: data}, file, {file: kind}, dict(options))


# -- hostile pickles ---------------------------------------------------------------------------


def hostile_payloads(marker: str) -> list[bytes]:
    """Complete protocol-2 pickles whose value is a code-executing gadget, alone or inside data."""
    payloads = []
    for gadget in mut.code_gadgets(marker):
        payloads.append(b"\x80\x02" + gadget + b".")
        # inside a dict, as a checkpoint's value: {'state_dict': gadget}
        payloads.append(b"\x80\x02}X\n\x00\x00\x00state_dict" + gadget + b"s.")
    return payloads


def _zip_with_pickle(data_pkl: bytes, prefix: str = "archive") -> bytes:
    return mut.write_zip([(f"{prefix}/data.pkl", data_pkl), (f"{prefix}/byteorder", b"little"), (f"{prefix}/version", b"3\n")])


def _legacy_with_pickle(data_pkl: bytes) -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    version = pickle.dumps(1001, protocol=2)
    info = pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    keys = pickle.dumps([], protocol=2)
    return magic + version + info + data_pkl + keys


def _nested_storage_bytes(inner: bytes) -> bytes:
    """``torch.storage._load_from_bytes(inner)``: a storage pickled inside a pickle."""
    return b"\x80\x02ctorch.storage\n_load_from_bytes\n(B" + struct.pack("<I", len(inner)) + inner + b"tR."


def hostile_seeds(marker: str, suffix: str = ".pt") -> list[Seed]:
    """Every hostile payload in every container lswap unpickles: plain pickle, ``torch.save`` zip
    archive, legacy ``torch.save``, a storage nested in a pickle, an NVlabs persistent object's state
    and a Lightning checkpoint's hyper-parameters."""
    seeds = []
    for index, payload in enumerate(hostile_payloads(marker)):
        seeds.append(Seed(f"hostile-{index}-pickle", {"evil.pkl": payload}, "evil.pkl", {"evil.pkl": PICKLE_FILE}))
        if index % 2 == 0:
            seeds.append(_torch_seed(f"hostile-{index}-zip", f"evil{suffix}", _zip_with_pickle(payload)))
            seeds.append(_torch_seed(f"hostile-{index}-legacy", f"evil{suffix}", _legacy_with_pickle(payload)))
            nested = _nested_storage_bytes(_legacy_with_pickle(payload))
            seeds.append(Seed(f"hostile-{index}-nested", {"evil.pkl": nested}, "evil.pkl", {"evil.pkl": PICKLE_FILE}))
    for index, gadget in enumerate(mut.code_gadgets(marker)[:6]):
        # an NVlabs persistent object whose state holds the gadget
        nvlabs = (
            b"\x80\x02}X\x05\x00\x00\x00G_ema"
            b"ctorch_utils.persistence\n_reconstruct_persistent_obj\n"
            b"(}(X\x04\x00\x00\x00typeX\x05\x00\x00\x00classX\n\x00\x00\x00class_nameX\t\x00\x00\x00Generator"
            b"X\x05\x00\x00\x00state}X\x0c\x00\x00\x00_init_kwargs" + gadget + b"sutRs."
        )
        seeds.append(Seed(f"hostile-nvlabs-{index}", {"evil.pkl": nvlabs}, "evil.pkl", {"evil.pkl": PICKLE_FILE}))
        lightning = b"\x80\x02}(X\n\x00\x00\x00state_dict}X\x10\x00\x00\x00hyper_parameters" + gadget + b"u."
        seeds.append(_torch_seed(f"hostile-lightning-{index}", "evil.ckpt", _zip_with_pickle(lightning)))
    return seeds


# -- official checkpoints ------------------------------------------------------------------------


def nvlabs_seeds() -> list[Seed]:
    from tests.golden import load_golden
    from tests.pickles import nvlabs_module, write_nvlabs_golden, write_nvlabs_pickle

    golden = load_golden("stylegan2_nvlabs")
    seeds = [
        Seed("nvlabs-golden", {"net.pkl": _file_bytes(lambda p: write_nvlabs_golden(p, golden), "net.pkl")}, "net.pkl",
             {"net.pkl": PICKLE_FILE}, {"format": "stylegan2-nvlabs"}),
    ]
    small = {"G_ema": nvlabs_module("Generator", init_kwargs={"z_dim": 4, "w_dim": 4, "img_resolution": 8},
                                    modules={"mapping": nvlabs_module("MappingNetwork", parameters={"fc0.weight": torch.ones(4, 4)})})}
    for protocol in (2, 4):
        data = _file_bytes(lambda p, protocol=protocol: write_nvlabs_pickle(p, small, protocol=protocol), "small.pkl")
        seeds.append(Seed(f"nvlabs-small-p{protocol}", {"small.pkl": data}, "small.pkl", {"small.pkl": PICKLE_FILE},
                          {"format": "stylegan2-nvlabs"}))
    return seeds


def rosinality_seeds() -> list[Seed]:
    from tests.golden import load_golden
    from tests.pickles import rosinality_golden_checkpoint

    golden = load_golden("stylegan2_rosinality")
    checkpoint = rosinality_golden_checkpoint(golden)
    return [
        _torch_seed("rosinality-zip", "550000.pt", _saved(checkpoint), format="stylegan2-rosinality"),
        _torch_seed("rosinality-legacy", "550000.pt", _saved(checkpoint, legacy=True), format="stylegan2-rosinality"),
    ]


def lightning_seeds() -> list[Seed]:
    from tests.golden import load_golden
    from tests.pickles import write_lightning_checkpoint

    seeds = []
    for name in ("latentswap_mixer", "latentswap_mixer_w"):
        golden = load_golden(name)
        state = {**golden.state, "identity_embedder.fc.weight": torch.zeros(2, 2)}
        hp = {"hp": golden.meta["hyper_parameters"]["hp"]}
        data = _file_bytes(lambda p, state=state, hp=hp: write_lightning_checkpoint(p, state, hp), "m.ckpt")
        seeds.append(_torch_seed(f"lightning-{name}", "epoch=39-step=200000.ckpt", data, format="latentswap-ckpt"))
    smooth = load_golden("smoothswap").state
    data = _file_bytes(lambda p: write_lightning_checkpoint(p, smooth, {"model": {"lr": 1e-4, "sizes": [1, 2]}}), "s.ckpt")
    seeds.append(_torch_seed("lightning-smoothswap", "epoch=5-step=109999.ckpt", data, format="smoothswap"))
    return seeds


def state_dict_seeds() -> list[Seed]:
    """ArcFace iresnet ``backbone.pth`` (zip and legacy) and Deep3DFaceRecon ``epoch_20.pth`` with its face model."""
    from tests.face_models import write_bfm, write_reference
    from tests.golden import load_golden

    arcface = load_golden("arcface_iresnet").state
    seeds = [
        _torch_seed("arcface-zip", "backbone.pth", _saved(arcface), format="arcface-iresnet"),
        _torch_seed("arcface-legacy", "backbone.pth", _saved(arcface, legacy=True), format="arcface-iresnet"),
    ]
    recon = load_golden("deep3dface").state
    checkpoint = _saved({"net_recon": recon, "opt_00": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "epoch": 20})
    face_files = {
        "BFM_model_front.mat": _file_bytes(write_bfm, "BFM_model_front.mat"),
        "similarity_Lm3D_all.mat": _file_bytes(write_reference, "similarity_Lm3D_all.mat"),
    }
    seeds.append(Seed("deep3dface", {"epoch_20.pth": checkpoint, **face_files}, "epoch_20.pth",
                      {"epoch_20.pth": ZIP_FILE}, {"format": "deep3dface"}))
    return seeds


def plain_pickle_seeds() -> list[Seed]:
    """Plain pickles of the data official files hold: protocols 0 to 5, numpy arrays, Namespaces..."""
    from tests.pickles import EasyDict  # noqa: F401 - pickles as a plain dict subclass of the tests

    value = {
        "args": argparse.Namespace(size=8, lr_mlp=0.01),
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "scalar": np.float64(0.5),
        "nested": [(1, 2.5, "x", b"y", None, True), {"k": frozenset({1}), "s": {2}}],
        "slice": slice(1, 2),
    }
    seeds = []
    for protocol in range(6):
        data = pickle.dumps(value, protocol=protocol)
        seeds.append(Seed(f"plain-p{protocol}", {"plain.pkl": data}, "plain.pkl", {"plain.pkl": PICKLE_FILE}))
    tensors = {"w": torch.randn(3, 2), "b": torch.arange(3), "h": torch.ones(2, dtype=torch.float16), "e": torch.empty(0)}
    seeds.append(_torch_seed("tensors-zip", "t.pt", _saved(tensors)))
    seeds.append(_torch_seed("tensors-legacy", "t.pt", _saved(tensors, legacy=True)))
    return seeds


# -- exports and resume states -------------------------------------------------------------------


def export_seeds() -> list[Seed]:
    from safetensors.torch import save as save_safetensors

    from lswap_core.checkpoints import save_export
    from lswap_core.mixer import build_mixer, save_mixer

    seeds = []
    with tempfile.TemporaryDirectory() as folder:
        mixer = build_mixer({"num_ws": 2, "w_dim": 4, "hidden": [8, 8]}, rng=torch.Generator().manual_seed(0))
        path = save_mixer(mixer, Path(folder) / "mixer.safetensors", provenance={"trained_steps": "3"})
        seeds.append(path.read_bytes())
        odd = {
            "f16": torch.ones(2, dtype=torch.float16), "bf16": torch.ones(3, dtype=torch.bfloat16), "i64": torch.arange(2),
            "bool": torch.tensor([True, False]), "u8": torch.arange(4, dtype=torch.uint8), "f64": torch.zeros(1, 1, dtype=torch.float64),
            "scalar": torch.tensor(1.5), "empty": torch.empty(0, 3),
        }
        path = save_export(Path(folder) / "odd.safetensors", kind="embedder", name="toy", config={"a": [1, 2], "b": {"c": None}},
                           tensors=odd, provenance={"x": "y"}, plugin="toys", records={"trained_with": {"generator": {"name": "x"}}})
        seeds.append(path.read_bytes())
    seeds.append(save_safetensors({"w": torch.ones(2, 2)}))  # a safetensors file that is no lswap export
    seeds.append(save_safetensors({"w": torch.ones(2, 2)}, metadata={"lswap.kind": "mixer"}))
    return [
        Seed(f"export-{index}", {"in.safetensors": data}, "in.safetensors", {"in.safetensors": mut.SAFETENSORS})
        for index, data in enumerate(seeds)
    ]


def resume_seeds(marker: str) -> list[Seed]:
    from lswap_core.checkpoints import ResumeState, capture_rng_state
    from lswap_core.mixer import build_mixer

    mixer = build_mixer({"num_ws": 2, "w_dim": 4, "hidden": [8, 8]}, rng=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(mixer.parameters(), lr=1e-3)
    mixer(torch.randn(2, 2, 4), torch.randn(2, 2, 4)).square().mean().backward()
    optimizer.step()
    state = ResumeState(
        step=1,
        modules={"mixer": mixer.state_dict()},
        optimizers={"mixer": optimizer.state_dict()},
        rng=capture_rng_state(),
        config={"train": {"steps": 3, "lr": 1e-3, "betas": [0.9, 0.999]}, "generator": {"name": "toy", "preset": None}},
    )
    payload = dataclasses.asdict(state)
    seeds = [
        _torch_seed("resume-zip", "step-0000001.pt", _saved(payload)),
        _torch_seed("resume-legacy", "step-0000001.pt", _saved(payload, legacy=True)),
    ]
    for index, payload in enumerate(hostile_payloads(marker)[::2]):
        seeds.append(_torch_seed(f"hostile-resume-{index}", "step-0000002.pt", _zip_with_pickle(payload)))
    return seeds


# -- TF.js manifests, images, configs ------------------------------------------------------------


def faceapi_seeds() -> list[Seed]:
    from lswap_plugins.faceapi.face_nets import FaceLandmark68Net
    from lswap_plugins.faceapi.nets import NETS

    from tests.tfjs_files import net_tensors, write_manifest

    torch.manual_seed(0)
    landmarks = net_tensors(FaceLandmark68Net(tiny=True))
    detector = net_tensors(NETS["tiny_face_detector"].build())
    seeds = []
    variants = [
        ("landmarks-uint8", landmarks, {n: "uint8" for n in landmarks if n.endswith("filter")}, 1),
        ("landmarks-uint16-float16", landmarks, {n: ("uint16" if i % 2 else "float16") for i, n in enumerate(landmarks)}, 2),
        ("landmarks-plain-3-shards", landmarks, {}, 3),
    ]
    for name, tensors, quantised, shards in variants:
        with tempfile.TemporaryDirectory() as folder:
            manifest = write_manifest(Path(folder), "face_landmark_68_tiny_model", tensors, quantised=quantised, shards=shards)
            files = {path.name: path.read_bytes() for path in Path(folder).iterdir()}
        mutators = {file: (mut.JSON if file.endswith(".json") else ()) for file in files}
        seeds.append(Seed(f"faceapi-{name}", files, manifest.name, mutators))
    with tempfile.TemporaryDirectory() as folder:
        write_manifest(Path(folder), "face_landmark_68_tiny_model", landmarks, quantised={n: "uint8" for n in landmarks})
        write_manifest(Path(folder), "tiny_face_detector_model", detector, quantised={n: "uint8" for n in detector})
        files = {f"model/{path.name}": path.read_bytes() for path in Path(folder).iterdir()}
    mutators = {file: (mut.JSON if file.endswith(".json") else ()) for file in files}
    seeds.append(Seed("faceapi-model-folder", files, "model", mutators))
    return seeds


def image_seeds() -> list[Seed]:
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)
    images: list[tuple[str, Callable[[io.BytesIO], None]]] = []

    def add(name: str, save: Callable[[io.BytesIO], None]) -> None:
        images.append((name, save))

    add("rgb.png", lambda b: Image.fromarray(rgb).save(b, format="PNG"))
    add("gray16.png", lambda b: Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(b, format="PNG"))
    add("rgba.png", lambda b: Image.fromarray(np.dstack([rgb, rgb[..., :1]]), mode="RGBA").save(b, format="PNG"))
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    add("palette.png", lambda b: palette.save(b, format="PNG", transparency=0))
    add("interlaced.png", lambda b: Image.fromarray(rgb).save(b, format="PNG", interlace=1))
    add("rgb.jpg", lambda b: Image.fromarray(rgb).save(b, format="JPEG", quality=80))
    add("progressive.jpg", lambda b: Image.fromarray(rgb).save(b, format="JPEG", progressive=True))
    add("cmyk.jpg", lambda b: Image.fromarray(rgb).convert("CMYK").save(b, format="JPEG"))
    exif = Image.Exif()
    exif[0x0112] = 6
    add("rotated.jpg", lambda b: Image.fromarray(rgb).save(b, format="JPEG", exif=exif))
    add("rotated.png", lambda b: Image.fromarray(rgb).save(b, format="PNG", exif=exif))
    add("rgb.webp", lambda b: Image.fromarray(rgb).save(b, format="WEBP"))
    add("rgb.bmp", lambda b: Image.fromarray(rgb).save(b, format="BMP"))
    add("float.tif", lambda b: Image.fromarray(rng.random((6, 5)).astype(np.float32), mode="F").save(b, format="TIFF"))
    add("lzw.tif", lambda b: Image.fromarray(rgb).save(b, format="TIFF", compression="tiff_lzw"))
    add("deflate.tif", lambda b: Image.fromarray(rgb).save(b, format="TIFF", compression="tiff_adobe_deflate"))
    add("anim.gif", lambda b: Image.fromarray(rgb).save(b, format="GIF", save_all=True,
                                                        append_images=[Image.fromarray(rgb[::-1].copy())]))
    seeds = []
    for name, save in images:
        buffer = io.BytesIO()
        save(buffer)
        data = buffer.getvalue()
        mutators = mut.PNG if name.endswith(".png") else ()
        seeds.append(Seed(f"image-{name}", {name: data}, name, {name: mutators}))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\n(@@MARKER@@) (w) file closefile\nshowpage\n"
    seeds.append(Seed("image-eps-as-png", {"photo.png": eps}, "photo.png", {"photo.png": ()}))
    return seeds


def config_seeds() -> list[Seed]:
    from lswap_core.config import builtin_config, builtin_config_names
    from tests.unit.test_training import TOY_CONFIG

    texts = {name: builtin_config("train", name).read_bytes() for name in builtin_config_names("train")}  # type: ignore[union-attr]
    texts["toy"] = TOY_CONFIG.encode()
    texts["empty"] = b""
    return [Seed(f"config-{name}", {f"{name}.yaml": text}, f"{name}.yaml", {f"{name}.yaml": mut.YAML}) for name, text in texts.items()]


def with_marker(seeds: list[Seed], marker: str) -> list[Seed]:
    """Seeds whose ``@@MARKER@@`` placeholders name ``marker``."""
    token = mut.MARKER_TOKEN.encode()
    for seed in seeds:
        seed.files = {name: data.replace(token, marker.encode()) for name, data in seed.files.items()}
    return seeds
