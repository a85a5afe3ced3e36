"""The generated "reproduce it yourself" notebook, executed for real (nbclient, this
interpreter's ipykernel) on a tiny model: its recomputed statistics equal the artifact's.

Reference: the artifact computed by the worker through run_recipe; the notebook recomputes it
with its own stand-alone TransformerLens and torch code (it never imports puzzle_platform), so
the two computations share only the model's weights.
"""
from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from puzzle_platform.content.notebooks import build_notebook
from puzzle_platform.recipes import get_recipe
from puzzle_platform.worker.run_recipe import run_recipe


def _cell(nb, tag: str):
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def _local_copy(nb, folder: str) -> None:
    """The notebook names the model as the site shows it (models:<folder>); point it at this
    machine's copy, as a scholar would."""
    cell = _cell(nb, "parameters")
    assert re.search(r"^MODEL = 'models:tiny_text_models0/text_gpt2'  #", cell.source, flags=re.M), cell.source
    cell.source = re.sub(r"^MODEL = .*$", f"MODEL = {folder!r}", cell.source, flags=re.M)


@pytest.mark.parametrize("weights", ["processed"])
def test_the_notebook_recomputes_the_artifact(tiny_text_model_dirs, tmp_path, monkeypatch, weights):
    folder = str(tiny_text_model_dirs["text_gpt2"])
    params = get_recipe("embedding_cosine").validate_params(
        {"model": folder, "weights": weights, "device": "cpu", "center": True, "bins": 20})
    artifact = run_recipe("embedding_cosine", params)
    nb = build_notebook(puzzle_title="1. Tiny", figure_title="Cosines", recipe="embedding_cosine",
                        params=params, statistics=artifact["statistics"], provenance=artifact["provenance"])
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "puzzle_platform" not in code and folder not in nbformat.writes(nb)  # no server path

    _local_copy(nb, folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    printed = "".join(o.get("text", "") for o in _cell(nb, "check").outputs)
    result = json.loads(printed.strip().splitlines()[-1])
    assert result["all_match"] is True, printed
    recomputed, stats = result["recomputed"], artifact["statistics"]
    assert set(recomputed) == set(stats)  # every statistic of an exact histogram
    for name, value in stats.items():
        assert recomputed[name] == pytest.approx(value, abs=1e-6, rel=1e-6), name
    assert "differs" not in printed


def test_a_recipe_without_a_template_still_loads_model_and_inputs():
    params = {"model": "gpt2-small", "weights": "processed", "prepend_bos": True,
              "random_tokens": {"batch": 2, "length": 5, "seed": 7, "repeat": True}}
    provenance = {"model": "gpt2-small", "resolved_model": "gpt2", "revision": "a" * 40,
                  "weights": "processed", "inputs": {"token_ids_sha256": "sha256:" + "0" * 64}}
    nb = build_notebook(puzzle_title="2. Heads", figure_title="Heads", recipe="not_templated_yet",
                        params=params, statistics={"score": 0.25}, provenance=provenance)
    nbformat.validate(nb)
    text = "\n".join(c.source for c in nb.cells)
    assert "exact recomputation of `not_templated_yet` is not available" in text
    assert "MODEL = 'gpt2'" in text and f"REVISION = {'a' * 40!r}" in text
    assert "manual_seed(RANDOM_TOKENS[\"seed\"])" in text and "0.25" in text
    assert not any("check" in c.get("metadata", {}).get("tags", []) for c in nb.cells)
