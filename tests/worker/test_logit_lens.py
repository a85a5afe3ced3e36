"""The logit_lens recipe against Hugging Face transformers in float64 on the same token ids
(hidden states through HF's own ln_f and lm_head), and its invariants: the last layer is the
model's output, processed weights keep probabilities and ranks, padding changes nothing."""
from __future__ import annotations

import pytest

from puzzle_platform.recipes import RecipeError, get_recipe
from puzzle_platform.worker.run_recipe import run_recipe
from tests.logit_refs import hf_float64, ids_hash, measures, perturbed_copy, token_ids

PROMPTS = ["the capital of france is", "the cat sat on the", "when mary and john went to the store john gave a drink to",
           "king"]
TARGETS = ["paris", "mat", "mary", "queen"]


@pytest.fixture(scope="module", params=["text_gpt2", "text_neo"])
def model_dir(request, tiny_text_model_dirs, tmp_path_factory):
    src = tiny_text_model_dirs[request.param]
    return perturbed_copy(src, tmp_path_factory.mktemp("lens") / f"{request.param}_ln")


def lens(model_dir, **extra) -> dict:
    params = {"model": str(model_dir), "weights": "raw", "device": "cpu", "prompts": PROMPTS,
              "targets": TARGETS, **extra}
    return run_recipe("logit_lens", params)


