"""Inputs the fuzzing found, one test each: every one made a loader raise something other than an
LswapError (or hang) before its fix."""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile

import numpy as np
import pytest
import torch
from lswap_plugins.faceapi import tfjs
from safetensors.torch import save as save_safetensors

from lswap_core.checkpoints import load_resume_state, read_export, read_export_metadata
from lswap_core.config import load_config
from lswap_core.convert import convert, find_converter
from lswap_core.errors import CheckpointError, InputError, LswapError
from lswap_core.imaging import load_image
from lswap_core.legacy_pickle import load_checkpoint, peek_checkpoint
from lswap_core.official_files import file_head

from . import mutations as mut
from .targets import time_limit


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def torch_zip(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def torch_legacy(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


# -- safetensors exports -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"lswap.kind": "mixer", "lswap.format_version": "x"}, "format version"),  # was ValueError from int()
        ({"lswap.kind": "mixer", "lswap.config": "[" * 100_000}, "corrupt"),  # was RecursionError from json
        ({"lswap.kind": "mixer", "lswap.config": "[1, 2]"}, "not a JSON object"),  # a list as the config
        ({"lswap.kind": "mixer", "lswap.provenance": '"text"'}, "not a JSON object"),
    ],
)
def test_malformed_export_metadata_is_refused(tmp_path, metadata, match):
    path = write(tmp_path, "m.safetensors", save_safetensors({"w": torch.ones(2)}, metadata=metadata))
    read_export_metadata(path)
    with pytest.raises(CheckpointError, match=match):
        read_export(path)


def test_an_empty_tensor_with_a_dimension_past_int64_is_refused(tmp_path):
    """Shape [0, 2**64 - 1] holds no bytes, so safetensors accepts it; torch's reshape raised TypeError."""
    header = json.dumps({"__metadata__": {"lswap.kind": "mixer"}, "e": {"dtype": "F32", "shape": [0, 2**64 - 1], "data_offsets": [0, 0]}})
    path = write(tmp_path, "e.safetensors", len(header).to_bytes(8, "little") + header.encode())
    with pytest.raises(CheckpointError):
        read_export(path)


# -- pickles -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x80\x02]}X\x01\x00\x00\x00aK\x01sb.", id="BUILD on a list (AttributeError)"),
        pytest.param(b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b".", id="BINBYTES8 of a terabyte (MemoryError)"),
        pytest.param(b"\x80\x04\x8d" + struct.pack("<Q", 2**63) + b".", id="BINUNICODE8 past any size (OverflowError)"),
        pytest.param(b"\x80\x04\x95" + struct.pack("<Q", 2**63) + b".", id="FRAME past any size (OverflowError)"),
        pytest.param(b"\x80\x02ctorch_utils.persistence\n_reconstruct_persistent_obj\nK\x01\x85R.", id="persistent record of an int"),
        pytest.param(b"\x80\x02ctorch.storage\n_load_from_bytes\nC\x03abc\x85R.", id="storage bytes that are no torch file"),
        pytest.param(  # numpy returns NULL without an exception (SystemError) for this dtype state
            b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R"
            b"(K\x03X\x01\x00\x00\x00<X\x06\x00\x00\x00latin1NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.",
            id="numpy dtype state (SystemError)",
        ),
    ],
)
def test_malformed_pickles_are_refused(tmp_path, data):
    with pytest.raises(CheckpointError):
        load_checkpoint(write(tmp_path, "x.pkl", data))


# An array rebuilt as numpy pickles it, whose BUILD state names the object dtype over 8 raw bytes:
# numpy's __setstate__ fails half-way, leaving an object array over uninitialised memory, and the
# process crashed (segmentation fault) when it was freed.
OBJECT_ARRAY_OVER_BYTES = (
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\nK?\x85C\x01btR"
    b"(K\x01K\x03\x85cnumpy\ndtype\n(X\x01\x00\x00\x00OtR\x89C\x08\x00\x00\x00\x00\x00\x00\x00\x00tb."
)
# A float32 dtype whose state sets every flag (it "holds objects"): numpy printed internal errors
# ("get_clear_loop not set for the DType 'float32'") when arrays of it were freed.
FLAGGED_DTYPE = (
    b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R"
    b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb."
)


