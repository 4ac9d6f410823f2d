"""Every command, given bad input: one line on stderr, exit status 1, nothing written.

Each case is one a user met: the exception that used to escape as a
traceback, the folder that got stuck, the output replaced without asking.
"""

from __future__ import annotations

import os
import pickle
import signal

import pytest
import torch
from typer.testing import CliRunner

import lswap_core
from lswap_core.checkpoints import load_resume_state, save_component
from lswap_core.cli import app
from lswap_core.config import load_config
from lswap_core.errors import TrainingError, TrainingInterrupted
from lswap_core.mixer import load_mixer
from lswap_core.plugins import register_plugin
from lswap_core.training import Trainer, read_metrics, train
from lswap_core.training import trainer as trainer_module
from lswap_core.training.interrupts import InterruptGuard
from tests.cli.test_host_commands import assert_one_line_error
from tests.support import ToyGenerator, ToysPlugin
from tests.unit.test_training import TOY_CONFIG

runner = CliRunner()
UNWRITABLE = "/proc/lswap-test"  # no folder can be made there, not even by root


@pytest.fixture(autouse=True)
def toys():
    register_plugin(ToysPlugin(), "toys")


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY_CONFIG)
    return path


@pytest.fixture
def trained(tmp_path, config_file):
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", "-c", str(config_file), "-o", str(run), "--set", "train.steps=3"]).exit_code == 0
    return run


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env={"LSWAP_NO_PROGRESS": "1", **(env or {})})


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# -- values checked before anything is created -----------------------------------------------------


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("optim.lr=-1", "optim.lr must be positive"),
        ("optim.lr=.nan", "optim.lr must be a finite number"),
        ("optim.betas=[2,3]", "optim.betas[0] must be in [0, 1)"),
        ("optim.weight_decay=-0.1", "optim.weight_decay must be at least 0.0"),
        ("loss.latent_penalty=-5", "latent_penalty must be a finite number, at least 0"),
        ("train.seed=-1", "train.seed must be in 0.."),
        ("sampling.truncation_psi=.inf", "sampling.truncation_psi must be a finite number"),
        ("mixer.hidden=[0]", "mixer.hidden widths must be at least 1"),
        ("embedder.options.blox=1", "embedder: identity embedder 'toy-embedder': unknown key 'blox' among its options"),
        ("embedder.name=toy-embeder", "embedder: no identity embedder named 'toy-embeder'; did you mean 'toy-embedder'?"),
    ],
)
def test_bad_training_values_are_refused_before_the_run_folder_exists(tmp_path, config_file, override, fragment):
    run = tmp_path / "run"
    assert_one_line_error(invoke("train", "-c", str(config_file), "-o", str(run), "--set", override), fragment)
    assert not run.exists()


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_seeds_out_of_range_are_one_line(trained, tmp_path, seed):
    mixer = str(trained / "mixer.safetensors")
    out = tmp_path / "s.png"
    assert_one_line_error(invoke("swap", "--mixer", mixer, "--source-seed", seed, "--target-seed", "1", "--out", str(out)), "out of range")
    assert_one_line_error(invoke("generate", "--preset", "tiny", "--seeds", f"0,{seed}", "--out", str(tmp_path / "g")), "out of range")
    assert not out.exists() and not (tmp_path / "g").exists()


def test_unwritable_places_are_one_line():
    assert_one_line_error(invoke("generate", "--preset", "tiny", "--seeds", "0", "--out", f"{UNWRITABLE}/out"), UNWRITABLE)
    fetch = invoke("weights", "fetch", "stylegan2-ffhq", env={"LSWAP_HOME": f"{UNWRITABLE}/home"})
    assert_one_line_error(fetch, UNWRITABLE)
    assert_one_line_error(invoke("demo", "--out", f"{UNWRITABLE}/demo", "--steps", "1"), UNWRITABLE)