def reference(model_dir, prompts=PROMPTS, targets=TARGETS) -> dict:
    """Mean (logit, prob, rank) per residual point from HF float64, each prompt unpadded."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    rows, per_point = [], {}
    for prompt, target in zip(prompts, targets):
        ids = token_ids(model_dir, prompt)
        rows.append(ids)
        [t] = tok(target, add_special_tokens=False)["input_ids"]
        ref = hf_float64(model_dir, ids)
        points = {f"L{l}": r for l, r in enumerate(ref["resid"])}
        points |= {f"L{l}_mid": r for l, r in enumerate(ref["mids"])}
        for label, r in points.items():
            per_point.setdefault(label, []).append(measures(ref["readout"](r), t))
        per_point.setdefault("final", []).append(measures(ref["logits"], t))
    means = {label: [sum(v[k] for v in vals) / len(vals) for k in range(3)]
             for label, vals in per_point.items()}
    n_layers = len(ref["resid"]) - 1
    all_top = [all(v[2] == 0 for v in per_point[f"L{l}"]) for l in range(n_layers + 1)]
    first = next((l for l, top in enumerate(all_top) if top), -1)
    return {"means": means, "first": first, "hash": ids_hash(rows)}


def test_every_layer_matches_hf_hidden_states_in_float64(model_dir):
    out = lens(model_dir, incl_mid=True)
    ref = reference(model_dir)
    stats = out["statistics"]
    assert out["provenance"]["inputs"]["token_ids_sha256"] == ref["hash"]  # the same token ids
    for label, (logit, prob, rank) in ref["means"].items():
        assert stats[f"{label}.logit"] == pytest.approx(logit, abs=1e-5), label
        assert stats[f"{label}.prob"] == pytest.approx(prob, rel=1e-5), label
        assert stats[f"{label}.rank"] == rank, label
    assert stats["first_top1_layer"] == ref["first"]


def test_final_is_the_models_output_and_equals_the_last_layer(model_dir):
    for weights in ("raw", "processed"):
        stats = lens(model_dir, weights=weights)["statistics"]
        for m in ("logit", "prob", "rank"):
            assert stats[f"L2.{m}"] == pytest.approx(stats[f"final.{m}"], rel=1e-6, abs=1e-6)


def test_processed_weights_keep_probabilities_and_ranks(model_dir):
    raw = lens(model_dir, incl_mid=True)["statistics"]
    processed = lens(model_dir, incl_mid=True, weights="processed")["statistics"]
    assert raw.keys() == processed.keys()
    for key, value in raw.items():
        if key.endswith((".prob", ".rank")) or key == "first_top1_layer":
            assert processed[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    # the logit itself moves by a constant per prompt (W_U centred): not compared


def test_first_top1_layer_finds_the_models_own_prediction(tiny_text_model_dirs, tmp_path_factory):
    """Targets equal to the model's own top next tokens are top at the last layer for every
    prompt, so first_top1_layer is found (0..n_layers), where the definition puts it."""
    from transformers import AutoTokenizer

    from tests.conftest import WORDS

    src = tiny_text_model_dirs["text_gpt2"]
    tok = AutoTokenizer.from_pretrained(str(src))
    model_dir = perturbed_copy(src, tmp_path_factory.mktemp("lens") / "named", vocab=len(tok))
    prompts = PROMPTS + [f"the {w}" for w in WORDS[:8]]
    tops = [tok.convert_ids_to_tokens(int(hf_float64(model_dir, token_ids(model_dir, p))["logits"].argmax()))
            for p in prompts]
    stats = run_recipe("logit_lens", {"model": str(model_dir), "weights": "raw", "device": "cpu",
                                      "prompts": prompts, "targets": tops})["statistics"]
    assert stats["final.rank"] == 0
    assert 0 <= stats["first_top1_layer"] <= 2
    assert stats["first_top1_layer"] == reference(model_dir, prompts, tops)["first"]


def test_padding_changes_nothing(model_dir):
    together = lens(model_dir, batch_size=4, incl_mid=True)["statistics"]
    alone = lens(model_dir, batch_size=1, incl_mid=True)["statistics"]
    assert together.keys() == alone.keys()
    for key, value in alone.items():
        assert together[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_spec_keys_match_the_run(model_dir):
    spec = get_recipe("logit_lens")
    for incl_mid in (False, True):
        params = {"model": str(model_dir), "weights": "raw", "device": "cpu", "prompts": PROMPTS,
                  "targets": TARGETS, "incl_mid": incl_mid}
        assert spec.statistic_keys(params) == set(run_recipe("logit_lens", params)["statistics"])


def test_a_multi_token_target_is_refused_naming_the_prompt(tiny_text_model_dirs):
    params = {"model": str(tiny_text_model_dirs["text_gpt2"]), "weights": "raw", "device": "cpu",
              "prompts": ["the cat sat on the", "the capital of france is"],
              "targets": ["mat", "paris france"]}
    with pytest.raises(RecipeError) as info:
        run_recipe("logit_lens", params)
    message = str(info.value)
    assert "\n" not in message and "prompt 1" in message and "'paris france'" in message
    assert "2 tokens" in message


@pytest.mark.parametrize("change, words", [
    ({"prompts": None, "random_tokens": {"batch": 2, "length": 4}}, "random_tokens cannot"),
    ({"targets": ["paris"]}, "targets has 1 entries but there are 2 prompts"),
    ({"targets": ["paris", ""]}, "item 1 must be a non-empty string"),
])
def test_bad_parameters_are_refused_in_one_line(change, words):
    params = {"model": "gpt2", "prompts": ["a b", "c d"], "targets": ["paris", "rome"], **change}
    with pytest.raises(RecipeError, match=words) as info:
        get_recipe("logit_lens").validate_params(params)
    assert "\n" not in str(info.value)


def test_a_target_outside_the_vocabulary_is_refused(tiny_text_model_dirs):
    params = {"model": str(tiny_text_model_dirs["text_gpt2"]), "weights": "raw", "device": "cpu",
              "prompts": ["the cat sat on the"], "targets": ["zzzz"]}
    with pytest.raises(RecipeError, match=r"targets\[0\] 'zzzz' is not in the model's vocabulary"):
        run_recipe("logit_lens", params)


def test_the_same_correct_and_incorrect_token_is_refused_at_load():
    params = {"model": "gpt2-small", "prompts": ["the cat sat"], "correct": ["sat"], "incorrect": ["sat"]}
    with pytest.raises(RecipeError, match=r"correct\[0\] and incorrect\[0\] are both 'sat'"):
        get_recipe("logit_attribution").validate_params(params)