def test_numpy_states_that_corrupt_numpy_are_refused(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    for name, data in (("object.pkl", OBJECT_ARRAY_OVER_BYTES), ("flags.pkl", FLAGGED_DTYPE)):
        path = write(tmp_path, name, data)
        # In a child process: before the fix the first one crashed the interpreter.
        code = "from lswap_core.legacy_pickle import load_checkpoint\ntry:\n    load_checkpoint(%r)\nexcept Exception as e:\n    print(type(e).__name__)\n"
        result = subprocess.run([sys.executable, "-c", code % str(path)], capture_output=True, text=True, cwd=REPO,
                                timeout=120, check=False)
        assert result.returncode == 0 and result.stdout.strip() == "UnsafePickleError", (name, result.returncode, result.stderr[-2000:])


def test_a_huge_memo_index_costs_nothing(tmp_path):
    """LONG_BINPUT 2**30: pickle's C unpickler allocates and clears a 16 GB memo for it; the restricted one keeps a dict."""
    path = write(tmp_path, "memo.pkl", b"\x80\x02K\x07r\x00\x00\x00\x40.")
    started = time.perf_counter()
    assert load_checkpoint(path) == 7
    assert time.perf_counter() - started < 2


def legacy_with_renamed_storage_key() -> bytes:
    """A legacy torch.save file whose list of storage keys names a storage the object does not use."""
    raw = torch_legacy({"w": torch.ones(2)})
    keys_start = raw.rindex(b"\x80\x02]")
    key_length = struct.unpack("<I", raw[keys_start + 6 : keys_start + 10])[0]
    return raw[: keys_start + 10] + b"9" * key_length + raw[keys_start + 10 + key_length :]


def zip_with_method(method: int) -> bytes:
    data = bytearray(torch_zip({"w": torch.ones(2)}))
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(signature)
        data[at + offset : at + offset + 2] = method.to_bytes(2, "little")
    return bytes(data)


def zip_with_damaged_deflate() -> bytes:
    packed = mut.write_zip([("archive/data.pkl", b"\x80\x02K\x01." * 50), ("archive/byteorder", b"little")], zipfile.ZIP_DEFLATED)
    info = zipfile.ZipFile(io.BytesIO(packed)).infolist()[0]
    start = info.header_offset + 30 + len(info.filename)
    data = bytearray(packed)
    data[start] ^= 0xFF  # a deflate block header no decoder accepts
    data[start + 1] ^= 0xFF
    return bytes(data)


def zip_with_directory_past_the_end() -> bytes:
    data = bytearray(torch_zip({"w": torch.ones(2)}))
    at = data.find(b"PK\x01\x02")
    data[at + 42 : at + 46] = (0xFFFFFFF0).to_bytes(4, "little")  # a local header offset past the file
    return bytes(data)


def zip_spanning_disks() -> bytes:
    data = bytearray(torch_zip({"w": torch.ones(2)}))
    at = data.rfind(b"PK\x06\x07")  # the zip64 end record locator torch writes
    data[at + 16 : at + 20] = (8).to_bytes(4, "little")  # "8 disks in all"
    return bytes(data)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(legacy_with_renamed_storage_key, id="legacy storage key not found (AssertionError in torch)"),
        pytest.param(lambda: zip_with_method(99), id="zip member compressed with method 99 (NotImplementedError)"),
        pytest.param(zip_with_damaged_deflate, id="damaged deflate stream (zlib.error)"),
        pytest.param(zip_with_directory_past_the_end, id="zip record pointing past the end (OSError)"),
        pytest.param(zip_spanning_disks, id="zip spanning disks (BadZipFile from is_zipfile)"),
    ],
)
def test_damaged_torch_files_are_refused_and_sniffing_them_never_raises(tmp_path, make):
    path = write(tmp_path, "x.pt", make())
    for load in (load_checkpoint, load_resume_state):
        with pytest.raises(CheckpointError):
            load(path)
    try:
        peek_checkpoint(path)  # reads less of the file: may find nothing wrong
    except CheckpointError:
        pass
    head = file_head(path)
    head.archive_pickle, head.state_dict(), head.state_dict("state_dict")
    with pytest.raises(LswapError):
        find_converter(path)


