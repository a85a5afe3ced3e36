"""activation_stats: every statistic against Hugging Face transformers on the same token ids
(forward hooks and output_attentions, eager attention) in float64 numpy; exact quantiles and
histogram against numpy on the very values the model computes, in memory and streamed."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from puzzle_platform.recipes import RecipeError, get_recipe
from puzzle_platform.worker import streaming_stats
from puzzle_platform.worker.models_runtime import load_bridge
from puzzle_platform.worker.run_recipe import run_recipe

PROMPTS = ["the cat sat on the mat", "a dog", "when mary and john went to the store john gave a drink to mary",
           "paris is the capital of france"]


@pytest.fixture(scope="module")
def folder(tiny_text_model_dirs):
    return tiny_text_model_dirs["text_gpt2"]


@pytest.fixture(scope="module")
def hf(folder):
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    return model, PreTrainedTokenizerFast.from_pretrained(folder)


def hf_activations(hf, hook: str, prompt: str) -> np.ndarray:
    """The hook's value for one prompt alone (no padding), from transformers: [pos, ...] or
    the pattern [head, q, k]."""
    model, tok = hf
    ids = torch.tensor([[tok.bos_token_id] + tok(prompt)["input_ids"]])
    parts = hook.split(".")
    layer = int(parts[1])
    seen = {}
    if hook.endswith("hook_resid_post"):
        module = model.transformer.h[layer]
    elif hook.endswith("mlp.hook_post"):
        module = model.transformer.h[layer].mlp.act
    else:
        module = None
    handle = module.register_forward_hook(lambda m, i, o: seen.setdefault("x", o[0] if isinstance(o, tuple) else o)) \
        if module is not None else None
    with torch.no_grad():
        out = model(ids, output_attentions=True, output_hidden_states=True)
    if handle:
        handle.remove()
        x = seen["x"][0] if seen["x"].ndim == 3 else seen["x"]
        if hook.endswith("hook_resid_post") and layer < model.config.n_layer - 1:
            assert torch.allclose(x, out.hidden_states[layer + 1][0])  # the same tensor HF reports
        return x.double().numpy()
    return out.attentions[layer][0].double().numpy()


def reference(hf, hook: str, index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(every counted value, every row's L2 norm) over PROMPTS, float64."""
    values, norms = [], []
    for prompt in PROMPTS:
        x = hf_activations(hf, hook, prompt)
        if hook.endswith("hook_pattern"):
            heads = [index] if index is not None else range(x.shape[0])
            for h in heads:
                for q in range(x.shape[1]):
                    row = x[h, q, :q + 1]   # keys <= q: the entries the model does not mask
                    values.append(row)
                    norms.append([np.linalg.norm(row)])
        else:
            rows = x[:, index:index + 1] if index is not None else x
            values.append(rows.ravel())
            norms.append(np.linalg.norm(rows, axis=1))
    return np.concatenate(values), np.concatenate(norms)


def rank_value(v: np.ndarray, percent: int) -> float:
    return float(np.sort(v)[max(1, math.ceil(percent * len(v) / 100)) - 1])


@pytest.mark.parametrize("hook, index", [
    ("blocks.0.hook_resid_post", None), ("blocks.1.hook_resid_post", None),
    ("blocks.0.mlp.hook_post", None), ("blocks.1.mlp.hook_post", 5),
    ("blocks.1.attn.hook_pattern", None), ("blocks.0.attn.hook_pattern", 2),
])
def test_every_statistic_equals_transformers(folder, hf, hook, index):
    params = {"model": str(folder), "weights": "raw", "device": "cpu", "prompts": PROMPTS,
              "hook": hook, "index": index, "batch_size": 3, "bins": 20}
    out = run_recipe("activation_stats", params)
    stats = out["statistics"]
    assert set(stats) == get_recipe("activation_stats").statistic_keys(params)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in stats.values())
    v, norms = reference(hf, hook, index)
    assert stats["count"] == len(v)
    assert stats["mean"] == pytest.approx(v.mean(), rel=1e-5, abs=1e-7)
    assert stats["std"] == pytest.approx(v.std(), rel=1e-5)
    assert stats["mean_norm"] == pytest.approx(norms.mean(), rel=1e-5)
    # order statistics move at most as far as the values do (float32 rounding, ~1e-7)
    for key, want in [("min", v.min()), ("max", v.max()), ("q01", rank_value(v, 1)),
                      ("q50", rank_value(v, 50)), ("q99", rank_value(v, 99))]:
        assert stats[key] == pytest.approx(want, abs=1e-6), key
    near_zero = int(np.sum(np.abs(v) < 1e-6))
    assert abs(stats["frac_positive"] - np.mean(v > 0)) <= near_zero / len(v)
    assert sum(out["histogram"]["counts"]) == len(v) and len(out["histogram"]["counts"]) == 20
    assert out["histogram"]["edges"][0] == stats["min"] and out["histogram"]["edges"][-1] == stats["max"]
    caption = out["provenance"]["caption"]
    assert hook in caption and "raw weights" in caption and "4 prompts" in caption
    assert (f"index {index}" in caption) == (index is not None)
    assert caption in json.dumps(out["figure"], ensure_ascii=False)


