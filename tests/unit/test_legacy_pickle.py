"""The restricted unpickler: official formats load as data, nothing else runs."""

from __future__ import annotations

import argparse
import os
import pickle
import sys

import pytest
import torch

from lswap_core.errors import CheckpointError
from lswap_core.legacy_pickle import (
    AttributeDict,
    ModuleRecord,
    PersistentObject,
    UnsafePickleError,
    load_checkpoint,
    module_tensors,
)
from tests.pickles import EasyDict, nvlabs_module, write_nvlabs_pickle


def test_torch_zip_state_dict_with_views_dtypes_and_a_namespace(tmp_path):
    base = torch.arange(12.0)
    state = {
        "w": base.view(3, 4),
        "tail": base[6:],  # shares storage, non-zero offset
        "t": base.view(3, 4).t(),  # strided view
        "half": torch.randn(5).half(),
        "flags": torch.tensor([True, False]),
        "steps": torch.tensor(7),
    }
    path = tmp_path / "ckpt.pt"
    torch.save({"g_ema": state, "args": argparse.Namespace(size=256, channel_multiplier=2)}, path)
    loaded = load_checkpoint(path)
    for key, value in state.items():
        assert torch.equal(loaded["g_ema"][key], value) and loaded["g_ema"][key].dtype == value.dtype
    assert isinstance(loaded["args"], AttributeDict) and loaded["args"]["size"] == 256


def test_torch_nn_modules_become_inert_records(tmp_path):
    path = tmp_path / "module.pt"
    layer = torch.nn.Linear(3, 2)
    torch.save({"net": layer}, path)
    record = load_checkpoint(path)["net"]
    assert isinstance(record, ModuleRecord) and record.qualified_name == "torch.nn.modules.linear.Linear"
    assert dict(module_tensors(record)).keys() == {"weight", "bias"}
    assert torch.equal(dict(module_tensors(record))["weight"], layer.weight.detach())


@pytest.mark.parametrize("protocol", [2, 4])
def test_plain_pickles_of_tensors(tmp_path, protocol):
    tensors = {"a": torch.randn(2, 3), "p": torch.nn.Parameter(torch.ones(4))}
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(tensors, protocol=protocol))
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["a"], tensors["a"]) and torch.equal(loaded["p"], tensors["p"].detach())


def test_nvlabs_persistent_objects_are_read_without_running_their_source(tmp_path):
    marker = tmp_path / "executed"
    source = f"open({str(marker)!r}, 'w').close()\nclass Generator: pass\n"
    mapping = nvlabs_module("MappingNetwork", buffers={"w_avg": torch.randn(8)})
    generator = nvlabs_module(
        "Generator",
        parameters={"p": torch.randn(2)},
        modules={"mapping": mapping},
        init_kwargs={"z_dim": 8, "mapping_kwargs": EasyDict(num_layers=2)},
        z_dim=8,
    )
    generator.meta["module_src"] = source
    path = write_nvlabs_pickle(tmp_path / "network.pkl", {"G_ema": generator, "training_set_kwargs": EasyDict(resolution=64)})
    assert "torch_utils.persistence" not in sys.modules
    loaded = load_checkpoint(path)
    assert not marker.exists()
    g_ema = loaded["G_ema"]
    assert isinstance(g_ema, PersistentObject) and g_ema.class_name == "Generator"
    assert g_ema.init_kwargs == {"z_dim": 8, "mapping_kwargs": {"num_layers": 2}}
    assert dict(module_tensors(g_ema)).keys() == {"p", "mapping.w_avg"}
    assert loaded["training_set_kwargs"] == {"resolution": 64}
    assert "torch_utils.persistence" not in sys.modules


class _CallsOsSystem:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("zipped", [False, True])
def test_a_pickle_calling_os_system_is_refused_and_nothing_runs(tmp_path, zipped):
    marker = tmp_path / "pwned"
    payload = {"G_ema": _CallsOsSystem(f"touch {marker}")}
    path = tmp_path / "evil.pkl"
    if zipped:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(UnsafePickleError, match=r"refers to (posix|os)\.system, which lswap will not load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": torch.randn(100)})[:150])
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint"):
        load_checkpoint(path)
    zipped = tmp_path / "cut.pt"
    torch.save({"a": torch.randn(100)}, zipped)
    zipped.write_bytes(zipped.read_bytes()[:300])
    with pytest.raises(CheckpointError):
        load_checkpoint(zipped)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.pkl")


def test_legacy_torch_save_format(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.randn(3)}, path, _use_new_zipfile_serialization=False)
    assert load_checkpoint(path)["w"].shape == (3,)


def test_legacy_torch_save_files_read_their_arguments_and_refuse_code(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"g": {"w": torch.ones(2)}, "args": argparse.Namespace(size=8)}, path, _use_new_zipfile_serialization=False)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["g"]["w"], torch.ones(2)) and loaded["args"]["size"] == 8
    bad = tmp_path / "bad.pt"
    torch.save({"hook": os.system}, bad, _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafePickleError, match="system"):
        load_checkpoint(bad)
