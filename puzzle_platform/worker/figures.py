"""Plotly figure JSON for a cosine histogram: bars from bin counts, never raw points.

A figure of 200 bins is a few KB whatever n is (the original puzzle shipped 25M raw values to
plotly.express). The caption states every convention a reader needs to compare figures.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import plotly.graph_objects as go


@dataclass(frozen=True)
class Convention:
    """What a histogram shows; rendered as the figure's caption."""

    model: str
    resolved_model: str
    matrix: str
    weights: str        # raw | processed
    center: bool
    diagonal: bool
    n: int              # rows in the token set
    sample_tokens: int | None = None  # histogram over a subsample of this many rows

    def caption(self) -> str:
        model = self.model if self.model == self.resolved_model else f"{self.model} ({self.resolved_model})"
        m = self.sample_tokens if self.sample_tokens is not None else self.n
        entries = m * m if self.diagonal else m * (m - 1)
        k = "m" if self.sample_tokens is not None else "N"
        formula = f"{k}²" if self.diagonal else f"{k}({k}-1)"
        extent = (f"sampled: m = {m:,} of {self.n:,} rows" if self.sample_tokens is not None
                  else f"exact over N = {m:,} rows")
        return " · ".join([
            model, self.matrix, f"{self.weights} weights",
            "centred (mean row subtracted)" if self.center else "not centred",
            "diagonal included" if self.diagonal else "diagonal excluded",
            f"{extent}, {formula} = {entries:,} ordered pairs",
        ])


def histogram_figure(edges: list[float], counts: list[int], convention: Convention,
                     title: str | None = None) -> dict:
    """A plotly figure as a JSON-ready dict (plotly.io.to_json of it round-trips)."""
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    title = title or (f"Cosine similarity of {convention.matrix} rows"
                      f"{' (centred)' if convention.center else ''}: {convention.model}")
    fig = go.Figure(go.Bar(x=centres, y=counts, width=widths, marker_line_width=0,
                           hovertemplate="cos %{x:.3f}<br>%{y:,} pairs<extra></extra>"))
    fig.update_layout(
        title=title, template="plotly_white", bargap=0, showlegend=False,
        xaxis={"title": "cosine similarity", "range": [edges[0], edges[-1]]},
        yaxis={"title": "ordered pairs"},
        margin={"b": 110},
        annotations=[{"text": convention.caption(), "xref": "paper", "yref": "paper",
                      "x": 0, "y": -0.28, "xanchor": "left", "yanchor": "top",
                      "showarrow": False, "font": {"size": 11}}],
    )
    return json.loads(fig.to_json())


def caption_annotation(caption: str, y: float = -0.28) -> dict:
    """The caption under a figure's plot: every recipe states its conventions there."""
    return {"text": caption, "xref": "paper", "yref": "paper", "x": 0, "y": y,
            "xanchor": "left", "yanchor": "top", "showarrow": False, "font": {"size": 11}}


def finish(fig: go.Figure, title: str, caption: str, caption_y: float, bottom: int, **axes) -> dict:
    """A recipe's figure as JSON, in the site's one style: white template, no legend, the
    caption with its conventions under the plot (`bottom` px of margin make room for it)."""
    fig.update_layout(title=title, template="plotly_white", showlegend=False, margin={"b": bottom},
                      annotations=[caption_annotation(caption, caption_y)], **axes)
    return json.loads(fig.to_json())
