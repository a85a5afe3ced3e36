"""`manage.py models fetch|list` against the local stand-in for the Hugging Face hub
(tests/worker/hub_server.py): a fetch downloads once and then says "cached already", an
offline fetch of an uncached model and a disallowed name fail with one line and download
nothing, and `models list` shows the fetched repo with its TransformerLens aliases.

As in test_hub_download.py, huggingface_hub's constants (read from the environment at import)
are patched in this process; the CLI runs through Flask's CLI runner on a fresh app.
"""
from __future__ import annotations

import pytest

from tests.worker.hub_server import FakeHub, point_hub_at

REPO = "gpt2"       # served under the real id, so that TransformerLens's alias gpt2-small resolves
MAIN = "1111111111111111111111111111111111111111"


@pytest.fixture
def hub(tiny_text_model_dirs, tmp_path, monkeypatch):
    hub = FakeHub()
    hub.add_commit(REPO, MAIN, FakeHub.folder_files(tiny_text_model_dirs["text_gpt2"]))
    hub.start()
    point_hub_at(hub, tmp_path / "hf", monkeypatch)
    yield hub
    hub.stop()


def _served_bytes(hub: FakeHub) -> int:
    """What the snapshot should hold: the files the worker fetches (no README, no .gitattributes)."""
    files = hub.repos[REPO][MAIN]
    return sum(len(data) for name, data in files.items() if name.endswith((".json", ".txt", ".safetensors")))


def test_fetch_downloads_then_says_cached_and_list_shows_aliases(hub, runner):
    result = runner.invoke(args=["models", "fetch", "gpt2-small"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"gpt2-small: downloaded ({REPO}, revision {MAIN}, "
                                     f"{_served_bytes(hub) / 1e6:,.1f} MB)")
    assert len(hub.weight_gets()) == 1

    hub.clear_log()
    again = runner.invoke(args=["models", "fetch", "gpt2-small"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith(f"gpt2-small: cached already ({REPO}, revision {MAIN},")
    assert hub.log == []  # from the cache: not even a look-up

    listed = runner.invoke(args=["models", "list"])
    assert listed.exit_code == 0, listed.output
    names = {line.strip() for line in listed.output.splitlines() if line.startswith("  ")}
    assert {"gpt2", "gpt2-small"} <= names
    assert "HF_HUB_OFFLINE is not set" in listed.output


def test_offline_fetch_of_an_uncached_model_fails_with_one_line(hub, runner, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = runner.invoke(args=["models", "fetch", "gpt2-small"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is not in the Hugging Face cache and HF_HUB_OFFLINE is set" in lines[0]
    assert hub.log == []
    listed = runner.invoke(args=["models", "list"])
    assert "HF_HUB_OFFLINE is set" in listed.output and "gpt2-small" not in listed.output


def test_disallowed_names_and_over_max_gb_download_nothing(hub, runner, app):
    result = runner.invoke(args=["models", "fetch", "gpt2-small", "evil-org/not-allowed"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "evil-org/not-allowed" in lines[0]
    assert hub.log == []  # every name is checked before the first download

    size = len(hub.repos[REPO][MAIN]["model.safetensors"])
    app.config["MODEL_MAX_GB"] = size / 2 / 1e9
    result = runner.invoke(args=["models", "fetch", "gpt2"])
    assert result.exit_code != 0
    assert "over this site's limit" in result.output and "nothing was downloaded" in result.output
    assert hub.weight_gets() == []
