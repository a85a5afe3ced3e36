"""Fast one-line failures offline, and the `stats` CLI on the real MiniLM (30522 x 384).

MiniLM reference: its word-embedding matrix read straight from model.safetensors (not through
TransformerLens), a float64 brute force over the upper triangle of the full cosine matrix,
raw and centred. The CLI runs with --weights raw to compare like with like.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.torch import load_file

from puzzle_platform.cli.stats import stats
from puzzle_platform.worker.errors import ModelUnavailable
from puzzle_platform.worker.models_runtime import load_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """An empty HF cache and a hub endpoint that refuses connections (a closed local port)."""
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


@pytest.fixture(autouse=True)
def bogus_names_allowed(monkeypatch):
    """The bogus hub names below are on the allow-list, so that the hub's absence is what fails."""
    monkeypatch.setenv("MODEL_ALLOWLIST", "bogus-org/bogus-model,bogus-org/bogus-model-xyz")


def _fails_fast(name: str) -> str:
    start = time.monotonic()
    with pytest.raises(ModelUnavailable) as info:
        load_model(name, device="cpu")
    assert time.monotonic() - start < 5
    text = str(info.value)
    assert "\n" not in text
    return text


def test_offline_flag_fails_fast_with_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    text = _fails_fast("gpt-neo-small")
    assert text == ("model 'gpt-neo-small' (EleutherAI/gpt-neo-125M) is not in the Hugging Face "
                    "cache and HF_HUB_OFFLINE is set: pre-download it (manage.py models fetch "
                    "gpt-neo-small, or hf download EleutherAI/gpt-neo-125M) on a machine with internet, set HF_HOME to a cache "
                    "that has it, or use a local folder (models:<folder>)")


def test_unreachable_hub_fails_fast(no_hub):
    text = _fails_fast("bogus-org/bogus-model")
    assert "'bogus-org/bogus-model' is not in the Hugging Face cache and the hub cannot be reached" in text


def test_without_network_as_this_machine_is(monkeypatch):
    """Whatever this machine's network is: a bogus name fails fast with one line."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert "bogus-org/bogus-model-xyz" in _fails_fast("bogus-org/bogus-model-xyz")


def test_cached_hub_model_loads_offline_by_alias(tiny_model_dirs, tmp_path, monkeypatch):
    """A model in the HF cache loads with no network, the alias resolved, the commit recorded."""
    from huggingface_hub import constants
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--EleutherAI--gpt-neo-125M"
    shutil.copytree(tiny_model_dirs["gpt_neo"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_model("gpt-neo-small", weights="raw", device="cpu")
    assert (loaded.resolved_name, loaded.revision) == ("EleutherAI/gpt-neo-125M", commit)
    assert tuple(loaded.matrix("W_E").shape) == (300, 32)


def test_missing_local_path(models_dir):
    text = _fails_fast(str(models_dir / "nonexistent" / "dir"))
    assert text == ("model '%s': there is no folder models:nonexistent/dir in the site's models "
                    "folder (MODELS_DIR): check the name" % (models_dir / "nonexistent" / "dir"))


def test_cli_errors_are_one_line_exit_1(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(stats, ["embedding-cosine", "--model", "bogus-org/bogus"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: model 'bogus-org/bogus'")
    result = CliRunner().invoke(stats, ["embedding-cosine", "--model", "m", "--bins", "3"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: embedding_cosine: parameter 'bins'")


@pytest.fixture(scope="module")
def minilm_reference(minilm_dir) -> dict[str, float]:
    W = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    W = W.double().numpy()
    out = {}
    for prefix, X in (("", W), ("centered_", W - W.mean(axis=0))):
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        n, total = U.shape[0], 0.0
        for a in range(0, n, 4096):  # upper triangle i < j only: half the brute force
            block = U[a:a + 4096] @ U[a:].T
            total += np.triu(block[:, :block.shape[0]], 1).sum() + block[:, block.shape[0]:].sum()
        out[f"{prefix}mean_cos"] = 2 * total / (n * (n - 1))
    return out


@pytest.fixture
def minilm_allowed(minilm_dir, monkeypatch):
    """MiniLM is installed as a package: its folder becomes MODELS_DIR for these commands."""
    monkeypatch.setenv("MODELS_DIR", str(minilm_dir.parent))


def test_cli_on_minilm_matches_float64_brute_force(minilm_dir, minilm_reference, minilm_allowed):
    args = ["embedding-cosine", "--model", str(minilm_dir), "--weights", "raw", "--device", "cpu",
            "--sample", "2000", "--seed", "1", "--json"]
    result = CliRunner().invoke(stats, args)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    s = out["statistics"]
    assert s["n"] == 30522 and s["d_model"] == 384 and s["zero_norm_rows"] == 0
    for key, value in minilm_reference.items():
        assert s[key] == pytest.approx(value, abs=1e-6), key
    assert s["entries_counted"] == 2000 * 1999 == sum(out["histogram"]["counts"])
    assert abs(s["sample_mean_cos"] - s["mean_cos"]) < 5 * s["sample_mean_cos_stderr"]
    # The same command as a subprocess: same numbers (deterministic, seeded).
    done = subprocess.run([sys.executable, "-m", "puzzle_platform.cli.stats", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statistics"] == s


def test_cli_exact_histogram_on_minilm(minilm_dir, minilm_allowed):
    """Every one of the 931,561,962 ordered pairs counted (about 10 s on 2 CPU cores)."""
    result = CliRunner().invoke(stats, ["embedding-cosine", "--model", str(minilm_dir),
                                        "--device", "cpu", "--center"])
    assert result.exit_code == 0, result.stderr
    assert "exact over N = 30,522 rows, N(N-1) = 931,561,962 ordered pairs" in result.stdout
    assert "centred (mean row subtracted)" in result.stdout
    assert "histogram: 200 bins over [-1, 1], 931,561,962 entries" in result.stdout
