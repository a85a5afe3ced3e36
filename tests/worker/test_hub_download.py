"""The model loading path for real: a tiny model served by a local stand-in for the Hugging
Face hub (tests/worker/hub_server.py) is downloaded, pinned to a commit, cached, and reused
offline with the hub gone; a repo over MODEL_MAX_GB is refused before any weight is fetched.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at import, into
`huggingface_hub.constants` (ENDPOINT, the resolve-URL template, HF_HUB_CACHE,
HF_HUB_OFFLINE), and every call reads them from there: the fixture patches those attributes
(and the environment the worker itself reads) rather than running the worker in a
subprocess, which would import torch and TransformerLens again for each step.

Reference: the embedding statistics are recomputed in float64 numpy from the very
safetensors bytes the hub serves at each commit, not through the worker.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch
from safetensors.torch import load, save

from puzzle_platform.worker.errors import ModelUnavailable
from puzzle_platform.worker.models_runtime import clear_model_cache
from puzzle_platform.worker.run_recipe import run_recipe
from tests.worker.hub_server import FakeHub, point_hub_at

REPO = "tiny-org/tiny-gpt2"
MAIN = "1111111111111111111111111111111111111111"   # the commit main points at
OTHER = "2222222222222222222222222222222222222222"  # an older commit, other weights
WTE = "transformer.wte.weight"


def _other_weights(data: bytes) -> bytes:
    """The same model with its token embeddings moved off-centre (a different mean cosine)."""
    tensors = load(data)
    tensors[WTE] = tensors[WTE] + 0.05 * torch.arange(tensors[WTE].shape[1], dtype=torch.float32)
    return save(tensors, metadata={"format": "pt"})


def _mean_cos(data: bytes) -> float:
    """Mean cosine over distinct pairs of the served W_E rows, float64 brute force."""
    X = load(data)[WTE].double().numpy()
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = U @ U.T
    n = len(X)
    return float((C.sum() - np.trace(C)) / (n * (n - 1)))


@pytest.fixture
def hub(tiny_text_model_dirs, tmp_path, monkeypatch):
    files = FakeHub.folder_files(tiny_text_model_dirs["text_gpt2"])
    hub = FakeHub()
    hub.add_commit(REPO, OTHER, {**files, "model.safetensors": _other_weights(files["model.safetensors"])},
                   branch=None)
    hub.add_commit(REPO, MAIN, files)
    hub.start()
    point_hub_at(hub, tmp_path / "hf", monkeypatch)
    monkeypatch.setenv("MODEL_ALLOWLIST", REPO)
    clear_model_cache()
    yield hub
    hub.stop()
    clear_model_cache()


def _cosine(**extra) -> dict:
    clear_model_cache()  # the worker's in-memory cache aside: each run loads from disk
    return run_recipe("embedding_cosine", {"model": REPO, "weights": "raw", "device": "cpu",
                                           "matrix": "W_E", "bins": 10, **extra})


def test_download_pin_cache_then_offline(hub, monkeypatch):
    from huggingface_hub import constants

    main_bytes = hub.repos[REPO][MAIN]["model.safetensors"]
    other_bytes = hub.repos[REPO][OTHER]["model.safetensors"]

    first = _cosine()
    assert first["provenance"]["resolved_model"] == REPO
    assert first["provenance"]["revision"] == MAIN  # the commit main pointed at, not "main"
    assert len(hub.weight_gets()) == 1  # the safetensors bytes, fetched once
    fetched = {p.rsplit("/", 1)[-1] for m, p in hub.log if m == "GET" and "/resolve/" in p}
    assert "README.md" not in fetched and "config.json" in fetched  # only what loading needs
    assert first["statistics"]["mean_cos"] == pytest.approx(_mean_cos(main_bytes), abs=1e-6)

    hub.clear_log()
    pinned = _cosine(revision=OTHER)
    assert pinned["provenance"]["revision"] == OTHER
    assert len(hub.weight_gets()) == 1
    assert pinned["statistics"]["mean_cos"] == pytest.approx(_mean_cos(other_bytes), abs=1e-6)
    assert abs(pinned["statistics"]["mean_cos"] - first["statistics"]["mean_cos"]) > 1e-3

    hub.clear_log()
    again = _cosine()
    assert hub.log == [], hub.log  # from the cache: not even a look-up
    assert again["statistics"] == first["statistics"]
    assert again["provenance"]["revision"] == MAIN

    hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = _cosine()
    assert (offline["statistics"], offline["provenance"]["revision"]) == (first["statistics"], MAIN)
    offline_pinned = _cosine(revision=OTHER)
    assert offline_pinned["statistics"] == pinned["statistics"]


def test_over_max_gb_is_refused_before_any_weight_is_fetched(hub, monkeypatch):
    size = len(hub.repos[REPO][MAIN]["model.safetensors"])
    monkeypatch.setenv("MODEL_MAX_GB", str(size / 2 / 1e9))
    with pytest.raises(ModelUnavailable) as info:
        _cosine()
    assert str(info.value) == (f"model {REPO!r} ({REPO}) has {size / 1e9:,.1f} GB of weight files, "
                               f"over this site's limit of {size / 2 / 1e9:g} GB (MODEL_MAX_GB); "
                               "nothing was downloaded")
    assert [p for m, p in hub.log if "/resolve/" in p or p.startswith("/lfs/")] == []
    assert ("GET", f"/api/models/{REPO}") in hub.log  # the sizes came from the hub


def test_an_unknown_revision_is_one_line(hub):
    with pytest.raises(ModelUnavailable) as info:
        _cosine(revision="3" * 40)
    assert "could not be looked up on the Hugging Face hub" in str(info.value)
    assert "\n" not in str(info.value)
    assert hub.weight_gets() == []