def test_out_of_memory_is_one_line(tmp_path, config_file, monkeypatch):
    def exhausted(self, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1e12 bytes")

    monkeypatch.setattr(ToyGenerator, "synthesis", exhausted)
    result = invoke("train", "-c", str(config_file), "-o", str(tmp_path / "run"))
    assert_one_line_error(result, "out of memory")
    assert "train.batch_size" in result.stderr


def test_a_bug_keeps_its_traceback(tmp_path, config_file, monkeypatch):
    def broken(self, *args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ToyGenerator, "synthesis", broken)
    result = invoke("train", "-c", str(config_file), "-o", str(tmp_path / "run"))
    assert result.exit_code != 0 and isinstance(result.exception, ZeroDivisionError)


# -- run folders that never get stuck ---------------------------------------------------------------


def test_a_run_that_diverged_before_its_first_state_starts_again(tmp_path, config_file, monkeypatch):
    original = ToyGenerator.synthesis

    def poisoned(self, ws, **kwargs):
        images = original(self, ws, **kwargs)
        return images * float("nan") if ws.requires_grad else images

    monkeypatch.setattr(ToyGenerator, "synthesis", poisoned)
    run = tmp_path / "run"
    command = ["train", "-c", str(config_file), "-o", str(run)]
    result = invoke(*command)
    assert_one_line_error(result, "no resume state was saved yet")
    assert "start it again with a lower learning rate" in result.stderr and "optim.lr=0.0001" in result.stderr
    monkeypatch.setattr(ToyGenerator, "synthesis", original)
    again = invoke(*command, "--set", "optim.lr=0.0001")
    assert again.exit_code == 0, again.output
    assert "trained 6 steps" in again.stdout
    assert_one_line_error(invoke("train", "--resume", str(tmp_path / "none")), "holds no training run")


def test_after_a_divergence_resume_goes_on_with_allowed_changes(trained, config_file):
    refused = invoke("train", "--resume", str(trained), "--set", "optim.lr=0.0001")
    assert_one_line_error(refused, "different settings: optim.lr")
    assert "--allow-changes" in refused.stderr
    result = invoke("train", "--resume", str(trained), "--allow-changes", "--set", "optim.lr=0.0001", "--steps", "5")
    assert result.exit_code == 0, result.output
    assert "optim.lr 0.001 -> 0.0001" in result.stderr and "differs from an uninterrupted one" in result.stderr
    (change,) = [r for r in read_metrics(trained / "metrics.jsonl") if r["split"] == "change"]
    assert change["step"] == 3 and change["changes"] == {"optim.lr": {"from": 0.001, "to": 0.0001}}
    assert load_config(trained / "config.yaml").optim.lr == 0.0001
    state = load_resume_state(sorted((trained / "checkpoints").glob("*.pt"))[-1])
    assert state.optimizers["mixer"]["param_groups"][0]["lr"] == 0.0001
    assert_one_line_error(invoke("train", "-c", str(config_file), "-o", str(trained / "x"), "--allow-changes"), "goes with --resume")


def test_resume_passes_over_a_truncated_newest_state(tmp_path, config_file):
    run = tmp_path / "run"
    train(load_config(config_file, ["train.checkpoint_every=1", "train.keep_checkpoints=3"], kind="train"), run)
    newest = sorted((run / "checkpoints").glob("*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:200])
    result = invoke("train", "--resume", str(run), "--steps", "8")
    assert result.exit_code == 0, result.output
    assert f"passed over {newest}" in result.stderr and "step-0000005.pt" in result.stderr
    assert "trained 3 steps (5 -> 8)" in result.stdout


def test_resume_removes_the_temporary_files_a_killed_run_left(trained):
    orphans = [trained / ".mixer.safetensors.k2j4x9.tmp", trained / "checkpoints" / ".step-0000004.pt.q8w1e3.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a file")
    assert invoke("train", "--resume", str(trained), "--steps", "4").exit_code == 0
    assert not any(orphan.exists() for orphan in orphans)
    assert not list(trained.rglob(".*.tmp"))


def test_resume_reports_and_refuses(trained, config_file):
    done = invoke("train", "--resume", str(trained))
    assert done.exit_code == 0 and "nothing to do: the run is at step 3 of 3" in done.stdout
    assert "trained" not in done.stdout
    assert_one_line_error(invoke("train", "--resume", str(trained), "--steps", "2"), "train.steps 2 is below the run's step 3")
    assert load_config(trained / "config.yaml").train.steps == 3
    assert_one_line_error(invoke("train", "--resume", str(trained), "-c", str(config_file)), "--config goes with a new run")


def test_a_run_folder_is_replaced_only_with_overwrite(trained, config_file):
    assert_one_line_error(invoke("train", "-c", str(config_file), "-o", str(trained)), "already holds a training run")
    result = invoke("train", "-c", str(config_file), "-o", str(trained), "--steps", "2", "--overwrite")
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in read_metrics(trained / "metrics.jsonl") if r["split"] == "train"] == [1, 2]


def test_a_failed_start_leaves_no_folder(tmp_path, config_file):
    run = tmp_path / "run"
    result = invoke("train", "-c", str(config_file), "-o", str(run), "--set", "generator.weights=/nonexistent.safetensors")
    assert_one_line_error(result, "does not exist")
    assert not run.exists()


def test_a_second_ctrl_c_while_saving_still_leaves_a_valid_resume_state(tmp_path, config_file, monkeypatch):
    real_save = trainer_module.save_resume_state

    def save_under_fire(path, state):
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: stop after this step
        os.kill(os.getpid(), signal.SIGINT)  # the second, while the state is being written
        return real_save(path, state)

    monkeypatch.setattr(trainer_module, "save_resume_state", save_under_fire)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="stopped at once; the last resume state is .*step-0000003.pt"):
        train(load_config(config_file, kind="train"), run)
    (state,) = (run / "checkpoints").glob("*.pt")
    assert load_resume_state(state).step == 3


def test_the_second_ctrl_c_waits_only_while_saving():
    guard = InterruptGuard()
    guard.handle()
    assert guard.stop.is_set()
    with pytest.raises(KeyboardInterrupt), guard.saving():
        guard.handle()  # deferred: raised once the block is done
    with pytest.raises(KeyboardInterrupt):
        guard.handle()


def test_divergence_with_a_state_names_the_way_on(tmp_path, config_file, monkeypatch):
    original = ToyGenerator.synthesis
    calls = {"n": 0}

    def poisoned(self, ws, **kwargs):
        calls["n"] += 1
        images = original(self, ws, **kwargs)
        return images * float("nan") if calls["n"] > 13 and ws.requires_grad else images  # step 6's swap

    monkeypatch.setattr(ToyGenerator, "synthesis", poisoned)
    with pytest.raises(TrainingError, match="--allow-changes --set optim.lr=0.0001"):
        train(load_config(config_file, kind="train"), tmp_path / "run")


# -- one overwrite policy ---------------------------------------------------------------------------


def test_every_command_refuses_to_replace_an_output_without_overwrite(trained, tmp_path):
    mixer = str(trained / "mixer.safetensors")
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    swap = ["swap", "--mixer", mixer, "--source-seed", "1", "--target-seed", "2", "--out", str(existing)]
    assert_one_line_error(invoke(*swap), "already exists; pass --overwrite")
    layers = ["analyze", "layers", "--mixer", mixer, "--source-seeds", "1", "--target-seeds", "2", "--out", str(existing)]
    assert_one_line_error(invoke(*layers), "already exists; pass --overwrite")
    assert existing.read_bytes() == b"keep me"
    assert invoke(*swap, "--overwrite").exit_code == 0 and existing.read_bytes() != b"keep me"
    export = save_component(lswap_core.load_generator("toy"), tmp_path / "g.safetensors")
    target = tmp_path / "target.safetensors"
    target.write_bytes(b"keep me")
    assert_one_line_error(invoke("convert", str(export), str(target)), "already exists; pass --overwrite")
    assert target.read_bytes() == b"keep me"
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "notes.txt").write_text("mine")
    assert_one_line_error(invoke("demo", "--out", str(demo)), "pass --overwrite")


