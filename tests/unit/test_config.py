"""Typed configs: YAML files, --set overrides, type checks, unknown keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from lswap_core import config as config_module
from lswap_core.config import apply_overrides, dump_config, from_mapping, load_config, write_config
from lswap_core.errors import ConfigError


@dataclasses.dataclass
class OptimSection:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass
class SampleConfig:
    name: str = "run"
    steps: int = 10
    space: Literal["z", "w", "w+"] = "w+"
    weights: Path | None = None
    layers: list[str] = dataclasses.field(default_factory=lambda: ["coarse"])
    options: dict[str, float] = dataclasses.field(default_factory=dict)
    optim: OptimSection = dataclasses.field(default_factory=OptimSection)

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError("steps must be >= 0")


@pytest.fixture(autouse=True)
def sample_kind(monkeypatch):
    monkeypatch.setitem(config_module.CONFIG_KINDS, "sample", f"{__name__}:SampleConfig")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_file_values_are_typed_and_defaults_fill_the_rest(tmp_path):
    path = write(tmp_path, "kind: sample\nsteps: 5\noptim:\n  lr: 1e-3\n  betas: [0.5, 0.9]\nweights: g.safetensors\n")
    config = load_config(path)
    assert config == SampleConfig(steps=5, weights=Path("g.safetensors"), optim=OptimSection(lr=1e-3, betas=(0.5, 0.9)))


def test_overrides_are_parsed_as_yaml_and_applied_in_order(tmp_path):
    path = write(tmp_path, "kind: sample\n")
    config = load_config(path, ["steps=3", "optim.lr=2e-5", "layers=[middle, fine1]", "steps=4", "options.a=1"])
    assert (config.steps, config.optim.lr, config.layers, config.options) == (4, 2e-5, ["middle", "fine1"], {"a": 1.0})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("steps=many", "run.yaml: steps must be int, got str 'many'"),
        ("steps=1.5", "steps must be int, got float"),
        ("steps=true", "steps must be int, got bool"),
        ("space=q", "space must be one of 'z', 'w', 'w+'"),
        ("optim.betas=[1, 2, 3]", "betas must have 2 items"),
        ("layers=coarse", "layers must be a list"),
        ("steps=-1", "steps must be >= 0"),
        ("optim=3", "optim must be a mapping"),
    ],
)
def test_wrongly_typed_values_are_one_line_errors(tmp_path, override, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, "kind: sample\n"), [override])
    text = str(raised.value)
    assert "\n" not in text and message in text


def test_unknown_keys_list_the_valid_ones_and_the_closest(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, "kind: sample\noptim:\n  lrr: 1\n"))
    assert "unknown key 'lrr' in optim" in str(raised.value) and "did you mean 'lr'?" in str(raised.value)
    assert "valid keys: lr, betas" in str(raised.value)
    with pytest.raises(ConfigError, match="unknown key 'stpes'.*did you mean 'steps'"):
        load_config(write(tmp_path, "kind: sample\n"), ["stpes=3"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: sample\nsteps: [1, 2\n", "is not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("steps: 3\n", "has no top-level 'kind' key"),
        ("kind: nonsense\n", "unknown config kind 'nonsense'"),
    ],
)
def test_malformed_files_are_clear_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file_and_wrong_kind(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a 'sample' config, but a 'train' config is needed"):
        load_config(write(tmp_path, "kind: sample\n"), kind="train")


@pytest.mark.parametrize("override", ["noequals", "=3", "a..b=1", "steps=[unclosed"])
def test_malformed_overrides(override):
    with pytest.raises(ConfigError, match="--set"):
        apply_overrides({}, [override])


def test_dump_round_trips_and_write_is_atomic(tmp_path):
    config = load_config(write(tmp_path, "kind: sample\n"), ["weights=x.safetensors", "optim.lr=0.5"])
    text = dump_config(config)
    assert text.startswith("kind: sample\n")
    out = write_config(config, tmp_path / "resolved.yaml")
    assert load_config(out) == config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resolved.yaml", "run.yaml"]


def test_from_mapping_requires_fields_without_defaults():
    @dataclasses.dataclass
    class Needs:
        path: str

    with pytest.raises(ConfigError, match="missing required key 'path'"):
        from_mapping(Needs, {})
