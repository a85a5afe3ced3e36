"""The logit_attribution recipe against a float64 decomposition computed from Hugging Face
transformers' own modules (per-head slices of the output projection, MLP outputs, embeddings,
ln_f's weight, bias and eps) on the same token ids, and against HF's logits."""
from __future__ import annotations

import pytest
import torch

from puzzle_platform.recipes import RecipeError, get_recipe
from puzzle_platform.worker.run_recipe import run_recipe
from tests.logit_refs import hf_float64, ids_hash, perturbed_copy, token_ids

PROMPTS = ["the capital of france is", "when mary and john went to the store john gave a drink to",
           "the cat sat on the", "berlin is the capital of"]
CORRECT = ["paris", "mary", "mat", "germany"]
INCORRECT = ["rome", "john", "dog", "italy"]


@pytest.fixture(scope="module", params=["text_gpt2", "text_neo"])
def model_dir(request, tiny_text_model_dirs, tmp_path_factory):
    src = tiny_text_model_dirs[request.param]
    return perturbed_copy(src, tmp_path_factory.mktemp("dla") / f"{request.param}_ln", seed=7)


def attribution(model_dir, **extra) -> dict:
    params = {"model": str(model_dir), "weights": "raw", "device": "cpu", "prompts": PROMPTS,
              "correct": CORRECT, "incorrect": INCORRECT, **extra}
    return run_recipe("logit_attribution", params)


def reference(model_dir) -> tuple[dict, float, str]:
    """(mean contribution per component, mean HF float32-free logit difference, ids hash):
    LayerNorm with the scale of the full residual, written out in float64."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    one = lambda s: tok(s, add_special_tokens=False)["input_ids"][0]  # noqa: E731
    sums: dict[str, float] = {}
    total, rows = 0.0, []
    for prompt, c, i in zip(PROMPTS, CORRECT, INCORRECT):
        ids = token_ids(model_dir, prompt)
        rows.append(ids)
        r = hf_float64(model_dir, ids)
        x = r["resid"][-1]
        scale = torch.sqrt(((x - x.mean()) ** 2).mean() + r["eps"])
        d = r["W_U"][:, one(c)] - r["W_U"][:, one(i)]

        def dla(v: torch.Tensor) -> float:
            return float(((v - v.mean()) / scale * r["ln_w"]) @ d)
        parts = {"embed": dla(r["embed"]), "pos_embed": dla(r["pos"]),
                 "final_bias": float(r["ln_b"] @ d + r["b_U"][one(c)] - r["b_U"][one(i)])}
        for l, heads in enumerate(r["heads"]):
            parts |= {f"L{l}.H{h}": dla(v) for h, v in enumerate(heads)}
            parts[f"L{l}.attn_bias"] = dla(r["attn_b"][l])
            parts[f"L{l}.mlp"] = dla(r["mlp"][l])
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        total += float(r["logits"][one(c)] - r["logits"][one(i)])
    n = len(PROMPTS)
    return {k: v / n for k, v in sums.items()}, total / n, ids_hash(rows)


def test_components_match_a_float64_decomposition_of_hf(model_dir):
    out = attribution(model_dir)
    stats = out["statistics"]
    expected, total, digest = reference(model_dir)
    assert out["provenance"]["inputs"]["token_ids_sha256"] == digest  # the same token ids
    assert set(expected) | {"sum_of_components", "total"} == set(stats)
    for key, value in expected.items():
        assert stats[key] == pytest.approx(value, abs=2e-6), key
    assert stats["total"] == pytest.approx(total, abs=1e-5)


def test_components_sum_to_the_models_logit_difference(model_dir):
    for weights in ("raw", "processed"):
        stats = attribution(model_dir, weights=weights)["statistics"]
        parts = sum(v for k, v in stats.items() if k not in ("sum_of_components", "total"))
        assert stats["sum_of_components"] == pytest.approx(parts, rel=1e-12)
        assert stats["sum_of_components"] == pytest.approx(stats["total"], rel=1e-4)
        assert abs(stats["total"]) > 1e-3  # not a vacuous identity


def test_total_agrees_with_hf_logits_and_between_raw_and_processed(model_dir):
    """Processed weights centre W_U (logits move by a constant per position) and fold the final
    norm into it: logit differences stay. Value biases move into b_O, so per head only the
    layer's heads plus its bias compare."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    hf = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    diffs = []
    for prompt, c, i in zip(PROMPTS, CORRECT, INCORRECT):
        with torch.no_grad():
            logits = hf(torch.tensor([token_ids(model_dir, prompt)])).logits[0, -1]
        one = lambda s: tok(s, add_special_tokens=False)["input_ids"][0]  # noqa: E731
        diffs.append(float(logits[one(c)] - logits[one(i)]))
    raw = attribution(model_dir)["statistics"]
    processed = attribution(model_dir, weights="processed")["statistics"]
    assert raw["total"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-5)
    assert processed["total"] == pytest.approx(raw["total"], abs=1e-5)
    for key in ("embed", "pos_embed", "final_bias", "L0.mlp", "L1.mlp"):
        assert processed[key] == pytest.approx(raw[key], abs=1e-5), key
    for l in range(2):
        layer = lambda s: s[f"L{l}.attn_bias"] + sum(s[f"L{l}.H{h}"] for h in range(4))  # noqa: E731
        assert layer(processed) == pytest.approx(layer(raw), abs=1e-5)


def test_padding_changes_nothing(model_dir):
    together = attribution(model_dir, batch_size=4)["statistics"]
    alone = attribution(model_dir, batch_size=1)["statistics"]
    assert together.keys() == alone.keys()
    for key, value in alone.items():
        assert together[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_spec_keys_match_the_run_and_the_figure_has_every_head(model_dir):
    params = {"model": str(model_dir), "weights": "raw", "device": "cpu", "prompts": PROMPTS,
              "correct": CORRECT, "incorrect": INCORRECT}
    out = run_recipe("logit_attribution", params)
    assert get_recipe("logit_attribution").statistic_keys(params) == set(out["statistics"])
    heatmap = out["figure"]["data"][0]
    assert heatmap["type"] == "heatmap" and len(heatmap["z"]) == 2 and len(heatmap["z"][0]) == 4


@pytest.mark.parametrize("param", ["correct", "incorrect"])
def test_a_multi_token_answer_is_refused_naming_the_prompt(tiny_text_model_dirs, param):
    params = {"model": str(tiny_text_model_dirs["text_gpt2"]), "weights": "raw", "device": "cpu",
              "prompts": PROMPTS[:2], "correct": CORRECT[:2], "incorrect": INCORRECT[:2]}
    params[param] = [params[param][0], "mary and"]
    with pytest.raises(RecipeError) as info:
        run_recipe("logit_attribution", params)
    message = str(info.value)
    assert "\n" not in message and f"{param}[1]" in message and "prompt 1" in message


@pytest.mark.parametrize("change, words", [
    ({"prompts": None, "random_tokens": {"batch": 2, "length": 4}}, "random_tokens cannot"),
    ({"incorrect": ["rome"]}, "incorrect has 1 entries but there are 2 prompts"),
])
def test_bad_parameters_are_refused_in_one_line(change, words):
    params = {"model": "gpt2", "prompts": ["a b", "c d"], "correct": ["x", "y"],
              "incorrect": ["z", "w"], **change}
    with pytest.raises(RecipeError, match=words) as info:
        get_recipe("logit_attribution").validate_params(params)
    assert "\n" not in str(info.value)
