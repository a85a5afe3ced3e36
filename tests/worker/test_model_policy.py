"""The model policy at job time, in the worker: the bundled allow-list is TransformerLens's
own, and local folders load only from inside MODELS_DIR, named models:<folder>."""
from __future__ import annotations

import json
import shutil

import pytest

from puzzle_platform.recipes.sources import NAMES_FILE
from puzzle_platform.worker.errors import ModelUnavailable
from puzzle_platform.worker.model_names import current_names
from puzzle_platform.worker.models_runtime import load_model
from puzzle_platform.worker.run_recipe import run_recipe


def test_bundled_names_match_the_installed_transformer_lens():
    bundled = json.loads(NAMES_FILE.read_text())
    assert bundled == current_names(), (
        "TransformerLens changed: run `python -m puzzle_platform.worker.model_names`")


@pytest.fixture
def models(tmp_path, monkeypatch, tiny_model_dirs):
    """MODELS_DIR = tmp/models, holding a copy of the tiny GPT-2 and a link to the original
    (which lies outside it)."""
    folder = tmp_path / "models"
    shutil.copytree(tiny_model_dirs["gpt2"], folder / "tiny-gpt2")
    (folder / "escape").symlink_to(tiny_model_dirs["gpt2"])
    monkeypatch.setenv("MODELS_DIR", str(folder))
    return folder


@pytest.mark.parametrize("ref", ["models:escape", "{models}/escape", "{tiny}", "/etc",
                                 "models:../../etc", "~"])
def test_job_time_refuses_what_lies_outside(models, tiny_model_dirs, ref):
    ref = ref.format(models=models, tiny=tiny_model_dirs["gpt2"])
    with pytest.raises(ModelUnavailable, match=r"must be a folder inside the site's models folder"):
        load_model(ref, weights="raw", device="cpu")


def test_local_model_is_shown_by_its_name_inside_models_dir(models):
    for ref in ("models:tiny-gpt2", str(models / "tiny-gpt2"), str(models / "x" / ".." / "tiny-gpt2")):
        loaded = load_model(ref, weights="raw", device="cpu")
        assert loaded.name == loaded.resolved_name == "models:tiny-gpt2"
    result = run_recipe("embedding_cosine", {"model": str(models / "tiny-gpt2"), "weights": "raw",
                                             "device": "cpu", "bins": 10})
    shown = json.dumps([result["provenance"], result["figure"]])
    assert str(models) not in shown and "models:tiny-gpt2" in result["provenance"]["caption"]
    assert result["provenance"]["revision"].startswith("sha256:")
