"""The generated "reproduce it yourself" notebook, executed for real (nbclient, this
interpreter's ipykernel) on a tiny model: its recomputed statistics equal the artifact's.

Reference: the artifact computed by the worker through run_recipe; the notebook recomputes it
with its own stand-alone TransformerLens and torch code (it never imports puzzle_platform): each
sequence run alone, no padding, whole tensors reduced in float64, the final norm written out by
hand, so the two computations share only the model's weights and the recipes' definitions.
Every recipe with a template is executed here (a case per layout or method), on raw and
processed weights.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from puzzle_platform.content.notebook_recipes import TEMPLATES
from puzzle_platform.content.notebooks import build_notebook
from puzzle_platform.recipes import get_recipe
from puzzle_platform.worker.run_recipe import run_recipe
from tests.logit_refs import perturbed_copy


PROMPTS = ["the capital of france is", "when mary and john went to the store john gave a drink to",
           "the cat sat on the", "berlin is the capital of"]
REPEATED = {"batch": 3, "length": 10, "seed": 3, "repeat": True}  # 21 tokens with BOS: beyond
# text_neo's local attention window (16), so its layer 1 has masked (zero) pattern entries
LENS = {"prompts": PROMPTS, "targets": ["paris", "mary", "mat", "germany"]}
DLA = {"prompts": PROMPTS, "correct": ["paris", "mary", "mat", "germany"],
       "incorrect": ["rome", "john", "dog", "italy"]}

# id: (recipe, model, weights, params); "_ln" models have random norm weights and biases
CASES = {
    "embedding_cosine": ("embedding_cosine", "text_gpt2", "processed", {"center": True, "bins": 20}),
    "activations_mlp": ("activation_stats", "text_gpt2_ln", "raw",
                        {"hook": "blocks.1.mlp.hook_post", "prompts": PROMPTS, "bins": 10}),
    "activations_z_head": ("activation_stats", "text_gpt2", "processed",
                           {"hook": "blocks.0.attn.hook_z", "index": 1, "prompts": PROMPTS}),
    "activations_local_pattern": ("activation_stats", "text_neo", "raw",
                                  {"hook": "blocks.1.attn.hook_pattern", "index": 2,
                                   "random_tokens": REPEATED}),
    "activations_scores": ("activation_stats", "text_gpt2", "processed",
                           {"hook": "blocks.0.attn.hook_attn_scores", "prompts": PROMPTS}),
    "heads_induction": ("attention_heads", "text_gpt2", "processed",
                        {"heads": ["L0.H1", "L1.H3"], "random_tokens": REPEATED}),
    "heads_prompts_no_bos": ("attention_heads", "text_neo", "raw",
                             {"heads": ["L1.H0"], "prompts": PROMPTS, "prepend_bos": False}),
    "lens_raw_mid": ("logit_lens", "text_gpt2_ln", "raw", {**LENS, "incl_mid": True}),
    "lens_processed": ("logit_lens", "text_neo_ln", "processed", LENS),
    "attribution_raw": ("logit_attribution", "text_neo_ln", "raw", DLA),
    "attribution_processed": ("logit_attribution", "text_gpt2_ln", "processed", DLA),
    "ablation_zero_together": ("ablation", "text_gpt2_ln", "raw",
                               {"components": ["L0.H1", "L1.mlp", "L1.H3"], "together": True,
                                "prompts": PROMPTS}),
    "ablation_mean": ("ablation", "text_neo_ln", "processed",
                      {"components": ["L0.H1", "L0.mlp"], "method": "mean", "prompts": PROMPTS}),
    "ablation_resample": ("ablation", "text_gpt2", "processed",
                          {"components": ["L1.H0"], "method": "resample", "seed": 4,
                           "random_tokens": {"batch": 5, "length": 6, "seed": 3, "repeat": False}}),
    "spectrum_ov": ("weight_spectrum", "text_gpt2_ln", "processed",
                    {"matrix": "OV", "layer": 1, "head": 2, "top": 8}),
    "spectrum_embeddings": ("weight_spectrum", "text_neo", "raw", {"matrix": "W_E", "top": 5}),
    "neighbors_target": ("embedding_neighbors", "text_gpt2", "raw",
                         {"expression": '"king" - "man" + "woman"', "target": "queen", "top": 5}),
    "neighbors_unembedding": ("embedding_neighbors", "text_neo_ln", "processed",
                              {"expression": '"paris" - "france" + "italy"', "matrix": "W_U",
                               "exclude_inputs": False}),
}
TEXT_FREE = ("embedding_cosine", "weight_spectrum", "embedding_neighbors")  # no token inputs


@pytest.fixture(scope="module")
def models(tiny_text_model_dirs, tmp_path_factory) -> dict[str, str]:
    """The tiny text models, and copies with random norm weights and biases (raw weights then
    differ from processed ones, and the final norm's w and b matter)."""
    out = {name: str(folder) for name, folder in tiny_text_model_dirs.items()}
    base = tmp_path_factory.mktemp("notebook_models")
    for name, folder in tiny_text_model_dirs.items():
        out[f"{name}_ln"] = str(perturbed_copy(folder, base / f"{name}_ln", seed=7))
    return out


def _cell(nb, tag: str):
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def _outputs(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs)


def _point_at(nb, folder: str) -> None:
    """The notebook names the model as the site shows it (models:<folder>): point it at this
    machine's copy, as a scholar would."""
    cell = _cell(nb, "parameters")
    shown = "models:" + str(Path(folder).relative_to(Path(os.environ["MODELS_DIR"])))
    assert re.search(rf"^MODEL = {re.escape(repr(shown))}  #", cell.source, flags=re.M), cell.source
    cell.source = re.sub(r"^MODEL = .*$", f"MODEL = {folder!r}", cell.source, flags=re.M)


def _notebook(recipe: str, folder: str, params: dict, artifact: dict, stats: dict | None = None):
    nb = build_notebook(puzzle_title="1. Tiny", figure_title="A figure", recipe=recipe, params=params,
                        statistics=artifact["statistics"] if stats is None else stats,
                        provenance=artifact["provenance"])
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "puzzle_platform" not in code and folder not in nbformat.writes(nb)  # no server path
    _point_at(nb, folder)
    return nb


@pytest.fixture(scope="module")
def executed(models, tmp_path_factory):
    """Every case's notebook, plus one whose artifact was tampered with and one of a recipe
    without a template, run one after another in ONE kernel (its start is the slow part), the
    kernel's names wiped (%reset -f) before each. -> (artifacts, {case: its code cells})."""
    artifacts, notebooks = {}, {}
    for case, (recipe, model, weights, extra) in CASES.items():
        folder = models[model]
        params = get_recipe(recipe).validate_params(
            {"model": folder, "weights": weights, "device": "cpu", **extra})
        artifacts[case] = run_recipe(recipe, params)
        notebooks[case] = _notebook(recipe, folder, params, artifacts[case])
        assert any(c.source == "## The figure" for c in notebooks[case].cells), case

    recipe, model, weights, extra = CASES["heads_induction"]
    params = get_recipe(recipe).validate_params({"model": models[model], "weights": weights,
                                                 "device": "cpu", **extra})
    wrong = {**artifacts["heads_induction"]["statistics"]}
    wrong["L1.H3.prev_token"] += 1e-4
    notebooks["tampered"] = _notebook(recipe, models[model], params, artifacts["heads_induction"], wrong)
    notebooks["no_template"] = _notebook("not_templated_yet", models[model], params,
                                         artifacts["heads_induction"])

    cells = []
    for case, nb in notebooks.items():
        cells.append(new_code_cell("%reset -f"))
        cells += nb.cells
        for cell in nb.cells:
            cell.metadata["case"] = case
    merged = new_notebook(cells=cells, metadata=notebooks["embedding_cosine"].metadata)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        NotebookClient(merged, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}).execute()
    by_case = {case: [c for c in merged.cells if c.metadata.get("case") == case and c.cell_type == "code"]
               for case in notebooks}
    return artifacts, by_case


