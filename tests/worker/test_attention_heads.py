"""attention_heads: every per-head score against Hugging Face transformers' eager attention
(output_attentions) on the same token ids, each sequence alone, float64 numpy; induction's
query and key positions with and without BOS; padding and batch size change nothing."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from puzzle_platform.recipes import RecipeError, get_recipe
from puzzle_platform.worker.run_recipe import run_recipe

PROMPTS = ["the cat sat on the mat", "a dog", "when mary and john went to the store john gave a drink to mary",
           "paris is the capital of france"]
SCORES = ("prev_token", "first_token", "self", "entropy")
ALL_HEADS = [f"L{layer}.H{h}" for layer in range(2) for h in range(4)]


@pytest.fixture(scope="module")
def sharp(tmp_path_factory, tiny_text_model_dirs):
    """The tiny text GPT-2 with large random weights: peaked attention, so that a score read
    one position off differs clearly from the right one."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    src = tiny_text_model_dirs["text_gpt2"]
    model = AutoModelForCausalLM.from_pretrained(src)
    torch.manual_seed(5)
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight.normal_(0, 0.6)
    folder = tmp_path_factory.mktemp("sharp") / "gpt2"
    model.save_pretrained(folder)
    PreTrainedTokenizerFast.from_pretrained(src).save_pretrained(folder)
    hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    return folder, hf, PreTrainedTokenizerFast.from_pretrained(folder)


def attentions(hf, ids: list[int]) -> list[np.ndarray]:
    """Per layer [head, q, k], float64, for one sequence alone."""
    with torch.no_grad():
        out = hf(torch.tensor([ids]), output_attentions=True)
    return [a[0].double().numpy() for a in out.attentions]


def reference_scores(hf, sequences: list[list[int]]) -> dict[str, np.ndarray]:
    sums = {s: np.zeros((2, 4)) for s in SCORES}
    n = 0
    for ids in sequences:
        for layer, A in enumerate(attentions(hf, ids)):
            for q in range(1, len(ids)):
                row = A[:, q, :q + 1]
                sums["prev_token"][layer] += A[:, q, q - 1]
                sums["first_token"][layer] += A[:, q, 0]
                sums["self"][layer] += A[:, q, q]
                sums["entropy"][layer] += -np.sum(np.where(row > 0, row * np.log(np.where(row > 0, row, 1)), 0), axis=1)
        n += len(ids) - 1
    return {s: m / n for s, m in sums.items()}


def test_every_score_equals_transformers(sharp):
    folder, hf, tok = sharp
    params = {"model": str(folder), "weights": "raw", "device": "cpu", "prompts": PROMPTS,
              "batch_size": 3, "heads": ALL_HEADS}
    out = run_recipe("attention_heads", params)
    stats = out["statistics"]
    assert set(stats) == get_recipe("attention_heads").statistic_keys(params)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in stats.values())
    ref = reference_scores(hf, [[tok.bos_token_id] + tok(p)["input_ids"] for p in PROMPTS])
    assert stats["query_positions"] == sum(len(p.split()) for p in PROMPTS)
    assert (stats["n_layers"], stats["n_heads"]) == (2, 4)
    for score, m in ref.items():
        for layer in range(2):
            for h in range(4):
                assert stats[f"L{layer}.H{h}.{score}"] == pytest.approx(m[layer, h], abs=1e-6), (score, layer, h)
        top = int(np.argmax(m))
        assert stats[f"{score}.max"] == pytest.approx(m.max(), abs=1e-6)
        assert (stats[f"{score}.argmax_layer"], stats[f"{score}.argmax_head"]) == divmod(top, 4)
        assert (stats[f"{score}.argmin_layer"], stats[f"{score}.argmin_head"]) == divmod(int(np.argmin(m)), 4)
        assert stats[f"{score}.mean"] == pytest.approx(m.mean(), abs=1e-6)
        assert np.allclose(out["scores"][score], m, atol=1e-6)
    figure = json.dumps(out["figure"], ensure_ascii=False)
    assert out["provenance"]["caption"] in figure and "q >= 1" in figure
    assert len([t for t in out["figure"]["data"] if t["type"] == "heatmap"]) == 4


