"""Two training processes on the gloo backend: collectives on the training device, one process preparing the run folder."""

from __future__ import annotations

import multiprocessing
import os
import socket
import traceback

import pytest
import torch

from tests.unit.test_training import TOY_CONFIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, folder: str, config_text: str, results) -> None:  # noqa: ANN001 - a queue
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
        LSWAP_NO_PROGRESS="1", OMP_NUM_THREADS="1",
    )
    try:
        from lswap_core.config import load_config
        from lswap_core.errors import LswapError
        from lswap_core.plugins import register_plugin
        from lswap_core.training import Trainer
        from lswap_core.training.distributed import Distributed
        from tests.support import ToysPlugin

        dist = Distributed.from_environment()
        dist.setup(torch.device("cpu"))
        devices = []
        reduce = torch.distributed.all_reduce

        def recording(tensor, *args, **kwargs):  # noqa: ANN001, ANN202
            devices.append(tensor.device)
            return reduce(tensor, *args, **kwargs)

        torch.distributed.all_reduce = recording
        report = {
            "any_one": dist.any(rank == 1),
            "any_none": dist.any(False),
            "mean": dist.mean({"x": float(rank), "y": 2.0 * rank}),
            "devices_ok": all(device == dist.device for device in devices) and len(devices) == 3,
        }
        register_plugin(ToysPlugin(), "toys")
        with open(os.path.join(folder, f"config-{rank}.yaml"), "w") as handle:
            handle.write(config_text)
        config = load_config(os.path.join(folder, f"config-{rank}.yaml"), kind="train")
        try:
            Trainer(config, os.path.join(folder, "run"))
            report["error"] = None
        except LswapError as exc:
            report["error"] = (type(exc).__name__, str(exc))
        results.put((rank, report))
    except BaseException:  # report anything else to the test instead of dying silently
        results.put((rank, {"crash": traceback.format_exc()}))
    finally:
        # Leave the group together: a process exiting while gloo still talks to the other aborts.
        if torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_collectives_and_the_run_folder_with_two_processes(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step-0000001.pt").write_bytes(b"")  # the folder already holds a run
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    port = free_port()
    workers = [context.Process(target=_worker, args=(rank, port, str(tmp_path), TOY_CONFIG, results)) for rank in (0, 1)]
    for worker in workers:
        worker.start()
    reports = dict(results.get(timeout=180) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for rank in (0, 1):
        assert "crash" not in reports[rank], reports[rank].get("crash")
        assert reports[rank]["any_one"] is True and reports[rank]["any_none"] is False
        assert reports[rank]["mean"] == {"x": 0.5, "y": 1.0}
        assert reports[rank]["devices_ok"], "collectives must use tensors on the training device"
    # Only the main process looked at the folder; the other stopped too, instead of waiting forever.
    assert reports[0]["error"][0] == "InputError" and "already holds a training run" in reports[0]["error"][1]
    assert reports[1]["error"][0] == "TrainingError" and "main training process" in reports[1]["error"][1]