def _check_output(cells) -> str:
    return _outputs(next(c for c in cells if "check" in c.metadata.get("tags", [])))


@pytest.mark.parametrize("case", list(CASES))
def test_the_notebook_recomputes_the_artifact(executed, case):
    artifacts, by_case = executed
    cells = by_case[case]
    if CASES[case][0] not in TEXT_FREE:
        assert "token ids identical to the puzzle's" in "".join(_outputs(c) for c in cells)
    printed = _check_output(cells)
    result = json.loads(printed.strip().splitlines()[-1])
    assert result["all_match"] is True, printed
    assert "differs" not in printed
    recomputed, stats = result["recomputed"], artifacts[case]["statistics"]
    assert set(recomputed) == set(stats)  # every statistic, none invented
    for name, value in stats.items():
        if isinstance(value, int) or name.endswith(("_layer", "_head", ".rank")):
            assert recomputed[name] == value, name  # counts, heads and ranks: exactly
        else:
            assert recomputed[name] == pytest.approx(value, abs=1e-6, rel=1e-6), name
    assert cells[-1].outputs, "the figure cell drew nothing"


def test_the_check_flags_a_value_the_notebook_does_not_recompute(executed):
    """The check is no rubber stamp: an artifact value off by 1e-4 is reported, alone."""
    printed = _check_output(executed[1]["tampered"])
    assert json.loads(printed.strip().splitlines()[-1])["all_match"] is False
    assert [line.split()[0] for line in printed.splitlines() if "differs" in line] == ["L1.H3.prev_token"]


def test_a_recipe_without_a_template_runs_its_model_and_inputs(executed):
    cells = executed[1]["no_template"]
    source = "\n".join(c.source for c in cells)
    assert "recomputed" not in source and not any("check" in c.metadata.get("tags", []) for c in cells)
    out = "".join(_outputs(c) for c in cells)
    assert "2 layers, 32 d_model, 64 tokens" in out
    assert "3 sequences, 63 tokens; token ids identical to the puzzle's" in out
    assert cells[-1].source == "ARTIFACT  # the statistics to explore against" and cells[-1].outputs


def test_every_template_is_executed_here():
    assert {recipe for recipe, *_ in CASES.values()} == set(TEMPLATES)


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
