"""The shared inputs of model recipes: TransformerLens's tokenization, right padding that
never enters a statistic, seeded random tokens, and the token ids' provenance."""
from __future__ import annotations

import pytest
import torch

from puzzle_platform.recipes import RecipeError
from puzzle_platform.worker.inputs import batches, build_tokens
from puzzle_platform.worker.models_runtime import load_bridge


@pytest.fixture(scope="module")
def bridge(tiny_text_model_dirs):
    return load_bridge(str(tiny_text_model_dirs["text_gpt2"]), weights="raw", device="cpu").bridge


def test_prompts_are_tokenized_by_transformerlens_and_padded_on_the_right(bridge):
    prompts = ["the cat sat", "a dog is on the mat", "paris"]
    tokens = build_tokens(bridge, {"prompts": prompts, "prepend_bos": True})
    for i, prompt in enumerate(prompts):
        alone = bridge.to_tokens(prompt)[0]
        n = int(tokens.lengths[i])
        assert n == len(alone) and torch.equal(tokens.ids[i, :n], alone)
        assert tokens.ids[i, 0] == 0  # BOS
        assert not tokens.mask[i, n:].any() and tokens.mask[i, :n].all()
    assert tokens.provenance["tokens"] == int(tokens.lengths.sum()) == 4 + 7 + 2
    without = build_tokens(bridge, {"prompts": prompts, "prepend_bos": False})
    assert without.provenance["tokens"] == tokens.provenance["tokens"] - 3
    assert without.provenance["token_ids_sha256"] != tokens.provenance["token_ids_sha256"]


def test_padding_never_changes_what_real_positions_compute(bridge):
    prompts = ["the cat sat", "a dog is on the mat by the big red store"]
    tokens = build_tokens(bridge, {"prompts": prompts, "prepend_bos": True})
    [batch] = list(batches(tokens, 8, bridge, "cpu"))
    with torch.no_grad():
        together = bridge(batch.ids)
        alone = bridge(bridge.to_tokens(prompts[0]))
    n = int(tokens.lengths[0])
    assert torch.allclose(together[0, :n], alone[0], atol=1e-5)


def test_random_tokens_are_seeded_and_repeat_for_induction(bridge):
    spec = {"batch": 3, "length": 5, "seed": 7, "repeat": True}
    a = build_tokens(bridge, {"random_tokens": spec, "prepend_bos": True})
    b = build_tokens(bridge, {"random_tokens": spec, "prepend_bos": True})
    assert torch.equal(a.ids, b.ids) and a.ids.shape == (3, 11)
    assert (a.ids[:, 0] == 0).all() and torch.equal(a.ids[:, 1:6], a.ids[:, 6:11])
    assert int(a.ids.max()) < bridge.cfg.d_vocab
    c = build_tokens(bridge, {"random_tokens": {**spec, "seed": 8}, "prepend_bos": True})
    assert not torch.equal(a.ids, c.ids)
    assert a.provenance["token_ids_sha256"] == b.provenance["token_ids_sha256"] != c.provenance["token_ids_sha256"]


def test_batches_cover_every_sequence_once(bridge):
    tokens = build_tokens(bridge, {"random_tokens": {"batch": 10, "length": 4, "seed": 0, "repeat": False},
                                   "prepend_bos": False})
    seen = torch.cat([b.ids for b in batches(tokens, 3, bridge, "cpu")])
    assert torch.equal(seen, tokens.ids)
    assert [b.start for b in batches(tokens, 3, bridge, "cpu")] == [0, 3, 6, 9]


def test_sequences_longer_than_the_context_are_refused(bridge):
    with pytest.raises(RecipeError, match="longer than the model's context of 64"):
        build_tokens(bridge, {"random_tokens": {"batch": 1, "length": 40, "seed": 0, "repeat": True},
                              "prepend_bos": True})
