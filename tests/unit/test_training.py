"""The training loop on small real components: outputs, resume, divergence, folders."""

from __future__ import annotations

import math
import os
import stat

import pytest
import torch

from lswap_core.checkpoints import load_resume_state
from lswap_core.config import load_config
from lswap_core.errors import CheckpointError, InputError, TrainingError
from lswap_core.mixer import load_mixer
from lswap_core.plugins import register_plugin
from lswap_core.training import Trainer, read_metrics, sample_pairs, train
from lswap_core.training.stage_timer import StageTimer
from tests.support import ToysPlugin

TOY_CONFIG = """
kind: train
generator: {name: toy}
embedder: {name: toy-embedder}
shape_model: {name: toy-shape}
mixer: {hidden: [16, 16]}
sampling: {noise_mode: const}
optim: {lr: 0.001}
train: {steps: 6, batch_size: 4, log_every: 1, validate_every: 3, sample_every: 3, checkpoint_every: 3, validation_pairs: 2}
"""


@pytest.fixture(autouse=True)
def toys():
    register_plugin(ToysPlugin(), "toys")


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY_CONFIG)
    return path


def train_losses(folder):
    return [(r["step"], r["total"], r["id"], r["lp"], r["shape"]) for r in read_metrics(folder / "metrics.jsonl") if r["split"] == "train"]


def test_a_run_writes_every_output(tmp_path, config_file):
    out = tmp_path / "run"
    result = train(load_config(config_file, kind="train"), out)
    assert result.export == out / "mixer.safetensors" and load_mixer(result.export).config.num_ws == 3
    assert load_config(out / "config.yaml").train.steps == 6
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in records if r["split"] == "val"] == [3, 6]
    assert all(set(r) >= {"total", "id", "lp", "shape"} for r in records)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-0000003.png", "step-0000006.png"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000003.pt", "step-0000006.pt"]


def test_the_mixer_learns(tmp_path, config_file):
    config = load_config(config_file, ["train.steps=40", "train.checkpoint_every=40"], kind="train")
    train(config, tmp_path / "run")
    losses = [total for _, total, *_ in train_losses(tmp_path / "run")]
    assert sum(losses[-5:]) < sum(losses[:5])


def assert_same_mixers(a, b):
    a, b = load_mixer(a / "mixer.safetensors"), load_mixer(b / "mixer.safetensors")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_resuming_reproduces_an_uninterrupted_run(tmp_path, config_file, precision):
    straight = tmp_path / "straight"
    train(load_config(config_file, [f"train.precision={precision}"], kind="train"), straight)
    split = tmp_path / "split"
    train(load_config(config_file, ["train.steps=3", f"train.precision={precision}"], kind="train"), split)
    # Only fp16 scales its loss, so only its states hold a loss scaler (states without one resume as before).
    assert ("grad_scaler" in load_resume_state(split / "checkpoints" / "step-0000003.pt").extra) == (precision == "fp16")
    resumed = load_config(split / "config.yaml", ["train.steps=6"], kind="train")
    train(resumed, split, resume=True)
    assert train_losses(split) == train_losses(straight)
    assert_same_mixers(straight, split)


def train_records(folder, *keys):
    return [tuple(r[key] for key in keys) for r in read_metrics(folder / "metrics.jsonl") if r["split"] == "train"]