# -- a consistent command line ---------------------------------------------------------------------


def test_help_shows_flags_as_flags():
    for command in (["swap", "--help"], ["train", "--help"], ["--help"], ["faces", "detect", "--help"]):
        result = invoke(*command)
        assert result.exit_code == 0 and "<bool>" not in result.stdout, command


def test_config_show_takes_built_in_names():
    result = invoke("config", "show", "tiny")
    assert result.exit_code == 0 and "kind: train" in result.stdout


def test_a_folder_given_as_a_file_says_so(trained, tmp_path):
    result = invoke("swap", "--mixer", str(trained), "--source-seed", "1", "--target-seed", "2", "--out", str(tmp_path / "s.png"))
    assert_one_line_error(result, "is a folder, not an export file")


def test_convert_names_why_a_checkpoint_cannot_be_read(tmp_path):
    class Exploit:
        def __reduce__(self):
            return os.system, ("echo owned",)

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": Exploit()}))
    assert_one_line_error(invoke("convert", str(evil), str(tmp_path / "out.safetensors")), "system, which lswap will not load")
    truncated = tmp_path / "cut.pt"
    torch.save({"w": torch.ones(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    assert_one_line_error(invoke("convert", str(truncated), str(tmp_path / "out.safetensors")), "truncated")
    assert not (tmp_path / "out.safetensors").exists()


def test_a_trainer_can_be_built_again_on_the_folder_a_failed_run_left(tmp_path, config_file):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("kind: train\n")  # what a run killed before its first state leaves
    (run / "metrics.jsonl").write_text('{"step": 1, "split": "train", "total": 1.0}\n')
    Trainer(load_config(config_file, kind="train"), run).run()
    assert load_mixer(run / "mixer.safetensors").config.num_ws == 3
