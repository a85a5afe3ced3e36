"""`stats` commands: compute a recipe's statistics from the shell, through the same code path
as a worker job (run_recipe), to check a puzzle's numbers before publishing it.

Plain click (the platform registers the group in manage.py). torch is imported only when a
command runs, never at import, so registering the group keeps the web process torch-free.
"""
from __future__ import annotations

import json

import click

from ..recipes import RecipeError
from ..worker.errors import ModelUnavailable


@click.group("stats")
def stats() -> None:
    """Compute recipe statistics locally (same code path as worker jobs)."""


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _table(result: dict) -> str:
    stats, hist, prov = result["statistics"], result["histogram"], result["provenance"]
    width = max(map(len, stats))
    lines = [prov["caption"], f"revision {prov['revision']} · device {prov['device']}", ""]
    for key, value in stats.items():
        lines.append(f"{key:<{width}}  {value:.6f}" if isinstance(value, float)
                     else f"{key:<{width}}  {value}")
    counts, edges = hist["counts"], hist["edges"]
    peak = max(range(len(counts)), key=counts.__getitem__)
    filled = [i for i, c in enumerate(counts) if c]
    lines += ["", f"histogram: {len(counts)} bins over [{edges[0]:g}, {edges[-1]:g}], "
                  f"{sum(counts):,} entries; non-empty [{edges[filled[0]]:.3f}, "
                  f"{edges[filled[-1] + 1]:.3f}); peak bin [{edges[peak]:.3f}, "
                  f"{edges[peak + 1]:.3f}) with {counts[peak]:,}"]
    return "\n".join(lines)


@stats.command("embedding-cosine")
@click.option("--model", required=True, help="TransformerLens name/alias or local HF directory.")
@click.option("--matrix", type=click.Choice(["W_E", "W_U", "W_pos"]), default="W_E",
              show_default=True)
@click.option("--center", is_flag=True, help="Histogram of rows minus their mean.")
@click.option("--diagonal", is_flag=True, help="Histogram includes the n self-similarities.")
@click.option("--weights", type=click.Choice(["raw", "processed"]), default="processed",
              show_default=True)
@click.option("--tokens", type=int, default=None, help="Statistics over N sampled rows (default all).")
@click.option("--sample", type=int, default=None,
              help="Histogram of a seeded N-token subsample instead of every pair.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bins", type=int, default=200, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--revision", default=None, help="Hugging Face revision of a hub model.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--progress", is_flag=True, help="Report stages on stderr.")
def embedding_cosine(model: str, matrix: str, center: bool, diagonal: bool, weights: str,
                     tokens: int | None, sample: int | None, seed: int, bins: int, device: str,
                     revision: str | None, as_json: bool, progress: bool) -> None:
    """Cosine-similarity statistics and histogram of a model's embedding rows."""
    params = {"model": model, "matrix": matrix, "center": center, "diagonal": diagonal,
              "weights": weights, "seed": seed, "bins": bins, "device": device,
              "revision": revision, "tokens": "all" if tokens is None else tokens,
              "histogram": "exact" if sample is None else "sample"}
    if sample is not None:
        params["histogram_sample"] = sample
    report = (lambda pct, stage: click.echo(f"[{pct:3d}%] {stage}", err=True)) if progress else None
    try:
        from ..worker.run_recipe import run_recipe  # here, not at import: keeps torch out of the web
        result = run_recipe("embedding_cosine", params, report)
    except (RecipeError, ModelUnavailable) as exc:
        click.echo(f"error: {_one_line(exc)}", err=True)
        raise SystemExit(1) from None
    payload = {k: result[k] for k in ("statistics", "histogram", "provenance")}
    click.echo(json.dumps(payload) if as_json else _table(payload))


if __name__ == "__main__":
    stats()
