"""torchrun with two CPU processes (gloo) matches one process with the same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch

from lswap_core.mixer import load_mixer
from lswap_core.training import read_metrics
from tests.conftest import REPO
from tests.support import TOYS_SOURCE
from tests.unit.test_training import TOY_CONFIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, fake_dists):
    fake_dists.add("toys-dist", {"toys": TOYS_SOURCE})
    config = tmp_path / "toy.yaml"
    config.write_text(TOY_CONFIG.replace("steps: 6", "steps: 4"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fake_dists.root), str(REPO)]),
        "LSWAP_NO_PROGRESS": "1",
        "OMP_NUM_THREADS": "1",
    }
    train = ["-m", "lswap_core", "train", "-c", str(config)]
    subprocess.run([sys.executable, *train, "-o", str(tmp_path / "single")], env=env, check=True, capture_output=True)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", str(free_port())]
    result = subprocess.run([*launcher, *train, "-o", str(tmp_path / "multi")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    def losses(run):
        return [(r["step"], r["total"], r["id"], r["lp"], r["shape"]) for r in read_metrics(run / "metrics.jsonl") if r["split"] == "train"]

    single, multi = losses(tmp_path / "single"), losses(tmp_path / "multi")
    assert [s[0] for s in single] == [m[0] for m in multi] == [1, 2, 3, 4]
    for a, b in zip(single, multi):
        assert a[1:] == pytest.approx(b[1:], rel=1e-5, abs=1e-6)
    one, two = load_mixer(tmp_path / "single" / "mixer.safetensors"), load_mixer(tmp_path / "multi" / "mixer.safetensors")
    for key, value in one.state_dict().items():
        torch.testing.assert_close(two.state_dict()[key], value, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_ctrl_c_saves_a_resume_state_and_the_run_continues(tmp_path, fake_dists):
    import signal
    import time

    fake_dists.add("toys-dist", {"toys": TOYS_SOURCE})
    config = tmp_path / "toy.yaml"
    config.write_text(TOY_CONFIG.replace("steps: 6", "steps: 100000").replace("checkpoint_every: 3", "checkpoint_every: 100000"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake_dists.root), str(REPO)]), "LSWAP_NO_PROGRESS": "1"}
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "lswap_core", "train", "-c", str(config), "-o", str(run)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(read_metrics(run / "metrics.jsonl")) < 5:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr  # as a shell reports a Ctrl-C; not an error
    assert "interrupted after step" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert "error:" not in stderr
    (state,) = (run / "checkpoints").glob("step-*.pt")
    stopped = int(state.stem.split("-")[1])
    assert stopped >= 5
    resumed = subprocess.run(
        [sys.executable, "-m", "lswap_core", "train", "--resume", str(run), "--set", f"train.steps={stopped + 2}"],
        env=env, capture_output=True, text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    steps = [r["step"] for r in read_metrics(run / "metrics.jsonl") if r["split"] == "train"]
    assert steps == list(range(1, stopped + 3))