# -- TF.js manifests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "w", "shape": [2**40, 2**40], "dtype": "float32"},  # np.prod wrapped around: ValueError
        {"name": "w", "shape": [-1, 4], "dtype": "float32"},
        {"name": "w", "shape": "abc", "dtype": "float32"},
        {"name": "w", "shape": [1.5], "dtype": "float32"},
        {"name": "w", "shape": [True], "dtype": "float32"},
        {"name": 3, "shape": [4], "dtype": "float32"},  # AttributeError: no str.replace
        {"name": "w", "shape": [4], "dtype": ["float32"]},  # TypeError: unhashable
        {"name": "w", "shape": [4], "dtype": "float32", "quantization": ["uint8"]},  # AttributeError: no .get
        {"name": "w", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": [1], "min": 0}},
        {"name": "w", "shape": [4], "dtype": "float32", "quantization": {"dtype": {}}},
    ],
)
def test_malformed_manifest_entries_are_refused(tmp_path, entry):
    (tmp_path / "m.bin").write_bytes(b"\0" * 16)
    manifest = tmp_path / "m-weights_manifest.json"
    manifest.write_text(json.dumps([{"paths": ["m.bin"], "weights": [entry]}]))
    with pytest.raises(CheckpointError):
        tfjs.read_weights(manifest)
    with pytest.raises(CheckpointError):
        convert(manifest, tmp_path / "out.safetensors", format="faceapi")


@pytest.mark.parametrize("paths", [[True], ["../m.bin"], ["/etc/hostname"], [""], ["a\x00b"]])
def test_shards_outside_the_manifest_folder_are_refused(tmp_path, paths):
    manifest = tmp_path / "m-weights_manifest.json"
    manifest.write_text(json.dumps([{"paths": paths, "weights": [{"name": "w", "shape": [1], "dtype": "float32"}]}]))
    with pytest.raises(CheckpointError, match="shard"):
        tfjs.read_manifest(manifest)


def test_deeply_nested_manifests_are_refused_and_not_sniffed(tmp_path):
    manifest = tmp_path / "m-weights_manifest.json"
    manifest.write_text("[" * 100_000)  # RecursionError from json
    assert not tfjs.looks_like_manifest(manifest)
    with pytest.raises(CheckpointError, match="nested"):
        tfjs.read_manifest(manifest)
    with pytest.raises(InputError):
        find_converter(manifest)


# -- converters -------------------------------------------------------------------------------------------


def small_nvlabs(tmp_path, init_kwargs, parameters=None):
    from tests.pickles import nvlabs_module, write_nvlabs_pickle

    mapping = nvlabs_module("MappingNetwork", parameters=parameters or {"fc0.weight": torch.ones(4, 4)})
    payload = {"G_ema": nvlabs_module("Generator", init_kwargs=init_kwargs, modules={"mapping": mapping})}
    return write_nvlabs_pickle(tmp_path / "net.pkl", payload)


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"z_dim": 4, "w_dim": 4, "img_resolution": (8,)},  # TypeError from int()
        {"z_dim": 4, "w_dim": 4, "img_resolution": 8, "mapping_kwargs": [1]},  # ValueError from dict()
        {"z_dim": 4, "w_dim": 4, "img_resolution": 8, "synthesis_kwargs": {"architecture": ["skip"]}},  # unhashable
        {"z_dim": 4, "w_dim": 4, "img_resolution": 8, "c_dim": torch.ones(2)},  # ambiguous tensor truth value
    ],
)
def test_malformed_nvlabs_records_are_refused(tmp_path, init_kwargs):
    with pytest.raises(CheckpointError, match="malformed"):
        convert(small_nvlabs(tmp_path, init_kwargs), tmp_path / "out.safetensors", format="stylegan2-nvlabs")