def test_padding_and_batch_size_change_nothing(folder):
    base = {"model": str(folder), "weights": "raw", "device": "cpu", "hook": "blocks.1.mlp.hook_post"}
    long, short = PROMPTS[2], PROMPTS[1]
    together = run_recipe("activation_stats", {**base, "prompts": [long, short], "batch_size": 2})["statistics"]
    apart = run_recipe("activation_stats", {**base, "prompts": [long, short], "batch_size": 1})["statistics"]
    for key, value in together.items():
        assert value == pytest.approx(apart[key], rel=1e-6, abs=1e-7), key
    a = run_recipe("activation_stats", {**base, "prompts": [long]})["statistics"]
    b = run_recipe("activation_stats", {**base, "prompts": [short]})["statistics"]
    assert together["count"] == a["count"] + b["count"]
    assert together["mean"] == pytest.approx((a["mean"] * a["count"] + b["mean"] * b["count"])
                                             / together["count"], rel=1e-6)
    assert together["min"] == pytest.approx(min(a["min"], b["min"]), abs=1e-7)
    assert together["max"] == pytest.approx(max(a["max"], b["max"]), abs=1e-7)


@pytest.mark.parametrize("hook", ["blocks.0.mlp.hook_pre", "embed.hook_in", "blocks.1.attn.hook_pattern"])
def test_quantiles_and_histogram_are_exact_in_memory_and_streamed(folder, monkeypatch, hook):
    """The same values as the model computes on the same batch: quantiles equal numpy's
    inverted_cdf exactly, whether kept in memory or found by extra passes (a tiny memory cap
    and 4 bins per level force several; embed.hook_in holds token ids: many ties)."""
    spec = {"batch": 6, "length": 7, "seed": 3, "repeat": False}
    params = {"model": str(folder), "weights": "raw", "device": "cpu", "random_tokens": spec,
              "hook": hook, "batch_size": 6, "bins": 16}
    kept = run_recipe("activation_stats", params)
    bridge = load_bridge(str(folder), weights="raw", device="cpu").bridge
    gen = torch.Generator().manual_seed(3)
    ids = torch.cat([torch.zeros(6, 1, dtype=torch.long),
                     torch.randint(0, bridge.cfg.d_vocab, (6, 7), generator=gen)], dim=1)
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n == hook)
    x = cache[hook].double().numpy()
    if hook.endswith("hook_pattern"):
        v = x[:, :, np.tril(np.ones((8, 8), dtype=bool))].ravel()
    else:
        v = x.ravel()
    monkeypatch.setattr(streaming_stats, "KEEP_VALUES", 5)
    monkeypatch.setattr(streaming_stats, "LEVEL_BINS", 4)
    reports = []
    streamed = run_recipe("activation_stats", params, lambda pct, stage: reports.append(pct))
    assert kept["provenance"]["passes"] == 1 and streamed["provenance"]["passes"] >= 3
    assert reports == sorted(reports) and reports[-1] == 100  # progress never goes back
    counts, _ = np.histogram(v, bins=16, range=(v.min(), v.max()))
    for out in (kept, streamed):
        stats = out["statistics"]
        assert stats["count"] == v.size and stats["min"] == v.min() and stats["max"] == v.max()
        for key, q in [("q01", 0.01), ("q50", 0.5), ("q99", 0.99)]:
            assert stats[key] == np.quantile(v, q, method="inverted_cdf") == rank_value(v, int(q * 100)), key
        assert out["histogram"]["counts"] == counts.tolist()
        assert stats["mean"] == pytest.approx(v.mean(), rel=1e-12, abs=1e-15)
        assert stats["std"] == pytest.approx(v.std(), rel=1e-9)
    assert streamed["statistics"] == kept["statistics"]


def test_bad_hook_names_and_indices_are_one_line_errors(folder):
    base = {"model": str(folder), "weights": "raw", "device": "cpu", "prompts": ["the cat"]}
    with pytest.raises(RecipeError) as err:
        run_recipe("activation_stats", {**base, "hook": "blocks.0.hook_resid_pots"})
    assert "\n" not in str(err.value) and "close names: blocks.0.hook_resid_post" in str(err.value)
    with pytest.raises(RecipeError, match="parameter 'hook': must be a TransformerLens hook name"):
        get_recipe("activation_stats").validate_params({**base, "hook": "resid post"})
    with pytest.raises(RecipeError, match=r"index' = 4 but hook 'blocks.0.attn.hook_pattern' has 4 \(index picks the head"):
        run_recipe("activation_stats", {**base, "hook": "blocks.0.attn.hook_pattern", "index": 4})
    with pytest.raises(RecipeError, match="one value per position, nothing to index"):
        run_recipe("activation_stats", {**base, "hook": "embed.hook_in", "index": 0})


def test_per_head_hooks_index_picks_the_head(folder):
    """hook_z is [batch, pos, head, d_head]: index picks a head, rows are (position, head)."""
    base = {"model": str(folder), "weights": "raw", "device": "cpu", "prompts": PROMPTS[:2],
            "hook": "blocks.0.attn.hook_z"}
    bridge = load_bridge(str(folder), weights="raw", device="cpu").bridge
    z = [bridge.run_with_cache(bridge.to_tokens(p), names_filter=lambda n: n == base["hook"])[1][base["hook"]][0]
         .double().numpy() for p in PROMPTS[:2]]
    every = run_recipe("activation_stats", base)["statistics"]
    head = run_recipe("activation_stats", {**base, "index": 3})["statistics"]
    v_all = np.concatenate([x.ravel() for x in z])
    v_head = np.concatenate([x[:, 3].ravel() for x in z])
    assert every["count"] == v_all.size and head["count"] == v_head.size == v_all.size // 4
    assert head["mean"] == pytest.approx(v_head.mean(), rel=1e-6)
    norms = np.concatenate([np.linalg.norm(x, axis=-1).ravel() for x in z])
    assert every["mean_norm"] == pytest.approx(norms.mean(), rel=1e-6)
