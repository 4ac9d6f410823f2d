"""Files that would run code if unpickled naively, through every loader: all refused, nothing run.

Each hostile payload (``mutations.code_gadgets``: ``os.system``, ``posix.system``,
``subprocess.call``/``Popen``, ``builtins.eval``/``exec``/``open``, a
``getattr(__import__('os'), 'system')`` chain, INST/OBJ/NEWOBJ, ``copyreg._reconstructor``,
``defaultdict(os.system)``, ``pickle.loads``, ``torch.load``, ``runpy``, an
extension-registry code, and an importable canary module that creates the marker
when imported) sits in every container lswap unpickles: a plain pickle, a
``torch.save`` archive, a legacy ``torch.save`` file, a storage nested in a pickle,
an NVlabs persistent object and a Lightning checkpoint. The property tests mutate
these too; here each is checked exactly.
"""

from __future__ import annotations

import pytest

from lswap_core.checkpoints import load_resume_state
from lswap_core.config import load_config
from lswap_core.convert import convert, find_converter
from lswap_core.errors import LswapError
from lswap_core.legacy_pickle import load_checkpoint, peek_checkpoint
from lswap_core.official_files import file_head

from . import corpus
from .targets import CANARY_MODULE


def _hostile(harness):
    return corpus.with_marker(corpus.hostile_seeds(str(harness.marker)), str(harness.marker))


def test_every_hostile_pickle_is_refused_by_every_loader_and_runs_nothing(harness, tmp_path):
    import sys

    seeds = _hostile(harness)
    assert len(seeds) > 100
    for index, seed in enumerate(seeds):
        folder = tmp_path / str(index)
        folder.mkdir()
        for name, data in seed.files.items():
            (folder / name).write_bytes(data)
        path = folder / seed.main
        out = folder / "out.safetensors"
        for load in (load_checkpoint, load_resume_state,
                     lambda p, out=out: convert(p, out),
                     lambda p, out=out: convert(p, out, format="stylegan2-nvlabs"),
                     lambda p, out=out: convert(p, out, format="latentswap-ckpt")):
            with pytest.raises(LswapError):
                load(path)
        for look in (peek_checkpoint, find_converter):  # they read less of a file: may find nothing to refuse
            try:
                look(path)
            except LswapError:
                pass
        head = file_head(path)
        head.peek(), head.state_dict("state_dict"), head.archive_pickle
        assert not harness.marker.exists(), f"{seed.name} ran code: {harness.marker.read_text()}"
        assert CANARY_MODULE not in sys.modules, f"{seed.name} imported the canary module"


def test_the_marker_would_be_seen(harness):
    """The check is live: the canary module, imported by hand, creates the marker."""
    import importlib
    import sys

    try:
        importlib.import_module(CANARY_MODULE)
        assert harness.marker.exists()
    finally:
        harness.marker.unlink(missing_ok=True)
        sys.modules.pop(CANARY_MODULE, None)


@pytest.mark.parametrize(
    "text",
    [
        "kind: train\ntrain: !!python/object/apply:os.system ['touch {marker}']\n",
        "kind: !!python/name:os.system\n",
        "kind: train\nx: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
    ],
)
def test_yaml_configs_run_no_code(harness, tmp_path, text):
    path = tmp_path / "evil.yaml"
    path.write_text(text.format(marker=harness.marker))
    with pytest.raises(LswapError):
        load_config(path, kind="train")
    plain = tmp_path / "plain.yaml"
    plain.write_text("kind: train\n")
    with pytest.raises(LswapError):
        load_config(plain, [f"train.steps=!!python/object/apply:os.system ['touch {harness.marker}']"], kind="train")
    assert not harness.marker.exists()