def test_nvlabs_records_that_do_not_fit_the_tensors_are_refused_before_building_anything(tmp_path):
    """Recorded dimensions are checked against the tensors first: a w_dim of 65536 would be 17 GB per
    mapping layer (and tensors of other shapes made estimating w_avg raise RuntimeError)."""
    for kwargs in ({"z_dim": 65536, "w_dim": 65536, "img_resolution": 8}, {"z_dim": 4, "w_dim": 4, "img_resolution": 8}):
        started = time.perf_counter()
        with pytest.raises(CheckpointError, match="do not fit"):
            convert(small_nvlabs(tmp_path, kwargs), tmp_path / "out.safetensors", format="stylegan2-nvlabs")
        assert time.perf_counter() - started < 20


def test_a_rosinality_checkpoint_with_tensors_of_the_wrong_rank_is_refused(tmp_path):
    from tests.golden import load_golden
    from tests.pickles import rosinality_golden_checkpoint

    checkpoint = rosinality_golden_checkpoint(load_golden("stylegan2_rosinality"))
    checkpoint["g_ema"]["input.input"] = torch.ones(3)  # IndexError from .shape[1]
    path = tmp_path / "550000.pt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="malformed"):
        convert(path, tmp_path / "out.safetensors", format="stylegan2-rosinality")


def test_a_latentswap_checkpoint_missing_a_bias_is_refused(tmp_path):
    """A shared (Z/W) mixer whose first layer lacks its bias: KeyError ('0', 'bias')."""
    from tests.golden import load_golden
    from tests.pickles import write_lightning_checkpoint

    golden = load_golden("latentswap_mixer_w")
    state = {key: value for key, value in golden.state.items() if key != "identity_mixer.0.bias"}
    path = write_lightning_checkpoint(tmp_path / "m.ckpt", state, {"hp": golden.meta["hyper_parameters"]["hp"]})
    with pytest.raises(CheckpointError, match="malformed identity_mixer"):
        convert(path, tmp_path / "out.safetensors", format="latentswap-ckpt")


@pytest.mark.parametrize(
    ("extra_key", "match"),
    [
        ("layer1..bn1.weight", "malformed"),  # found: ValueError from int('') in count_blocks
        ("layer1.99999999.bn1.weight", "not numbered"),  # would build a hundred million blocks
    ],
)
def test_arcface_state_dicts_with_odd_block_numbers_are_refused(tmp_path, extra_key, match):
    from tests.golden import load_golden

    state = dict(load_golden("arcface_iresnet").state)
    state[extra_key] = torch.ones(2)
    torch.save(state, tmp_path / "backbone.pth")
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=match):
        convert(tmp_path / "backbone.pth", tmp_path / "out.safetensors", format="arcface-iresnet")
    assert time.perf_counter() - started < 20


# -- images ------------------------------------------------------------------------------------------------


def test_postscript_named_like_a_photo_is_refused_without_running_ghostscript(tmp_path, monkeypatch):
    """PIL reads EPS by running Ghostscript on it; load_image reads only the formats of IMAGE_SUFFIXES."""
    from PIL import EpsImagePlugin

    ran = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kwargs: ran.append(args))
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\n(/tmp/x) (w) file closefile\nshowpage\n"
    for name in ("photo.png", "photo.eps"):
        with pytest.raises(InputError, match="not an image file"):
            load_image(write(tmp_path, name, eps))
    assert not ran


