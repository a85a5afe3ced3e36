"""The `embedding_neighbors` recipe against a numpy float64 brute force over the Hugging Face
embedding matrix, and on a model built so that king - man + woman is exactly queen."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from transformers import AutoModelForCausalLM

from puzzle_platform.recipes import RecipeError, get_recipe
from puzzle_platform.recipes.embedding_neighbors import parse_expression
from puzzle_platform.worker.run_recipe import run_recipe

WORDS = ("the cat sat on mat a dog king man woman queen paris france is capital of rome italy "
         "berlin germany big small red blue when mary and john went to store gave drink").split()
ID = {w: i + 3 for i, w in enumerate(WORDS)}  # the tiny tokenizer's ids (tests/conftest.py)


def brute(M: np.ndarray, terms: list[tuple[int, int]], exclude: bool) -> tuple[np.ndarray, np.ndarray]:
    """(candidate ids ordered by cosine desc then id, all cosines) in float64."""
    r = sum(sign * M[i] for sign, i in terms)
    norms = np.linalg.norm(M, axis=1)
    cos = np.where(norms > 0, M @ r / np.where(norms > 0, norms, 1) / np.linalg.norm(r), 0.0)
    ids = np.arange(len(M))
    if exclude:
        ids = ids[~np.isin(ids, [i for _, i in terms])]
    return ids[np.lexsort((ids, -cos[ids]))], cos


@pytest.fixture(scope="module")
def weights(tiny_text_model_dirs):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_text_model_dirs["text_gpt2"])
    assert all(tok.convert_tokens_to_ids(w) == i for w, i in ID.items())
    sd = AutoModelForCausalLM.from_pretrained(tiny_text_model_dirs["text_gpt2"]).state_dict()
    return {"W_E": sd["transformer.wte.weight"].double().numpy(),
            "W_U": sd["lm_head.weight"].double().numpy()}


def _params(folder, **kw):
    return {"model": str(folder), "weights": "raw", "device": "cpu", **kw}


@pytest.mark.parametrize("matrix", ["W_E", "W_U"])
@pytest.mark.parametrize("exclude", [True, False])
def test_neighbours_match_numpy_brute_force(tiny_text_model_dirs, weights, matrix, exclude):
    out = run_recipe("embedding_neighbors", _params(
        tiny_text_model_dirs["text_gpt2"], expression='"king" - "man" + "woman"', matrix=matrix,
        target="queen", top=12, exclude_inputs=exclude))
    order, cos = brute(weights[matrix], [(1, ID["king"]), (-1, ID["man"]), (1, ID["woman"])], exclude)
    s = out["statistics"]
    assert set(s) == get_recipe("embedding_neighbors").statistic_keys(_params(
        "m", expression='"a"', target="queen", top=12))
    assert s["candidates"] == len(order) == 64 - (3 if exclude else 0)
    assert [n["token_id"] for n in out["neighbors"]] == order[:12].tolist()
    for k in range(12):
        assert s[f"top.{k}.cos"] == pytest.approx(cos[order[k]], abs=1e-12)
        assert out["neighbors"][k]["cos"] == s[f"top.{k}.cos"] and out["neighbors"][k]["rank"] == k
    rank = int(np.nonzero(order == ID["queen"])[0][0])
    assert s["rank_of"] == rank and s["top1_is_target"] == int(rank == 0)
    assert s["cos_of"] == pytest.approx(cos[ID["queen"]], abs=1e-12)
    named = {n["token_id"]: n["token"] for n in out["neighbors"]}
    assert all(named[ID[w]] == w for w in WORDS if ID[w] in named)
    bar = out["figure"]["data"][0]
    assert bar["type"] == "bar" and len(bar["x"]) == 12 and bar["x"][0].startswith("0: ")


@pytest.fixture(scope="module")
def analogy_dir(tiny_text_model_dirs, tmp_path_factory):
    """The tiny GPT-2 with W_E (tied to W_U) edited so queen = king - man + woman exactly."""
    src = tiny_text_model_dirs["text_gpt2"]
    model = AutoModelForCausalLM.from_pretrained(src)
    with torch.no_grad():
        E = model.transformer.wte.weight
        E[ID["queen"]] = E[ID["king"]] - E[ID["man"]] + E[ID["woman"]]
    folder = tmp_path_factory.mktemp("analogy") / "analogy_gpt2"
    model.save_pretrained(folder)
    for f in src.iterdir():
        if f.name.startswith("tokenizer"):
            shutil.copy(f, folder / f.name)
    return folder


def test_an_exact_analogy_ranks_its_target_first(analogy_dir):
    out = run_recipe("embedding_neighbors", _params(
        analogy_dir, expression="'king' - 'man' + 'woman'", target="queen", top=3))
    s = out["statistics"]
    assert s["rank_of"] == 0 and s["top1_is_target"] == 1
    assert s["cos_of"] == pytest.approx(1.0, abs=1e-6) == s["top.0.cos"]
    assert out["neighbors"][0]["token"] == "queen" and out["target"]["token_id"] == ID["queen"]
    assert out["provenance"]["token_ids"] == [ID["king"], ID["man"], ID["woman"]]
    assert out["figure"]["data"][0]["marker"]["color"][0] != out["figure"]["data"][0]["marker"]["color"][1]
    # included, the inputs compete: cos(r, king) < 1 = cos(r, queen), so queen still leads
    s2 = run_recipe("embedding_neighbors", _params(
        analogy_dir, expression='"king" - "man" + "woman"', exclude_inputs=False, target="king"))
    assert s2["statistics"]["top1_is_target"] == 0 and s2["statistics"]["rank_of"] >= 1
    assert "rank_of" not in run_recipe("embedding_neighbors", _params(
        analogy_dir, expression='"king"', top=1))["statistics"]


@pytest.mark.parametrize("extra, message", [
    ({"expression": '"king man"'}, "expression token 'king man' is 2 tokens"),
    ({"expression": '"king" + "kingdom"'}, "expression token 'kingdom' is not in this model's vocabulary"),
    ({"expression": '"king"', "target": "emperor"}, "target 'emperor' is not in this model's vocabulary"),
    ({"expression": '"king" - "king"'}, "the expression sums to the zero vector"),
    ({"expression": '"king"', "top": 64}, "top = 64 but only 63 tokens are ranked"),
])
def test_run_time_refusals_name_the_token(tiny_text_model_dirs, extra, message):
    with pytest.raises(RecipeError) as info:
        run_recipe("embedding_neighbors", _params(tiny_text_model_dirs["text_gpt2"], **extra))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("expression, message", [
    ("king - man", "expected a quoted token at column 1, got 'k'"),
    ('"king" "man"', "expected + or - before the token at column 8"),
    ('"king" -', "ends with a sign"),
    ('"king" + - "man"', "two signs in a row at column 10"),
    ('"king', "the string opened at column 1 is not closed"),
    ('"king" + ""', "empty string at column 10"),
    ("", "must be quoted tokens joined by + and -"),
])
def test_bad_expressions_are_one_line(expression, message):
    with pytest.raises(RecipeError) as info:
        get_recipe("embedding_neighbors").validate_params(_params("m", expression=expression))
    text = str(info.value)
    assert message in text and "'expression'" in text and "\n" not in text


def test_other_bad_params():
    spec = get_recipe("embedding_neighbors")
    with pytest.raises(RecipeError, match="target 'king' is a token of the expression"):
        spec.validate_params(_params("m", expression='"king" - "man"', target="king"))
    assert spec.validate_params(_params("m", expression='"king"', target="king",
                                        exclude_inputs=False))["target"] == "king"
    with pytest.raises(RecipeError, match="'matrix': must be one of 'W_E', 'W_U'"):
        spec.validate_params(_params("m", expression='"a"', matrix="W_pos"))
    with pytest.raises(RecipeError, match=r"unknown parameter\(s\) 'prompts'"):
        spec.validate_params(_params("m", expression='"a"', prompts=["x"]))


QUOTED = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
                 min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]), QUOTED), min_size=1, max_size=6),
       st.sampled_from(['"', "'"]), st.sampled_from(["", " ", "  "]))
def test_parser_round_trips_any_quoted_strings(terms, quote, gap):
    def quoted(s: str) -> str:
        return quote + s.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote
    text = "".join(f"{gap}{'+' if sign > 0 else '-'}{gap}{quoted(s)}" for sign, s in terms)
    assert parse_expression(text) == terms
