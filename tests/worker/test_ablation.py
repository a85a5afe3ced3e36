"""The `ablation` recipe against Hugging Face transformers in float64 with forward hooks on the
same token ids: zeroing, mean-replacing or resampling a head's slice of the attention output
projection's input (its z) or the MLP's output."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from puzzle_platform.recipes import RecipeError, get_recipe
from puzzle_platform.worker.run_recipe import run_recipe

PROMPTS = ["the cat sat on the mat", "a dog is big", "the king is a big man",
           "paris is the capital of france", "mary and john went to the store", "when john gave a drink"]
TOL = 2e-5  # float32 bridge vs float64 reference, nats


@pytest.fixture(scope="module")
def hf(tiny_text_model_dirs):
    out = {}
    for name, folder in tiny_text_model_dirs.items():
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").double().eval()
        out[name] = (model, AutoTokenizer.from_pretrained(folder))
    return out


def _blocks(model):
    return model.transformer.h


def _z_module(model, layer):
    """The module whose input is the concatenation of every head's z (before W_O)."""
    attn = _blocks(model)[layer].attn
    return attn.c_proj if hasattr(attn, "c_proj") else attn.attention.out_proj


def _ids(tok, prompts):
    """[<bos>] + the word ids, padded on the right with <pad> (1); and the lengths."""
    rows = [[0] + tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.full((len(rows), int(lengths.max())), 1)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
    return ids, lengths


def _hooked(model, components, edit):
    """Register hooks replacing each component's activation by edit(name, act, layer, head)."""
    handles = []
    d_head = model.config.hidden_size // model.config.num_attention_heads
    for name in components:
        layer, _, what = name[1:].partition(".")
        layer = int(layer)
        if what == "mlp":
            handles.append(_blocks(model)[layer].mlp.register_forward_hook(
                lambda m, a, out, n=name: edit(n, out, None)))
        else:
            h = int(what[1:])

            def pre(m, args, n=name, h=h):
                x = args[0].clone()
                x[..., h * d_head:(h + 1) * d_head] = edit(n, x[..., h * d_head:(h + 1) * d_head], h)
                return (x,)
            handles.append(_z_module(model, layer).register_forward_pre_hook(pre))
    return handles


def _capture(model, ids, components):
    """Each component's activation on `ids` (float64): head slices and MLP outputs."""
    seen = {}

    def keep(n, act, h):
        seen[n] = act.clone()
        return act
    handles = _hooked(model, components, keep)
    with torch.no_grad():
        model(ids)
    for hd in handles:
        hd.remove()
    return seen


def hf_loss(model, ids, lengths, components=(), edit=None) -> float:
    """HF's own mean loss with labels = ids, padding labelled -100 and masked out."""
    mask = torch.arange(ids.shape[1])[None] < lengths[:, None]
    labels = ids.masked_fill(~mask, -100)
    handles = _hooked(model, components, edit) if components else []
    try:
        with torch.no_grad():
            return float(model(ids, attention_mask=mask.long(), labels=labels).loss)
    finally:
        for hd in handles:
            hd.remove()


def _params(folder, **kw):
    return {"model": str(folder), "weights": "raw", "device": "cpu", "prompts": PROMPTS, **kw}


@pytest.mark.parametrize("name", ["text_gpt2", "text_neo"])
@pytest.mark.parametrize("weights", ["raw", "processed"])
def test_zero_and_mean_ablation_match_hf_hooks(tiny_text_model_dirs, hf, name, weights):
    model, tok = hf[name]
    ids, lengths = _ids(tok, PROMPTS)
    comps = ["L0.H1", "L1.mlp", "L0.mlp", "L1.H3"]
    clean = hf_loss(model, ids, lengths)
    mask = torch.arange(ids.shape[1])[None] < lengths[:, None]
    acts = _capture(model, ids, comps)
    means = {c: a[mask].mean(dim=0) for c, a in acts.items()}  # over every real position
    for method, edit in [("zero", lambda n, a, h: torch.zeros_like(a)),
                         ("mean", lambda n, a, h: means[n].expand_as(a).clone())]:
        out = run_recipe("ablation", _params(tiny_text_model_dirs[name], weights=weights,
                                             components=comps, method=method, together=True,
                                             batch_size=4))
        s = out["statistics"]
        assert s["loss_clean"] == pytest.approx(clean, abs=TOL)
        assert s["positions"] == int((lengths - 1).sum())
        for c in comps:
            ref = hf_loss(model, ids, lengths, [c], edit)
            assert s[f"{c}.loss_ablated"] == pytest.approx(ref, abs=TOL), (method, c)
            assert s[f"{c}.delta"] == pytest.approx(ref - clean, abs=TOL), (method, c)
        together = hf_loss(model, ids, lengths, comps, edit)
        assert s["all.loss_ablated"] == pytest.approx(together, abs=TOL)
        assert s["all.delta"] == s["delta"] and s["loss_ablated"] == s["all.loss_ablated"]
        assert set(s) == get_recipe("ablation").statistic_keys(_params("m", components=comps,
                                                                        method=method, together=True))
        if method == "zero":
            zero = s
    # "zero is not neutral": zeroing an MLP is not the same as replacing it by its mean
    for c in ("L0.mlp", "L1.mlp"):
        assert abs(zero[f"{c}.delta"] - s[f"{c}.delta"]) > 5 * TOL


def test_resample_ablation_patches_the_seeded_partner_at_the_same_positions(tiny_text_model_dirs, hf):
    model, _ = hf["text_gpt2"]
    spec = {"batch": 7, "length": 9, "seed": 3, "repeat": False}
    comps = ["L1.H0", "L0.mlp"]
    out = run_recipe("ablation", _params(tiny_text_model_dirs["text_gpt2"], prompts=None,
                                         random_tokens=spec, components=comps,
                                         method="resample", seed=11, batch_size=3))
    # the documented pairing: one group (all 10 tokens long); a seeded shuffle, each taking the next
    body = torch.randint(0, 64, (7, 9), generator=torch.Generator().manual_seed(3))
    ids = torch.cat([torch.zeros(7, 1, dtype=torch.long), body], dim=1)
    lengths = torch.full((7,), 10)
    order = torch.randperm(7, generator=torch.Generator().manual_seed(11))
    source = torch.empty(7, dtype=torch.long)
    source[order] = order.roll(-1)
    assert not (source == torch.arange(7)).any()
    donor = _capture(model, ids[source], comps)
    s = out["statistics"]
    clean = hf_loss(model, ids, lengths)
    assert s["loss_clean"] == pytest.approx(clean, abs=TOL)
    for c in comps:
        ref = hf_loss(model, ids, lengths, [c], lambda n, a, h: donor[n].clone())
        assert s[f"{c}.loss_ablated"] == pytest.approx(ref, abs=TOL)
    assert set(s) == {"loss_clean", "positions",
                      *(f"{c}.{k}" for c in comps for k in ("loss_ablated", "delta"))}
    assert out["provenance"]["seed"] == 11 and out["provenance"]["method"] == "resample"
    again = run_recipe("ablation", _params(tiny_text_model_dirs["text_gpt2"], prompts=None,
                                           random_tokens=spec, components=comps,
                                           method="resample", seed=12, batch_size=7))
    assert again["statistics"]["loss_clean"] == pytest.approx(s["loss_clean"], abs=1e-9)
    assert again["statistics"]["L1.H0.loss_ablated"] != s["L1.H0.loss_ablated"]


def test_resample_pairs_prompts_of_equal_length_only(tiny_text_model_dirs):
    folder = tiny_text_model_dirs["text_gpt2"]
    with pytest.raises(RecipeError, match=r"input 1 is the only one of 5 tokens") as info:
        run_recipe("ablation", _params(folder, prompts=["the cat sat", "a dog is big", "the cat is"],
                                       components=["L0.mlp"], method="resample"))
    assert "\n" not in str(info.value)
    ok = run_recipe("ablation", _params(folder, prompts=["the cat sat", "a dog is big", "the cat is",
                                                         "the dog is red"],
                                        components=["L0.mlp"], method="resample"))
    assert ok["statistics"]["positions"] == 3 + 4 + 3 + 4  # tokens with BOS, less one each


def test_single_component_figure_progress_and_cancel(tiny_text_model_dirs):
    seen = []
    out = run_recipe("ablation", _params(tiny_text_model_dirs["text_gpt2"], components=["L1.mlp"],
                                         batch_size=2), lambda pct, stage: seen.append(pct))
    s = out["statistics"]
    assert set(s) == {"loss_clean", "positions", "L1.mlp.loss_ablated", "L1.mlp.delta",
                      "loss_ablated", "delta"}
    assert s["delta"] == s["L1.mlp.delta"] == pytest.approx(s["loss_ablated"] - s["loss_clean"])
    assert seen == sorted(seen) and seen[-1] == 100 and len(seen) >= 6
    bar = out["figure"]["data"][0]
    assert bar["type"] == "bar" and list(bar["x"]) == ["L1.mlp"]
    assert out["provenance"]["inputs"]["sequences"] == len(PROMPTS)

    def cancel(pct, stage):
        if pct > 10:
            raise KeyboardInterrupt("cancelled")
    with pytest.raises(KeyboardInterrupt):
        run_recipe("ablation", _params(tiny_text_model_dirs["text_gpt2"], components=["L1.mlp"],
                                       batch_size=1), cancel)


@pytest.mark.parametrize("extra, message", [
    ({"components": []}, "'components': must be a non-empty array"),
    ({"components": "L0.H1"}, "'components': must be a non-empty array"),
    ({"components": ["L0.X"]}, "'components': 'L0.X' is not a component"),
    ({"components": ["l0.h1"]}, "'l0.h1' is not a component"),
    ({"components": ["L01.H1"]}, "'L01.H1' is not a component"),
    ({"components": ["L0.H1", "L0.H1"]}, "'L0.H1' is listed twice"),
    ({"components": ["L0.mlp"], "method": "noise"}, "'method': must be one of 'zero', 'mean', 'resample'"),
    ({"components": ["L0.mlp"], "seed": 3}, 'seed is only used with method = "resample"'),
    ({"components": ["L0.mlp"], "prompts": None}, "give either prompts"),
])
def test_bad_params_are_one_line(extra, message):
    with pytest.raises(RecipeError) as info:
        get_recipe("ablation").validate_params(_params("m", **extra))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("component, message", [
    ("L2.mlp", "component 'L2.mlp': the model has 2 layers (L0 .. L1)"),
    ("L1.H4", "component 'L1.H4': the model has 4 heads per layer (H0 .. H3)"),
])
def test_components_the_model_lacks_are_refused_by_name(tiny_text_model_dirs, component, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        run_recipe("ablation", _params(tiny_text_model_dirs["text_gpt2"], components=[component]))
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def value_bias_dir(tiny_text_model_dirs, tmp_path_factory):
    """The tiny GPT-2 with non-zero attention biases (q, k and v), tokenizer copied."""
    import shutil
    src = tiny_text_model_dirs["text_gpt2"]
    model = AutoModelForCausalLM.from_pretrained(src)
    torch.manual_seed(5)
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.bias.normal_(0, 3.0)
    folder = tmp_path_factory.mktemp("value_bias") / "gpt2_bv"
    model.save_pretrained(folder)
    for f in src.iterdir():
        if f.name.startswith("tokenizer"):
            shutil.copy(f, folder / f.name)
    return folder


def test_processed_weights_keep_the_value_bias_when_a_head_is_zeroed(value_bias_dir):
    """TransformerLens folds b_V into b_O: zeroing the processed z sets the raw z to b_V."""
    model = AutoModelForCausalLM.from_pretrained(value_bias_dir, attn_implementation="eager").double().eval()
    tok = AutoTokenizer.from_pretrained(value_bias_dir)
    prompts = PROMPTS[:4]
    ids, lengths = _ids(tok, prompts)
    d = model.config.hidden_size
    b_v = {c: model.transformer.h[int(c[1])].attn.c_attn.bias[2 * d:][int(c[-1]) * 8:(int(c[-1]) + 1) * 8]
           for c in ("L0.H1", "L1.H2")}
    clean = hf_loss(model, ids, lengths)
    got = {w: run_recipe("ablation", _params(value_bias_dir, prompts=prompts, weights=w,
                                             components=["L0.H1", "L1.H2"]))["statistics"]
           for w in ("raw", "processed")}
    for c in b_v:
        raw = hf_loss(model, ids, lengths, [c], lambda n, a, h: torch.zeros_like(a))
        folded = hf_loss(model, ids, lengths, [c], lambda n, a, h: b_v[n].expand_as(a).clone())
        assert got["raw"][f"{c}.delta"] == pytest.approx(raw - clean, abs=TOL)
        assert got["processed"][f"{c}.delta"] == pytest.approx(folded - clean, abs=TOL)
        assert abs(raw - folded) > 10 * TOL
