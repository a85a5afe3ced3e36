"""Loading tiny local models through TransformerBridge: matrices, weights modes, warm cache."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from puzzle_platform.recipes import RecipeError
from puzzle_platform.worker.models_runtime import (cache_info, clear_model_cache, load_model,
                                                   resolve_device)


def _hf_weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("arch, wte, wpe", [
    ("gpt_neo", "transformer.wte.weight", "transformer.wpe.weight"),
    ("gpt2", "transformer.wte.weight", "transformer.wpe.weight"),
])
def test_raw_matrices_are_the_checkpoint_and_processed_are_centred(tiny_model_dirs, arch, wte, wpe):
    folder = tiny_model_dirs[arch]
    raw = load_model(str(folder), weights="raw", device="cpu")
    proc = load_model(str(folder), weights="processed", device="cpu")
    sd = _hf_weights(folder)
    assert {k: tuple(v.shape) for k, v in raw.matrices.items()} == {
        "W_E": (300, 32), "W_U": (300, 32), "W_pos": (64, 32)}
    assert torch.equal(raw.matrix("W_E"), sd[wte]) and torch.equal(raw.matrix("W_pos"), sd[wpe])
    assert torch.equal(raw.matrix("W_U"), raw.matrix("W_E"))  # tied embeddings
    assert raw.nbytes == (300 + 64) * 32 * 4                  # tied storage counted once
    # Processed (HookedTransformer defaults): writing weights (W_E, W_pos) lose their mean over
    # d_model; W_U is centred over d_model (fold_ln) and over the vocabulary (center_unembed).
    for name in ("W_E", "W_pos"):
        R = raw.matrix(name).double()
        assert torch.allclose(proc.matrix(name).double(), R - R.mean(1, keepdim=True), atol=1e-6)
    U = proc.matrix("W_U").double()
    assert U.mean(0).abs().max() < 1e-6 and U.mean(1).abs().max() < 1e-6
    assert not torch.equal(proc.matrix("W_U"), proc.matrix("W_E"))
    assert proc.dtype == "float32" and proc.device == "cpu"
    assert raw.revision.startswith("sha256:") and len(raw.revision) == len("sha256:") + 12


def test_rotary_model_has_no_w_pos(tiny_model_dirs):
    loaded = load_model(str(tiny_model_dirs["llama"]), weights="raw", device="cpu")
    assert set(loaded.matrices) == {"W_E", "W_U"}
    with pytest.raises(RecipeError, match=r"has no W_pos: .*rotary"):
        loaded.matrix("W_pos")


def test_warm_cache_hits_and_keys(tiny_model_dirs):
    folder = str(tiny_model_dirs["gpt2"])
    clear_model_cache()
    before = cache_info()
    first = load_model(folder, weights="raw", device="cpu")
    second = load_model(folder, weights="raw", device="cpu")
    after = cache_info()
    assert after["loads"] - before["loads"] == 1 and after["hits"] - before["hits"] == 1
    assert second.matrices["W_E"] is first.matrices["W_E"]
    load_model(folder, weights="processed", device="cpu")  # another key: loads
    assert cache_info()["loads"] - before["loads"] == 2 and cache_info()["entries"] == 2


def test_cache_budget_evicts(tiny_model_dirs, monkeypatch):
    clear_model_cache()
    monkeypatch.setenv("WORKER_MODEL_CACHE_MB", str(60_000 / 2**20))  # room for one tiny model
    loads = cache_info()["loads"]
    load_model(str(tiny_model_dirs["gpt2"]), weights="raw", device="cpu")
    load_model(str(tiny_model_dirs["gpt_neo"]), weights="raw", device="cpu")
    assert cache_info()["entries"] == 1
    load_model(str(tiny_model_dirs["gpt2"]), weights="raw", device="cpu")  # evicted: reloads
    assert cache_info()["loads"] - loads == 3
    monkeypatch.setenv("WORKER_MODEL_CACHE_MB", "0")  # too big to cache at all
    clear_model_cache()
    load_model(str(tiny_model_dirs["gpt2"]), weights="raw", device="cpu")
    assert cache_info()["entries"] == 0


def test_local_revision_follows_the_files(tiny_model_dirs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dirs["gpt2"], copy)
    a = load_model(str(copy), weights="raw", device="cpu").revision
    assert load_model(str(tiny_model_dirs["gpt2"]), weights="raw", device="cpu").revision == a
    config = json.loads((copy / "config.json").read_text())
    config["note"] = "changed"
    (copy / "config.json").write_text(json.dumps(config))
    assert load_model(str(copy), weights="raw", device="cpu").revision != a


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RecipeError, match="CUDA is not available"):
            resolve_device("cuda")


def test_revision_is_refused_for_a_local_dir(tiny_model_dirs):
    with pytest.raises(RecipeError, match="applies to hub models"):
        load_model(str(tiny_model_dirs["gpt2"]), weights="raw", device="cpu", revision="main")
