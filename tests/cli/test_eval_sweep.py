"""``lswap eval`` and ``lswap sweep`` end to end on the tiny config, judged by face-api's real
weights (skipped without the shared assets), and ``lswap_core.evaluate``."""

from __future__ import annotations

import base64
import html.parser
import io
import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import lswap_core
from lswap_core.cli import app
from lswap_core.config import load_config
from lswap_core.evaluation import EmbedderFeatures, Judges
from lswap_core.evaluation.cache import FeatureCache
from lswap_core.mixer import load_mixer
from lswap_core.swapping import generator_for
from lswap_core.training import train
from tests.cli.conftest import ASTRONAUT, CLOSE_UP
from tests.cli.test_host_commands import assert_one_line_error
from tests.conftest import needs_assets

pytestmark = needs_assets("face-api", "images/astronaut.png", "images/single-face-crop.png")
runner = CliRunner()
ENV = {"LSWAP_NO_PROGRESS": "1"}


@pytest.fixture(scope="module")
def mixer_file(tmp_path_factory):
    run = tmp_path_factory.mktemp("mixer") / "run"
    train(load_config("tiny", ["train.steps=2"], kind="train"), run)
    return run / "mixer.safetensors"


def invoke(*args: str):
    return runner.invoke(app, [str(arg) for arg in args], env=ENV)


class ReportParser(html.parser.HTMLParser):
    """Collects the images and SVGs of a report, and fails on unbalanced tags."""

    VOID = {"meta", "img", "br", "rect"}

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.svgs = 0
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag == "svg":
            self.svgs += 1
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


def parse_report(path) -> ReportParser:
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    parser = ReportParser()
    parser.feed(text)
    assert parser.open == [], parser.open
    for source in parser.images:  # every image is inlined and decodes
        assert source.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).verify()
    return parser


def test_eval_on_generated_pairs_writes_tables_values_and_a_report(mixer_file, face_networks, tmp_path):
    out = tmp_path / "eval"
    args = ["eval", "--mixer", mixer_file, "--pairs", "6", "--layers", "all,coarse", "--fid-features", "identity",
            "--device", "cpu", "--out", out, *face_networks]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text().splitlines()
    assert table[0].startswith("| setting | ID↓ |") and [line.split("|")[1].strip() for line in table[2:]] == ["all", "coarse"]
    values = json.loads((out / "results.json").read_text())
    assert values["info"]["pairs"] == 6 and values["info"]["pose_and_expression"] == "landmarks (head_angles)"
    for setting in ("all", "coarse"):
        pairs = values["pairs"][setting]
        assert all(len(pairs[name]) == 6 for name in ("id_hit", "cos_source", "cos_target", "expression_mse", "pose_mse"))
    report = parse_report(out / "report.html")
    assert len(report.images) == 2 and report.svgs == 8  # a sample grid and four histograms per setting
    assert (out / "table.csv").read_text().startswith("setting,id_error,id_retrieval")

    assert_one_line_error(invoke(*args), "already holds an evaluation")
    cached = sorted(path.name for path in (out / "cache").iterdir())
    again = invoke(*args, "--overwrite")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "results.json").read_text())["pairs"] == values["pairs"]
    assert sorted(path.name for path in (out / "cache").iterdir()) == cached


def test_eval_prints_the_table_alone_as_json_or_markdown(mixer_file, face_networks, tmp_path):
    base = ["eval", "--mixer", mixer_file, "--pairs", "3", "--fid-features", "none", "--device", "cpu",
            "--out", tmp_path / "e", *face_networks]
    as_json = invoke(*base, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert [row["setting"] for row in rows] == ["all"] and rows[0]["fid"] is None
    assert 0.0 <= rows[0]["id_retrieval"] <= 1.0 and rows[0]["id_error"] == pytest.approx(1 - rows[0]["id_retrieval"])
    as_markdown = invoke(*base, "--format", "md")
    assert as_markdown.exit_code == 0 and as_markdown.stdout.startswith("| setting | ID↓ |")
    assert not (tmp_path / "e" / "report.html").exists()


def test_the_python_api_returns_every_pair(mixer_file, face_networks):
    mixer = load_mixer(mixer_file)
    embedder = lswap_core.load_embedder("faceapi", weights=face_networks[3])
    judges = Judges(embedder, lswap_core.load_face_analyzer("faceapi", weights=face_networks[1]),
                    fid_network=EmbedderFeatures(embedder), fid_name="faceapi", cache=FeatureCache(None))
    result = lswap_core.evaluate(mixer, generator_for(mixer), judges, pairs=4, settings="all,fine1", progress=False)
    assert [row["setting"] for row in result.table()] == ["all", "fine1"]
    values = result.setting("fine1").values
    assert values.id_hit.dtype == torch.bool and values.cos_source.shape == (4,) and values.pose_mse.shape == (4,)
    assert torch.isfinite(values.cos_target).all() and len(result.samples["all"]) == 4
    assert result.setting("fine1").fid is not None and result.setting("all").kid is not None


def test_eval_on_a_folder_of_photo_swaps(mixer_file, face_networks, tmp_path):
    swaps = tmp_path / "swaps"
    swaps.mkdir()
    for source, target in ((CLOSE_UP, ASTRONAUT), (ASTRONAUT, CLOSE_UP)):
        result = invoke("swap", "--mixer", mixer_file, "--source", source, "--target", target, "--inverter-preset", "tiny",
                        "--save-aligned", "--device", "cpu", "--out", swaps / f"{target.stem}__{source.stem}.png", *face_networks)
        assert result.exit_code == 0, result.output
    out = tmp_path / "eval"
    result = invoke("eval", "--swaps", swaps, "--fid-features", "identity", "--device", "cpu", "--out", out, *face_networks)
    assert result.exit_code == 0, result.output
    values = json.loads((out / "results.json").read_text())
    assert values["info"]["mode"] == "swaps" and values["info"]["pairs"] == 2 and values["info"]["sources"] == 2
    assert len(values["pairs"]["photos"]["cos_source"]) == 2
    parse_report(out / "report.html")


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --mixer (generated pairs) or --swaps"),
    (["--pairs", "1"], "1 pair(s) are too few: retrieval and FID need at least 2"),
    (["--layers", "all,nose"], "nose"),
    (["--format", "pdf"], "--format 'pdf' is not one of html, md, json"),
])
def test_bad_eval_options_are_one_line(mixer_file, tmp_path, args, message):
    base = ["eval", "--out", tmp_path / "e"] + (["--mixer", mixer_file] if args else [])
    assert_one_line_error(invoke(*base, *args), message)
    assert not (tmp_path / "e").exists()


