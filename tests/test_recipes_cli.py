"""`manage.py recipes list|show|run` through the CLI runner, on the tiny local models."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly
import pytest
from safetensors.numpy import load_file

from puzzle_platform.cli.recipes import parse_value
from puzzle_platform.recipes import RECIPES

ROOT = Path(__file__).resolve().parent.parent


def _mean_offdiag_cos(folder: Path) -> float:
    """float64 brute force from the saved weights (independent of the worker)."""
    W = load_file(str(folder / "model.safetensors"))["transformer.wte.weight"].astype(np.float64)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    C = U @ U.T
    n = len(C)
    return float((C.sum() - np.trace(C)) / (n * (n - 1)))


def test_list_names_and_describes_every_recipe(runner):
    result = runner.invoke(args=["recipes", "list"])
    assert result.exit_code == 0, result.output
    for spec in RECIPES.values():
        assert spec.name in result.output and spec.description in result.output


def test_show_prints_params_defaults_statistics_and_figure(runner):
    result = runner.invoke(args=["recipes", "show", "embedding_cosine"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "model (required)" in out and "bins (default 200)" in out and "revision (default none)" in out
    assert "mean_cos\n      mean of cos(x_i, x_j) over distinct pairs i != j" in out
    assert "figure: histogram of the pairwise cosines" in out
    missing = runner.invoke(args=["recipes", "show", "nope"])
    assert missing.exit_code != 0 and "unknown recipe 'nope'" in missing.output


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("0.5", 0.5), ("true", True), ('"a b"', "a b"), ("gpt2-small", "gpt2-small"),
    ("all", "all"), ('["a b", "c"]', ["a b", "c"]), ("{batch=2, length=8}", {"batch": 2, "length": 8}),
    ("models:tiny/x", "models:tiny/x"),
])
def test_param_values_are_toml_or_bare_words(text, value):
    assert parse_value(text) == value


def test_run_prints_statistics_matching_brute_force_and_writes_figures(runner, tiny_model_dirs, tmp_path):
    folder = tiny_model_dirs["gpt2"]
    args = ["recipes", "run", "embedding_cosine", "--param", f"model={folder}", "--param", "weights=raw",
            "--param", "device=cpu", "--param", "bins=20"]
    result = runner.invoke(args=[*args, "--json", "--figure", str(tmp_path / "fig.html")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # --json: one line; the progress went to stderr
    out = json.loads(lines[0])
    assert set(out) == {"statistics", "provenance"}
    assert out["statistics"]["mean_cos"] == pytest.approx(_mean_offdiag_cos(folder), abs=1e-6)
    assert out["provenance"]["weights"] == "raw" and out["provenance"]["model"].startswith("models:")
    assert "[100%] done" in result.stderr and "loading model" in result.stderr
    page = (tmp_path / "fig.html").read_text()
    plotly_js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    assert plotly_js in page  # inlined: the page works offline
    rest = page.replace(plotly_js, "")
    assert "Plotly.newPlot" in rest and "src=" not in rest and "http" not in rest

    pretty = runner.invoke(args=[*args, "--figure", str(tmp_path / "fig.json")])
    assert pretty.exit_code == 0, pretty.output
    assert json.loads(pretty.stdout)["statistics"] == out["statistics"]
    assert pretty.stdout.count("\n") > 10  # indented
    fig = json.loads((tmp_path / "fig.json").read_text())
    assert fig["data"][0]["type"] == "bar" and sum(fig["data"][0]["y"]) == 300 * 299


@pytest.mark.parametrize("params, named", [
    (["bins=3"], "'bins'"),
    (["colour=red"], "'colour'"),
    (["matrix=W_Q"], "'matrix'"),
    ([], "'model'"),
])
def test_bad_parameter_is_one_line_naming_it(runner, tiny_model_dirs, params, named):
    base = [] if not params else ["--param", f"model={tiny_model_dirs['gpt2']}"]
    args = ["recipes", "run", "embedding_cosine", *base]
    for p in params:
        args += ["--param", p]
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    text = result.output.strip()
    assert len(text.splitlines()) == 1 and named in text and "Traceback" not in text, text


def test_run_applies_the_model_source_policy(runner, tmp_path_factory):
    outside = "/etc"
    result = runner.invoke(args=["recipes", "run", "embedding_cosine", "--param", f"model={outside}"])
    assert result.exit_code != 0
    assert "MODELS_DIR" in result.output and len(result.output.strip().splitlines()) == 1
    hub = runner.invoke(args=["recipes", "run", "embedding_cosine", "--param", "model=someone/unknown-model"])
    assert hub.exit_code != 0 and "allow-list" in hub.output


def test_registering_the_cli_does_not_import_torch():
    code = ("import sys; from puzzle_platform import create_app; "
            "app = create_app({'TESTING': True, 'SECRET_KEY': 'x', 'SQLALCHEMY_DATABASE_URI': 'sqlite://'}); "
            "import puzzle_platform.cli.recipes; "
            "bad = [m for m in ('torch', 'transformer_lens', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
