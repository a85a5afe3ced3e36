"""The `weight_spectrum` recipe against numpy.linalg.svd in float64 on weights read
independently from the Hugging Face state dict (raw weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from puzzle_platform.recipes import RecipeError, get_recipe
from puzzle_platform.worker.run_recipe import run_recipe

D, H = 32, 4
DH = D // H


@pytest.fixture(scope="module")
def state(tiny_text_model_dirs, tiny_model_dirs):
    dirs = {"text_gpt2": tiny_text_model_dirs["text_gpt2"], "llama": tiny_model_dirs["llama"]}
    return {k: {n: t.detach().double().numpy() for n, t in
                AutoModelForCausalLM.from_pretrained(v).state_dict().items()} for k, v in dirs.items()}


def gpt2_matrix(sd: dict, matrix: str, layer: int | None, head: int | None) -> np.ndarray:
    """The matrix from GPT-2's state dict (Conv1D weights are [in, out])."""
    if matrix == "W_E":
        return sd["transformer.wte.weight"]
    if matrix == "W_pos":
        return sd["transformer.wpe.weight"]
    if matrix == "W_U":
        return sd["lm_head.weight"].T
    qkv = sd[f"transformer.h.{layer}.attn.c_attn.weight"]
    cols = slice(head * DH, (head + 1) * DH)
    q, k, v = (qkv[:, i * D:(i + 1) * D][:, cols] for i in range(3))
    o = sd[f"transformer.h.{layer}.attn.c_proj.weight"][cols, :]
    return {"W_Q": q, "W_K": k, "W_V": v, "W_O": o, "OV": v @ o, "QK": q @ k.T}[matrix]


def llama_matrix(sd: dict, matrix: str, layer: int, head: int) -> np.ndarray:
    """nn.Linear weights are [out, in]; rows h*d_head.. of q/k/v_proj are head h."""
    rows = slice(head * DH, (head + 1) * DH)
    q, k, v = (sd[f"model.layers.{layer}.self_attn.{n}_proj.weight"][rows].T for n in "qkv")
    o = sd[f"model.layers.{layer}.self_attn.o_proj.weight"][:, rows].T
    return {"OV": v @ o, "QK": q @ k.T}[matrix]


def reference(M: np.ndarray, top: int) -> dict:
    s = np.linalg.svd(M, compute_uv=False)
    p = s / s.sum()
    nz = p[p > 0]
    out = {"count": len(s), "effective_rank": float(np.exp(-(nz * np.log(nz)).sum())),
           "participation_ratio": float((s ** 2).sum() ** 2 / (s ** 4).sum()),
           "top1_fraction": float(s[0] / s.sum()), "rank": int(np.linalg.matrix_rank(M)),
           "frobenius_norm": float(np.sqrt((M ** 2).sum()))}
    out.update({f"sv.{i}": float(s[i]) for i in range(top)})
    return out


def _params(folder, **kw):
    return {"model": str(folder), "weights": "raw", "device": "cpu", **kw}


CASES = [("W_E", None, None), ("W_U", None, None), ("W_pos", None, None), ("W_Q", 0, 1),
         ("W_K", 1, 3), ("W_V", 1, 0), ("W_O", 0, 2), ("OV", 1, 2), ("QK", 0, 3)]


