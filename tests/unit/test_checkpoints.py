"""Exports and resume states: round trips, refusal of bad files, atomic writes."""

from __future__ import annotations

import errno
import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lswap_core import checkpoints
from lswap_core.checkpoints import (
    ResumeState,
    capture_rng_state,
    load_resume_state,
    load_state_strict,
    read_export,
    restore_rng_state,
    save_component,
    save_export,
    save_resume_state,
)
from lswap_core.errors import CheckpointError, InputError
from tests.support import ToyConfig, ToyGenerator


def test_export_round_trip_carries_config_and_provenance(tmp_path):
    generator = ToyGenerator(ToyConfig(w_dim=5))
    path = save_component(generator, tmp_path / "toy.safetensors", provenance={"source": "unit test"})
    export = read_export(path)
    assert (export.kind, export.name, export.format_version) == ("generator", "toy", 1)
    assert export.config == {"resolution": 8, "w_dim": 5, "num_ws": 3}
    assert export.provenance == {"source": "unit test"}
    assert export.lswap_version
    for key, value in generator.state_dict().items():
        assert torch.equal(export.tensors[key], value)


def test_tensors_sharing_memory_are_exported(tmp_path):
    base = torch.arange(6.0)
    path = save_export(tmp_path / "x.safetensors", kind="generator", name="toy", config={}, tensors={"a": base, "b": base})
    assert torch.equal(read_export(path).tensors["b"], base)


def _valid_export(tmp_path):
    return save_component(ToyGenerator(), tmp_path / "toy.safetensors")


def test_truncated_export_is_refused(tmp_path):
    path = _valid_export(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_export(path)


def test_garbage_export_is_refused(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_export(path)


def test_foreign_safetensors_is_refused_with_the_convert_hint(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not an lswap export.*lswap convert"):
        read_export(path)


def test_export_from_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"lswap.kind": "generator", "lswap.format_version": "99"})
    with pytest.raises(CheckpointError, match="format 99.*upgrade lswap"):
        read_export(path)


def test_missing_export(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_export(tmp_path / "absent.safetensors")


def test_strict_loading_names_missing_unexpected_and_misshapen_tensors():
    generator = ToyGenerator()
    state = generator.state_dict()
    state.pop("paint.bias")
    state["extra.weight"] = torch.zeros(1)
    state["mapping_net.weight"] = torch.zeros(2, 2)
    with pytest.raises(CheckpointError) as raised:
        load_state_strict(generator, state, source="file.safetensors")
    message = str(raised.value)
    assert "missing: paint.bias" in message and "unexpected: extra.weight" in message
    assert "wrong shape: mapping_net.weight (2, 2) vs (4, 4)" in message


def test_a_failed_write_leaves_neither_file_nor_temp(tmp_path, monkeypatch):
    target = tmp_path / "toy.safetensors"
    target.write_bytes(b"previous export")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "save_file", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device.*free disk space"):
        save_component(ToyGenerator(), target)
    assert target.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["toy.safetensors"]


def test_writing_into_a_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        save_component(ToyGenerator(), tmp_path / "missing" / "toy.safetensors")


def _state(step: int = 7) -> ResumeState:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return ResumeState(
        step=step,
        modules={"mixer": model.state_dict()},
        optimizers={"mixer": optimizer.state_dict()},
        rng=capture_rng_state(),
        config={"train": {"steps": 10}},
        extra={"best": 0.5},
    )


def test_resume_state_round_trip(tmp_path):
    state = _state()
    path = save_resume_state(tmp_path / "resume.pt", state)
    loaded = load_resume_state(path)
    assert loaded.step == 7 and loaded.config == state.config and loaded.extra == {"best": 0.5}
    assert torch.equal(loaded.modules["mixer"]["weight"], state.modules["mixer"]["weight"])
    assert loaded.optimizers["mixer"]["state"][0]["step"] == state.optimizers["mixer"]["state"][0]["step"]


def test_rng_state_restores_every_generator():
    saved = capture_rng_state()
    expected = (torch.rand(3), random.random(), np.random.rand())
    restore_rng_state(saved)
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


class _CreatesFileWhenUnpickled:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_state_with_arbitrary_objects_is_refused_without_running_them(tmp_path):
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    torch.save({"format_version": 1, "payload": _CreatesFileWhenUnpickled(marker)}, path)
    with pytest.raises(CheckpointError, match="does not unpickle"):
        load_resume_state(path)
    assert not marker.exists()


def test_resume_state_from_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({**json.loads(json.dumps({"step": 1})), "format_version": 2}, path)
    with pytest.raises(CheckpointError, match="resume format 2.*upgrade lswap"):
        load_resume_state(path)


def test_truncated_resume_state_is_refused(tmp_path):
    path = save_resume_state(tmp_path / "resume.pt", _state())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_resume_state(path)