def test_fp16_skips_a_step_whose_gradients_overflow_and_resumes_with_its_loss_scale(tmp_path, config_file, monkeypatch):
    from tests.support import ToyGenerator

    original = ToyGenerator.synthesis
    swaps = {"n": 0}

    def overflowing(self, ws, **kwargs):
        if ws.requires_grad:  # the swap's render of a training step (validation runs without gradients)
            swaps["n"] += 1
            if swaps["n"] == 2:
                ws.register_hook(lambda grad: grad * float("inf"))
        return original(self, ws, **kwargs)

    monkeypatch.setattr(ToyGenerator, "synthesis", overflowing)
    fp16 = ["train.precision=fp16"]
    straight = tmp_path / "straight"
    train(load_config(config_file, fp16, kind="train"), straight)  # no TrainingError: the loss stayed finite
    scales = [scale for (scale,) in train_records(straight, "loss_scale")]
    assert scales == [2.0**16] + [2.0**15] * 5, "the overflow at step 2 halves the scale"
    assert not math.isfinite(train_records(straight, "grad_norm")[1][0])
    swaps["n"] = 0
    split = tmp_path / "split"
    train(load_config(config_file, [*fp16, "train.steps=3"], kind="train"), split)
    assert load_resume_state(split / "checkpoints" / "step-0000003.pt").extra["grad_scaler"]["scale"] == 2.0**15
    train(load_config(split / "config.yaml", ["train.steps=6"], kind="train"), split, resume=True)
    keys = ("total", "id", "lp", "shape", "loss_scale")
    assert train_records(split, *keys) == train_records(straight, *keys)
    assert_same_mixers(straight, split)


@pytest.mark.slow
def test_fp16_trains_the_tiny_config_and_resumes_bit_for_bit(tmp_path):
    """The real networks under float16 autocast on the CPU, with their own loss-scale changes."""
    overrides = ["train.precision=fp16", "train.device=cpu", "train.batch_size=4", "train.validation_pairs=2",
                 "train.log_every=1", "train.validate_every=2", "train.sample_every=2", "train.checkpoint_every=2"]
    straight = tmp_path / "straight"
    train(load_config("tiny", [*overrides, "train.steps=6"], kind="train"), straight)
    keys = ("total", "id", "lp", "loss_scale")
    records = train_records(straight, *keys)
    assert all(math.isfinite(value) for record in records for value in record)
    split = tmp_path / "split"
    train(load_config("tiny", [*overrides, "train.steps=3"], kind="train"), split)
    train(load_config(split / "config.yaml", ["train.steps=6"], kind="train"), split, resume=True)
    assert train_records(split, *keys) == records
    assert_same_mixers(straight, split)


def test_a_stage_timer_splits_a_step_without_changing_it(tmp_path, config_file):
    config = load_config(config_file, kind="train")
    plain = Trainer(config, tmp_path / "plain")
    assert plain.stage_timer is None
    timed = Trainer(config, tmp_path / "timed")
    timed.stage_timer = StageTimer(timed.device)
    assert timed.train_step(0) == plain.train_step(0)
    assert all(seconds > 0 for seconds in timed.stage_timer.seconds.values())


def test_resume_refuses_changed_architecture(tmp_path, config_file):
    out = tmp_path / "run"
    train(load_config(config_file, ["train.steps=3"], kind="train"), out)
    changed = load_config(config_file, ["mixer.hidden=[8]"], kind="train")
    with pytest.raises(CheckpointError, match="different settings: mixer.hidden"):
        Trainer(changed, out, resume=True)