@pytest.mark.parametrize("matrix, layer, head", CASES)
def test_statistics_match_numpy_svd_of_the_hf_weights(tiny_text_model_dirs, state, matrix, layer, head):
    top = 8 if matrix in ("W_Q", "W_K", "W_V", "W_O") else 12
    extra = {"layer": layer, "head": head} if layer is not None else {}
    out = run_recipe("weight_spectrum", _params(tiny_text_model_dirs["text_gpt2"], matrix=matrix,
                                                top=top, **extra))
    s = out["statistics"]
    M = gpt2_matrix(state["text_gpt2"], matrix, layer, head)
    ref = reference(M, top)
    assert set(s) == set(ref) == get_recipe("weight_spectrum").statistic_keys(
        _params("m", matrix=matrix, top=top, **extra))
    for key, value in ref.items():
        assert s[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
    assert isinstance(s["rank"], int) and isinstance(s["count"], int)
    assert 1 <= s["effective_rank"] <= s["count"] and 1 <= s["participation_ratio"] <= s["count"]
    assert out["singular_values"] == pytest.approx(np.linalg.svd(M, compute_uv=False).tolist(),
                                                   rel=1e-9, abs=1e-15)
    assert out["figure"]["layout"]["yaxis"]["type"] == "log"
    assert out["provenance"]["shape"] == list(M.shape)


def test_circuits_have_rank_at_most_d_head(tiny_text_model_dirs, state):
    for matrix in ("OV", "QK"):
        s = run_recipe("weight_spectrum", _params(tiny_text_model_dirs["text_gpt2"], matrix=matrix,
                                                  layer=1, head=1, top=D))["statistics"]
        assert s["count"] == D and s["rank"] == DH
        assert s[f"sv.{DH}"] < 1e-12 * s["sv.0"]


@pytest.mark.parametrize("matrix", ["OV", "QK"])
def test_llama_circuits_match_its_projections(tiny_model_dirs, state, matrix):
    s = run_recipe("weight_spectrum", _params(tiny_model_dirs["llama"], matrix=matrix, layer=0,
                                              head=2, top=DH))["statistics"]
    ref = reference(llama_matrix(state["llama"], matrix, 0, 2), DH)
    for key, value in ref.items():
        assert s[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key


def test_processed_embeddings_are_the_row_centred_ones(tiny_text_model_dirs, state):
    wte = state["text_gpt2"]["transformer.wte.weight"]
    s = run_recipe("weight_spectrum", _params(tiny_text_model_dirs["text_gpt2"], matrix="W_E",
                                              weights="processed", top=D))["statistics"]
    ref = reference(wte - wte.mean(axis=1, keepdims=True), D)
    for key, value in ref.items():
        if key not in ("rank", f"sv.{D - 1}"):
            assert s[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
    # centring removes one direction exactly in float64 (rank 31), but the weights are centred
    # in float32: the last singular value is float32 round-off, above the float64 tolerance
    assert ref["rank"] == D - 1 and ref[f"sv.{D - 1}"] < 1e-14 * ref["sv.0"]
    assert s["rank"] == D and 0 < s[f"sv.{D - 1}"] < 1e-6 * s["sv.0"]


@pytest.mark.parametrize("extra, message", [
    ({"matrix": "W_Q"}, "matrix W_Q is one per head: give layer and head"),
    ({"matrix": "OV", "layer": 0}, "matrix OV is one per head: give head"),
    ({"matrix": "W_E", "layer": 0}, "matrix W_E has no layer or head: leave them out"),
    ({"matrix": "W_X"}, "'matrix': must be one of 'W_E', 'W_U', 'W_pos', 'W_Q'"),
    ({"matrix": "W_E", "top": 0}, "'top': must be from 1 to 4096, got 0"),
    ({"matrix": "W_E", "prompts": ["x"]}, "unknown parameter(s) 'prompts'"),
])
def test_bad_params_are_one_line(extra, message):
    with pytest.raises(RecipeError) as info:
        get_recipe("weight_spectrum").validate_params(_params("m", **extra))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("folder, extra, message", [
    ("text_gpt2", {"matrix": "W_V", "layer": 2, "head": 0}, "layer 2 but the model has 2 layers (0 .. 1)"),
    ("text_gpt2", {"matrix": "QK", "layer": 0, "head": 4}, "head 4 but the model has 4 heads per layer"),
    ("text_gpt2", {"matrix": "W_Q", "layer": 0, "head": 0, "top": 9}, "top = 9 but a 32 x 8 matrix has 8"),
    ("llama", {"matrix": "W_pos"}, "has no W_pos"),
])
def test_what_the_model_lacks_is_refused_in_one_line(tiny_text_model_dirs, tiny_model_dirs, folder,
                                                     extra, message):
    path = {**tiny_text_model_dirs, **tiny_model_dirs}[folder]
    with pytest.raises(RecipeError) as info:
        run_recipe("weight_spectrum", _params(path, **extra))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_all_zero_matrix_is_refused(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel
    model = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_embd=16, n_layer=1, n_head=2, n_positions=8))
    with torch.no_grad():
        model.transformer.wpe.weight.zero_()
    folder = tmp_path_factory.mktemp("zero_wpe") / "m"
    model.save_pretrained(folder)
    with pytest.raises(RecipeError, match="the matrix is all zeros"):
        run_recipe("weight_spectrum", _params(folder, matrix="W_pos", top=4))