def test_a_png_with_a_cut_exif_header_loads_as_stored(tmp_path):
    """An eXIf chunk of 6 bytes (no IFD offset): PIL's EXIF reader raised struct.error."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (5, 4), (10, 20, 30)).save(buffer, format="PNG")
    data = buffer.getvalue()
    at = data.index(b"IDAT") - 4
    path = write(tmp_path, "cut.png", data[:at] + mut._chunk(b"eXIf", b"MM\x00*\x00\x00") + data[at:])
    assert load_image(path).shape == (3, 4, 5)


def test_a_tiff_whose_strip_offset_is_a_float_is_refused(tmp_path):
    """StripOffsets stored as a DOUBLE: PIL seeks to a float and raises TypeError."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((6, 5), np.float32), mode="F").save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack("<I", data[4:8])[0]
    for entry in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * entry
        if struct.unpack("<H", data[at : at + 2])[0] == 273:  # StripOffsets
            data[at + 2 : at + 4] = struct.pack("<H", 12)  # type DOUBLE
    with pytest.raises(InputError, match="corrupt"):
        load_image(write(tmp_path, "float.tif", bytes(data)))


def test_an_image_too_large_for_memory_is_an_input_error(tmp_path, monkeypatch):
    """Under a memory limit, a 10 x 8454156 PNG made torch's allocator raise RuntimeError in load_image."""
    from PIL import Image

    Image.new("RGB", (4, 3)).save(tmp_path / "big.png")

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(torch, "from_numpy", no_memory)
    with pytest.raises(InputError, match="too large"):
        load_image(tmp_path / "big.png")


# -- YAML configs -----------------------------------------------------------------------------------------


def test_deeply_nested_yaml_is_a_config_error(tmp_path):
    """Was a RecursionError from yaml's composer."""
    with pytest.raises(LswapError):
        load_config(write(tmp_path, "deep.yaml", b"kind: train\nx: " + b"[" * 3000 + b"]" * 3000 + b"\n"), kind="train")


@pytest.mark.parametrize("value", ["!!int 1.5", "!!timestamp x", '!!int ""', "!!bool x"])
def test_a_tag_with_an_impossible_value_is_a_config_error(tmp_path, value):
    """Were ValueError, AttributeError, IndexError and KeyError from yaml's constructors."""
    with pytest.raises(LswapError):
        load_config(write(tmp_path, "tag.yaml", f"kind: train\ntrain: {{steps: {value}}}\n".encode()), kind="train")


@pytest.mark.parametrize("value", ["!!float x", "!!timestamp x"])
def test_an_override_tag_with_an_impossible_value_is_a_config_error(tmp_path, value):
    with pytest.raises(LswapError):
        load_config(write(tmp_path, "ok.yaml", b"kind: train\n"), [f"train.steps={value}"], kind="train")


def test_a_billion_laughs_config_is_refused_quickly(tmp_path):
    """Nine levels of nine aliases: was minutes and gigabytes copying the expanded document."""
    lines = ["kind: train", "a: &a [" + ", ".join(["1"] * 9) + "]"]
    lines += [f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 9) + "]" for i in range(8)]
    path = write(tmp_path, "laughs.yaml", "\n".join(lines).encode())
    with time_limit(2.0), pytest.raises(LswapError, match="aliases"):
        load_config(path, kind="train")


def test_an_alias_that_contains_itself_is_a_config_error(tmp_path):
    with pytest.raises(LswapError, match="contains itself"):
        load_config(write(tmp_path, "loop.yaml", b"kind: train\nx: &x [*x]\n"), kind="train")
    with pytest.raises(LswapError, match="contains itself"):
        load_config(write(tmp_path, "ok.yaml", b"kind: train\n"), ["x=&x [*x]"], kind="train")


def test_an_unknown_key_that_is_not_a_string_is_a_config_error(tmp_path):
    """Was a TypeError from the close-match search."""
    with pytest.raises(LswapError):
        load_config(write(tmp_path, "key.yaml", b"kind: train\n1: x\n"), kind="train")
