"""PyTorch Lightning checkpoints load as data; their structure can be read without their tensors."""

from __future__ import annotations

import pytest
import torch

from lswap_core.legacy_pickle import ModuleRecord, UnsafePickleError, load_checkpoint, peek_checkpoint
from tests.pickles import write_lightning_checkpoint


def test_lightning_checkpoint_with_omegaconf_hyper_parameters_loads_as_inert_data(tmp_path):
    state = {"net.weight": torch.randn(3, 2), "net.bn.num_batches_tracked": torch.tensor(5)}
    path = write_lightning_checkpoint(tmp_path / "a.ckpt", state, {"model": {"lr": 1e-4, "sizes": [1, 2]}})
    checkpoint = load_checkpoint(path)
    assert torch.equal(checkpoint["state_dict"]["net.weight"], state["net.weight"])
    hyper = checkpoint["hyper_parameters"]
    assert isinstance(hyper, ModuleRecord) and hyper.qualified_name == "omegaconf.dictconfig.DictConfig"
    assert hyper.state["_content"]["model"].state["_content"]["lr"].state["_val"] == 1e-4
    (callback,) = checkpoint["callbacks"]  # keyed by the callback class (Lightning < 1.5)
    assert callback.qualified_name == "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"


def test_peeking_reads_shapes_without_tensor_data(tmp_path):
    state = {"net.weight": torch.randn(300, 200)}
    path = write_lightning_checkpoint(tmp_path / "a.ckpt", state, {})
    peeked = peek_checkpoint(path)["state_dict"]["net.weight"]
    assert peeked.device.type == "meta" and peeked.shape == (300, 200) and peeked.dtype == torch.float32


def test_code_in_a_lightning_checkpoint_is_still_refused(tmp_path):
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Evil()}, path)
    with pytest.raises(UnsafePickleError, match="system"):
        load_checkpoint(path)
    with pytest.raises(UnsafePickleError):
        peek_checkpoint(path)