@pytest.mark.parametrize("bos", [True, False])
def test_induction_reads_the_token_after_the_previous_occurrence(sharp, bos):
    folder, hf, _ = sharp
    length, batch = 6, 3
    params = {"model": str(folder), "weights": "raw", "device": "cpu", "prepend_bos": bos,
              "random_tokens": {"batch": batch, "length": length, "seed": 11, "repeat": True},
              "heads": ["L1.H2", "L0.H0"]}
    stats = run_recipe("attention_heads", params)["statistics"]
    assert set(stats) == get_recipe("attention_heads").statistic_keys(params)
    body = torch.randint(0, 64, (batch, length), generator=torch.Generator().manual_seed(11))
    sums, off_by_one, n = np.zeros((2, 4)), np.zeros((2, 4)), 0
    for row in body.tolist():
        ids = ([0] if bos else []) + row + row
        start = len(ids) - length  # the second copy's first position
        for layer, A in enumerate(attentions(hf, ids)):
            for q in range(start, len(ids)):
                prev = q - length  # the previous occurrence of the token at q
                assert ids[prev] == ids[q]
                sums[layer] += A[:, q, prev + 1]
                off_by_one[layer] += A[:, q, prev]
        n += length
    ref = sums / n
    assert stats["induction_positions"] == n
    assert stats["L1.H2.induction"] == pytest.approx(ref[1, 2], abs=1e-6)
    assert stats["L0.H0.induction"] == pytest.approx(ref[0, 0], abs=1e-6)
    assert stats["induction.max"] == pytest.approx(ref.max(), abs=1e-6)
    assert abs(ref - off_by_one / n).max() > 1e-3  # the test can tell an off-by-one apart
    assert (stats["induction.argmax_layer"], stats["induction.argmax_head"]) == divmod(int(np.argmax(ref)), 4)


def test_padding_and_batch_size_change_nothing(sharp):
    folder, _, _ = sharp
    base = {"model": str(folder), "weights": "raw", "device": "cpu", "heads": ALL_HEADS}
    long, short = PROMPTS[2], PROMPTS[1]
    together = run_recipe("attention_heads", {**base, "prompts": [long, short], "batch_size": 2})["statistics"]
    apart = run_recipe("attention_heads", {**base, "prompts": [long, short], "batch_size": 1})["statistics"]
    assert together.keys() == apart.keys()
    for key, value in together.items():
        assert value == pytest.approx(apart[key], abs=1e-7), key
    a = run_recipe("attention_heads", {**base, "prompts": [long]})["statistics"]
    b = run_recipe("attention_heads", {**base, "prompts": [short]})["statistics"]
    na, nb = a["query_positions"], b["query_positions"]
    assert together["query_positions"] == na + nb
    key = "L1.H3.entropy"
    assert together[key] == pytest.approx((a[key] * na + b[key] * nb) / (na + nb), abs=1e-7)


def test_bad_heads_are_one_line_errors(sharp):
    folder, _, _ = sharp
    base = {"model": str(folder), "weights": "raw", "device": "cpu", "prompts": ["the cat"]}
    with pytest.raises(RecipeError, match="'heads': each head is written L<layer>.H<head>"):
        get_recipe("attention_heads").validate_params({**base, "heads": ["1.3"]})
    with pytest.raises(RecipeError) as err:
        run_recipe("attention_heads", {**base, "heads": ["L2.H0"]})
    assert "\n" not in str(err.value) and "L2.H0 is not a head of this model (2 layers of 4 heads" in str(err.value)
    with pytest.raises(RecipeError, match="query positions q >= 1"):
        run_recipe("attention_heads", {**base, "prompts": ["the"], "prepend_bos": False})
    keys = get_recipe("attention_heads").statistic_keys({**base, "heads": ["L0.H1"]})
    assert "L0.H1.prev_token" in keys and "induction.max" not in keys and "L0.H2.self" not in keys
