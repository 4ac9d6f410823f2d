"""The converter toolkit: cheap sniffing of official checkpoints, read once per file."""

from __future__ import annotations

import os

import torch

from lswap_core import official_files
from lswap_core.convert import find_converter
from lswap_core.errors import InputError
from lswap_core.official_files import file_head


def test_legacy_torch_save_files_are_peeked_without_their_tensor_data(tmp_path):
    path = tmp_path / "legacy.pth"
    torch.save({"conv.weight": torch.randn(64, 32, 3, 3), "step": 3}, path, _use_new_zipfile_serialization=False)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 64 * 32 * 9 * 4 // 2])  # cut into the tensor data: peeking never reads it
    peeked = file_head(path).peek()
    assert peeked["step"] == 3
    tensor = peeked["conv.weight"]
    assert tensor.device.type == "meta" and tensor.shape == (64, 32, 3, 3) and tensor.dtype == torch.float32


def test_zip_archives_are_peeked_from_their_pickle(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"net_recon": {"fc.weight": torch.ones(4, 2)}}, path)
    head = file_head(path)
    assert head.is_zip and b"net_recon" in head.archive_pickle and head.contains(b"fc.weight")
    assert head.state_dict("net_recon")["fc.weight"].shape == (4, 2)
    assert head.state_dict("missing") is None


def test_the_head_is_read_once_while_the_file_is_unchanged(tmp_path):
    path = tmp_path / "a.pt"
    torch.save({"w": torch.ones(2)}, path)
    assert file_head(path) is file_head(path)
    torch.save({"w": torch.ones(3)}, path)
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    assert file_head(path).state_dict()["w"].shape == (3,)


def test_finding_the_converter_peeks_at_the_file_once(tmp_path, monkeypatch):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, path)
    calls = []
    original = official_files.peek_checkpoint

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(official_files, "peek_checkpoint", counting)
    try:
        find_converter(path)
    except InputError:
        pass  # no converter reads it; every one of them looked
    assert len(calls) == 1


def test_missing_files_and_folders_have_empty_heads(tmp_path):
    assert file_head(tmp_path / "nothing").head == b"" and file_head(tmp_path).peek() is None
