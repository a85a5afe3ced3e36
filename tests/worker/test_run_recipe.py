"""run_recipe end to end on tiny local models, checked against the checkpoint's own weights."""
from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import pytest
from safetensors.torch import load_file

from puzzle_platform.recipes import RecipeError
from puzzle_platform.worker.figures import Convention, histogram_figure
from puzzle_platform.worker.embedding_stats import histogram_edges
from puzzle_platform.worker.recipes.embedding_cosine import RECIPE_VERSION
from puzzle_platform.worker.run_recipe import run_recipe


def _wte(folder) -> np.ndarray:
    return load_file(str(folder / "model.safetensors"))["transformer.wte.weight"].double().numpy()


@pytest.mark.parametrize("center", [False, True])
def test_statistics_and_histogram_match_brute_force(tiny_model_dirs, ref, center):
    folder = tiny_model_dirs["gpt_neo"]
    stages: list[tuple[int, str]] = []
    out = run_recipe("embedding_cosine", {"model": str(folder), "weights": "raw",
                                          "center": center, "device": "cpu"},
                     progress=lambda pct, stage: stages.append((pct, stage)))
    W = _wte(folder)
    C = ref.cosines(W)
    Cc = ref.cosines(W - W.mean(0))
    n = W.shape[0]
    off = ~np.eye(n, dtype=bool)
    s = out["statistics"]
    assert s["mean_cos"] == pytest.approx(C[off].mean(), abs=1e-6)
    assert s["std_cos"] == pytest.approx(C[off].std(), abs=1e-6)
    assert s["centered_mean_cos"] == pytest.approx(Cc[off].mean(), abs=1e-6)
    assert s["centered_std_cos_with_diag"] == pytest.approx(Cc.std(), abs=1e-6)
    assert s["n"] == n and s["d_model"] == 32 and s["entries_counted"] == n * (n - 1)
    ref.assert_counts_match(out["histogram"]["counts"], (Cc if center else C)[off], 200)
    assert [p for p, _ in stages] == sorted(p for p, _ in stages)
    assert [st for _, st in stages][:3] == ["loading model", "statistics", "histogram"]
    assert ("figure" in {st for _, st in stages}) and stages[-1][0] == 100
    json.dumps(out)  # the whole artifact is JSON
    prov = out["provenance"]
    assert prov["code_version"] == RECIPE_VERSION and prov["weights"] == "raw"
    assert prov["revision"].startswith("sha256:") and prov["center"] is center
    assert ("centred" if center else "not centred") in prov["caption"]


def test_sampled_histogram_tokens_and_positions(tiny_model_dirs):
    folder = str(tiny_model_dirs["gpt2"])
    out = run_recipe("embedding_cosine", {"model": folder, "matrix": "W_pos", "device": "cpu",
                                          "histogram": "sample", "histogram_sample": 20,
                                          "diagonal": True, "bins": 50})
    s = out["statistics"]
    assert s["n"] == 64 and s["sample_tokens"] == 20 and s["entries_counted"] == 400
    assert s["sample_mean_cos_stderr"] > 0 and len(out["histogram"]["counts"]) == 50
    assert "sampled: m = 20 of 64 rows" in out["provenance"]["caption"]
    sub = run_recipe("embedding_cosine", {"model": folder, "tokens": 50, "seed": 3,
                                          "device": "cpu"})["statistics"]
    again = run_recipe("embedding_cosine", {"model": folder, "tokens": 50, "seed": 3,
                                            "device": "cpu"})["statistics"]
    assert sub["n"] == 50 and sub == again
    with pytest.raises(RecipeError, match="only 300 rows"):
        run_recipe("embedding_cosine", {"model": folder, "tokens": 301, "device": "cpu"})


def test_bad_params_are_refused_before_loading():
    with pytest.raises(RecipeError, match="'bins'"):
        run_recipe("embedding_cosine", {"model": "whatever", "bins": 3})
    with pytest.raises(RecipeError, match="unknown recipe"):
        run_recipe("nope", {})


def test_figure_is_small_bars_with_a_caption():
    counts = [123_456_789 + i for i in range(200)]
    conv = Convention("gpt-neo-small", "EleutherAI/gpt-neo-125M", "W_E", "processed",
                      center=False, diagonal=False, n=50257)
    fig = histogram_figure(histogram_edges(200), counts, conv)
    text = json.dumps(fig)
    assert len(text.encode()) < 50_000
    assert pio.from_json(text).data[0].type == "bar"
    assert list(fig["data"][0]["y"]) == counts and len(fig["data"][0]["x"]) == 200
    caption = fig["layout"]["annotations"][0]["text"]
    for part in ("gpt-neo-small (EleutherAI/gpt-neo-125M)", "W_E", "processed weights",
                 "not centred", "diagonal excluded", "exact over N = 50,257 rows",
                 "N(N-1) = 2,525,715,792"):
        assert part in caption
    sampled = Convention("m", "m", "W_U", "raw", True, True, 1000, sample_tokens=10).caption()
    assert "centred" in sampled and "diagonal included" in sampled and "m² = 100" in sampled


def test_a_statistic_that_is_not_finite_fails_the_run(monkeypatch):
    import math

    from puzzle_platform.recipes import RecipeError
    from puzzle_platform.worker import run_recipe as module

    for bad in (math.nan, math.inf, -math.inf, True, "0.5"):
        monkeypatch.setattr(module, "resolve_runner", lambda path, bad=bad: (
            lambda params, progress: {"statistics": {"n": 3, "mean_cos": bad}, "figure": {}}))
        with pytest.raises(RecipeError, match="statistic 'mean_cos' .* not a finite number"):
            module.run_recipe("embedding_cosine", {"model": "gpt2-small"})