def test_a_folder_holding_a_run_is_refused(tmp_path, config_file):
    out = tmp_path / "run"
    train(load_config(config_file, ["train.steps=3"], kind="train"), out)
    with pytest.raises(InputError, match="already holds a training run.*--resume"):
        Trainer(load_config(config_file, kind="train"), out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_a_read_only_folder_is_refused_before_training(tmp_path, config_file):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(InputError, match="cannot write"):
        Trainer(load_config(config_file, kind="train"), locked / "run")


def test_a_missing_parent_on_a_read_only_filesystem_is_refused(tmp_path, config_file, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(tmp_path), "mkdir", refuse)
    with pytest.raises(InputError, match="cannot write .*Permission denied"):
        Trainer(load_config(config_file, kind="train"), tmp_path / "run")


@pytest.mark.parametrize("precision", ["fp32", "fp16"])  # fp16's loss scaler does not hide a diverged loss
def test_non_finite_losses_stop_training_and_keep_the_last_good_state(tmp_path, config_file, monkeypatch, precision):
    from tests.support import ToyGenerator

    original = ToyGenerator.synthesis
    calls = {"n": 0}

    def poisoned(self, ws, **kwargs):
        calls["n"] += 1
        images = original(self, ws, **kwargs)
        # Two renders per step (source and target in one batch, then the swap) plus two for validation
        # after step 3: call 14 is step 6's swap.
        return images * float("nan") if calls["n"] > 13 and ws.requires_grad else images

    monkeypatch.setattr(ToyGenerator, "synthesis", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"loss id, shape became non-finite at step 6; .*step-0000003.pt"):
        train(load_config(config_file, [f"train.precision={precision}"], kind="train"), out)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-0000003.pt"]
    assert not (out / "mixer.safetensors").exists()


def test_pairs_are_identical_with_the_given_probability():
    source, target = sample_pairs(8, 4000, 0.125, torch.Generator().manual_seed(0))
    same = (source == target).all(dim=1).float().mean().item()
    assert abs(same - 0.125) < 0.02


def test_bf16_autocast_trains(tmp_path, config_file):
    config = load_config(config_file, ["train.precision=bf16", "train.steps=2"], kind="train")
    result = train(config, tmp_path / "run")
    assert all(torch.isfinite(torch.tensor(v)) for v in result.final_metrics.values())


def test_z_and_w_spaces_train(tmp_path, config_file):
    for space in ("z", "w"):
        result = train(load_config(config_file, [f"mixer.space={space}", "train.steps=2"], kind="train"), tmp_path / space)
        assert load_mixer(result.export).config.space == space


def test_training_without_the_shape_loss(tmp_path, config_file):
    train(load_config(config_file, ["loss.shape=0", "train.steps=2"], kind="train"), tmp_path / "run")
    assert "shape" not in read_metrics(tmp_path / "run" / "metrics.jsonl")[0]


def test_a_camera_generator_trains_with_a_camera_per_image(tmp_path, config_file, monkeypatch):
    from tests.support import ToyCameraGenerator

    original = ToyCameraGenerator.synthesis
    seen: list[torch.Tensor | None] = []

    def recording(self, ws, **kwargs):
        seen.append(kwargs.get("camera"))
        return original(self, ws, **kwargs)

    monkeypatch.setattr(ToyCameraGenerator, "synthesis", recording)
    overrides = ["generator.name=toy-camera", "train.steps=2", "sampling.noise_mode=random", "sampling.cameras=each"]
    first = train(load_config(config_file, overrides, kind="train"), tmp_path / "a")
    steps = seen[:4]  # source and target rendered together, then the swap, in steps 1 and 2 (validation follows)
    assert [camera.shape for camera in steps] == [(8, 2), (4, 2), (8, 2), (4, 2)]
    for together, swap in (steps[0:2], steps[2:4]):
        source, target = together[:4], together[4:]
        assert torch.equal(swap, target), "the swap is seen from the target's camera"
        assert not torch.equal(source, target)
    assert not torch.equal(steps[0], steps[2]), "each step draws its own cameras"
    second = train(load_config(config_file, overrides, kind="train"), tmp_path / "b")
    assert first.final_metrics == second.final_metrics  # cameras and noise come from the run's seeds
    mixer = load_mixer(first.export)
    assert mixer.trained_with.generator.name == "toy-camera"

    seen.clear()  # the default: one camera per pair, for source, target and swap alike
    train(load_config(config_file, overrides[:-1], kind="train"), tmp_path / "c")
    together, swap = seen[:2]
    assert torch.equal(together[:4], together[4:]) and torch.equal(swap, together[4:])


def test_the_trainer_leaves_the_global_random_state_alone(tmp_path, config_file):
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    train(load_config(config_file, ["train.steps=2", "sampling.noise_mode=random"], kind="train"), tmp_path / "run")
    assert torch.equal(torch.rand(4), expected)