def test_a_folder_without_reports_and_a_mixer_that_does_not_fit_are_refused(mixer_file, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(invoke("eval", "--swaps", tmp_path / "empty", "--out", tmp_path / "e"), "holds no swap reports")
    result = invoke("eval", "--mixer", mixer_file, "--generator", "stylenerf", "--preset", "tiny", "--out", tmp_path / "e")
    assert_one_line_error(result, "stylenerf")
    assert not (tmp_path / "e").exists()


def test_an_embedder_without_its_weights_names_the_fetch(mixer_file, tmp_path, monkeypatch):
    monkeypatch.setenv("LSWAP_HOME", str(tmp_path / "home"))
    result = invoke("eval", "--mixer", mixer_file, "--pairs", "2", "--out", tmp_path / "e", "--device", "cpu")
    assert_one_line_error(result, "lswap weights fetch faceapi")


SWEEP = ["sweep", "--config", "tiny", "--embedder", "trained", "--fid-features", "identity", "--window", "10", "--device", "cpu"]


def test_a_two_point_sweep_resumes_and_skips_finished_points(face_networks, tmp_path):
    out = tmp_path / "sweep"
    analyzer = face_networks[:2]
    args = [*SWEEP, "--grid", "loss.latent_penalty=1,100", "--steps", "4", "--pairs", "3", "--out", out,
            "--set", "train.log_every=1", "--set", "train.checkpoint_every=2", *analyzer]
    # An interrupted second point: its run stopped at step 2 of 4, with a resume state.
    config = load_config("tiny", ["train.steps=2", "train.log_every=1", "train.checkpoint_every=2",
                                  "loss.latent_penalty=100"], kind="train")
    train(config, out / "runs" / "latent_penalty=100")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    steps = [r["step"] for r in map(json.loads, (out / "runs" / "latent_penalty=100" / "metrics.jsonl").read_text().splitlines())
             if r["split"] == "train"]
    assert steps == [1, 2, 3, 4]  # continued from its resume state, nothing trained twice
    table = (out / "table.md").read_text().splitlines()
    assert table[0].startswith("| λ | ID↓ |") and [line.split("|")[1].strip() for line in table[2:]] == ["1", "100"]
    assert "L_id" in table[0] and (out / "figure7.png").is_file() and (out / "table.csv").is_file()
    report = parse_report(out / "report.html")
    assert len(report.images) == 3 and report.svgs == 8  # Figure 7; a sample grid and four histograms per point
    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.is_file() and "runs" in path.parts}
    again = invoke(*args)
    assert again.exit_code == 0 and again.stderr.count("done already") == 2
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps


def test_a_grid_key_that_is_no_config_field_is_one_line(tmp_path):
    result = invoke(*SWEEP, "--grid", "loss.nose=1,2", "--out", tmp_path / "s")
    assert_one_line_error(result, "nose")
    assert not (tmp_path / "s").exists()


def test_the_sweep_shows_the_papers_trends_on_the_tiny_config(face_networks, tmp_path):
    """λ = 0, 1, 100 for 40 steps: identity toward the source as λ falls, pose and expression toward
    the target as λ rises, L_lp about ∝ L_id/λ, and L_lp growing without the penalty."""
    out = tmp_path / "sweep"
    result = invoke(*SWEEP, "--grid", "loss.latent_penalty=0,1,100", "--steps", "40", "--pairs", "16", "--out", out,
                    *face_networks[:2])
    assert result.exit_code == 0, result.output
    rows = {row["λ"]: row for row in map(dict, _csv_rows(out / "table.csv"))}
    free, low, high = rows["0"], rows["1"], rows["100"]
    assert float(free["id_cos_source"]) > float(high["id_cos_source"]) and float(low["id_cos_source"]) > float(high["id_cos_source"])
    assert float(high["id_cos_target"]) > float(low["id_cos_target"])
    assert float(high["expression_mse"]) < float(low["expression_mse"]) < float(free["expression_mse"])
    assert float(high["pose_mse"]) < float(low["pose_mse"])
    assert float(free["L_lp"]) > float(low["L_lp"]) > float(high["L_lp"])
    ratio = float(high["lambda_lp_over_id"]) / float(low["lambda_lp_over_id"])
    assert 0.2 < ratio < 5  # λ·L_lp/L_id within a factor 5 over two decades of λ: L_lp ∝ L_id/λ
    records = [json.loads(line) for line in (out / "runs" / "latent_penalty=0" / "metrics.jsonl").read_text().splitlines()]
    penalty = [r["lp"] for r in records if r["split"] == "train"]
    assert penalty[-1] > 3 * penalty[0]  # unpenalised, the swap's code drifts away from the target's


def _csv_rows(path):
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
