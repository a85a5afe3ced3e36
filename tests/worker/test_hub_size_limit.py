"""The worker refuses a hub model whose weight files exceed MODEL_MAX_GB, from the hub's file
list, before downloading anything (the hub is faked: these tests never touch the network)."""
from __future__ import annotations

from types import SimpleNamespace

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from puzzle_platform.worker import models_runtime
from puzzle_platform.worker.errors import ModelUnavailable
from puzzle_platform.worker.models_runtime import load_model


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """An empty cache, a reachable hub whose file list is `hub.files`, and downloads recorded."""
    hub = SimpleNamespace(files={}, looked_up=[], downloads=[])

    class FakeApi:
        def model_info(self, repo_id, revision=None, files_metadata=False):
            hub.looked_up.append(repo_id)
            return SimpleNamespace(siblings=[SimpleNamespace(rfilename=name, size=size)
                                             for name, size in hub.files.items()])

    def snapshot_download(repo_id, revision=None, local_files_only=False, **kwargs):
        if local_files_only:
            raise LocalEntryNotFoundError("not in the cache")
        hub.downloads.append((repo_id, kwargs.get("allow_patterns")))
        raise OSError("download stopped by the test")

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(models_runtime, "_hub_reachable", lambda: True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return hub


def test_bloom_is_refused_before_any_download(fake_hub, monkeypatch):
    monkeypatch.setenv("MODEL_ALLOWLIST", "bigscience/bloom")  # allowed, yet far too big
    fake_hub.files = {"config.json": 1_000, "tokenizer.json": 10_000_000,
                      **{f"model_{i:05d}-of-00072.safetensors": 9_722_222_222 for i in range(72)},
                      **{f"pytorch_model_{i:05d}.bin": 9_722_222_222 for i in range(72)}}
    with pytest.raises(ModelUnavailable) as info:
        load_model("bigscience/bloom", device="cpu")
    assert str(info.value) == ("model 'bigscience/bloom' (bigscience/bloom) has 700.0 GB of weight "
                               "files, over this site's limit of 5 GB (MODEL_MAX_GB); nothing was "
                               "downloaded")
    assert fake_hub.looked_up == ["bigscience/bloom"] and fake_hub.downloads == []


def test_under_the_limit_only_the_chosen_weights_count_and_download(fake_hub, monkeypatch):
    monkeypatch.setenv("MODEL_MAX_GB", "0.6")
    fake_hub.files = {"config.json": 1_000, "model.safetensors": 500_000_000,
                      "pytorch_model.bin": 500_000_000}  # .bin is not downloaded: not counted
    with pytest.raises(ModelUnavailable, match="could not be downloaded"):
        load_model("gpt2-small", device="cpu")
    assert fake_hub.downloads == [("gpt2", ["*.json", "*.txt", "*.model", "*.safetensors"])]


def test_a_name_off_the_allow_list_never_reaches_the_hub(fake_hub):
    with pytest.raises(ModelUnavailable, match="not on this site's allow-list"):
        load_model("bigscience/bloom", device="cpu")
    assert fake_hub.looked_up == [] and fake_hub.downloads == []
