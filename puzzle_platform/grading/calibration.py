"""Calibration profiles: how often a scholar's 90% intervals cover the truth, and their scores.

Pure functions first (Wilson band, coverage, summary, figures), then the queries. Only
forecast questions count, of puzzles scored at their reveal: before the reveal a
per-question "covered or not" next to the interval would narrow down the truth, and a
challenge's attempts follow feedback. Each question counts the prediction the leaderboard
counts (the last before the deadline), and only when it is a real interval (lower < upper):
a point answer says nothing about calibration. The scores reuse the graders' own
interval_score / weighted_interval_score.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from graders import get_grader, interval_score, weighted_interval_score

from ..extensions import db
from .reveal import score_due
from .truth import resolve_truth
from ..models import Puzzle, Question, Score, Submission, User
from ..timeutil import utcnow

Z90 = 1.6448536269514722   # Phi^-1(0.95): a two-sided 90% band
DEFAULT_ALPHA = 0.1        # the answer form asks for a 90% interval
STRIP_CLIP = 4.0           # the strip plot clips truths further than 4 half-widths away


@dataclass(frozen=True)
class IntervalRecord:
    """One scholar's counted interval on one forecast question, with the truth."""

    puzzle_number: int
    puzzle_slug: str
    question_key: str
    value: float
    lower: float
    upper: float
    truth: float
    alpha: float
    submitted_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"P{self.puzzle_number} {self.question_key}"

    @property
    def covered(self) -> bool:
        return self.lower <= self.truth <= self.upper

    @property
    def interval_score(self) -> float:
        return interval_score(self.truth, self.lower, self.upper, self.alpha)

    @property
    def wis(self) -> float:
        return weighted_interval_score(self.truth, self.value, self.lower, self.upper, self.alpha)


@dataclass(frozen=True)
class Summary:
    n: int
    covered: int
    coverage: float | None
    band: tuple[float, float]
    target: float
    mean_interval_score: float | None
    mean_wis: float | None

    @property
    def verdict(self) -> str:
        """A plain reading of coverage against the target, honest about small samples."""
        if self.n == 0:
            return "No intervals on revealed puzzles yet."
        lo, hi = self.band
        pct = f"{self.target:.0%}"
        if hi < self.target:
            return f"Your intervals are too narrow: they cover the truth clearly less often than {pct} (overconfident)."
        if lo > self.target:
            return f"Your intervals are wider than needed: they cover the truth clearly more often than {pct} (underconfident)."
        return f"Consistent with {pct} coverage (the band is wide while there are few intervals)."


def wilson_interval(successes: int, n: int, z: float = Z90) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Clamp, and keep the estimate inside despite rounding (exact at p = 0 and p = 1).
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def coverage(records: list[IntervalRecord]) -> float | None:
    """Share of intervals that contain the truth; None without intervals."""
    if not records:
        return None
    return sum(r.covered for r in records) / len(records)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def summarize(records: list[IntervalRecord]) -> Summary:
    n = len(records)
    covered = sum(r.covered for r in records)
    target = math.fsum(1.0 - r.alpha for r in records) / n if n else 1.0 - DEFAULT_ALPHA
    return Summary(n=n, covered=covered, coverage=coverage(records), band=wilson_interval(covered, n),
                   target=target, mean_interval_score=_mean([r.interval_score for r in records]),
                   mean_wis=_mean([r.wis for r in records]))


def relative_position(x: float, lower: float, upper: float, clip: float = STRIP_CLIP) -> float:
    """x on a scale where the interval is [-1, 1] (clipped), so questions of any unit share an axis."""
    centre, half = (lower + upper) / 2, (upper - lower) / 2
    if half > 0:
        z = (x - centre) / half
    else:  # a zero-width interval: on it or off it
        z = 0.0 if x == centre else math.copysign(clip, x - centre)
    return max(-clip, min(clip, z))


# Figures: plain plotly JSON, drawn by static/app.js -----------------------------------

_MARGIN = {"t": 40, "b": 50, "l": 60, "r": 10}


def _target_line(target: float) -> dict:
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": target, "y1": target,
            "line": {"color": "crimson", "dash": "dash", "width": 2}}


def coverage_figure(names: list[str], summaries: list[Summary], target: float) -> dict:
    """Coverage per person (or just one) with its Wilson band, against the target line."""
    shown = [(name, s) for name, s in zip(names, summaries) if s.n]
    return {
        "data": [{
            "type": "scatter", "mode": "markers", "name": "coverage",
            "x": [name for name, _ in shown], "y": [s.coverage for _, s in shown],
            "text": [f"{s.covered} of {s.n} covered" for _, s in shown],
            "marker": {"size": 11},
            "error_y": {"type": "data", "symmetric": False,
                        "array": [s.band[1] - s.coverage for _, s in shown],
                        "arrayminus": [s.coverage - s.band[0] for _, s in shown]},
        }],
        "layout": {"title": {"text": f"Coverage with its 90% Wilson band; dashed: the {target:.0%} target"},
                   "yaxis": {"range": [0, 1.02], "tickformat": ".0%", "title": {"text": "coverage"}},
                   "shapes": [_target_line(target)], "height": 320, "margin": _MARGIN},
    }


def strip_figure(records: list[IntervalRecord]) -> dict:
    """One row per question: the interval drawn as [-1, 1], the estimate, and where the truth fell."""
    seg_x: list[float | None] = []
    seg_y: list[str | None] = []
    for r in records:
        seg_x += [-1.0, 1.0, None]
        seg_y += [r.label, r.label, None]
    hover = [f"{r.label}: estimate {r.value:.6g}, interval [{r.lower:.6g}, {r.upper:.6g}], truth {r.truth:.6g}"
             for r in records]
    return {
        "data": [
            {"type": "scatter", "mode": "lines", "name": "your interval", "x": seg_x, "y": seg_y,
             "line": {"width": 6, "color": "#9db4ea"}, "hoverinfo": "skip"},
            {"type": "scatter", "mode": "markers", "name": "your estimate", "text": hover,
             "x": [relative_position(r.value, r.lower, r.upper) for r in records],
             "y": [r.label for r in records], "marker": {"symbol": "line-ns-open", "size": 14, "color": "#2f5bd3"}},
            {"type": "scatter", "mode": "markers", "name": "truth", "text": hover,
             "x": [relative_position(r.truth, r.lower, r.upper) for r in records],
             "y": [r.label for r in records],
             "marker": {"symbol": "x", "size": 11,
                        "color": ["#17702f" if r.covered else "crimson" for r in records]}},
        ],
        "layout": {"title": {"text": "Where the truth fell, relative to each interval"},
                   "xaxis": {"range": [-STRIP_CLIP - 0.5, STRIP_CLIP + 0.5], "zeroline": False,
                             "title": {"text": f"interval scaled to [-1, 1]; truths beyond ±{STRIP_CLIP:g} drawn at the edge"}},
                   "yaxis": {"type": "category", "autorange": "reversed"},
                   "height": 140 + 30 * len(records), "margin": {**_MARGIN, "l": 140}},
    }


# Queries -----------------------------------------------------------------------------

def _alpha(question: Question) -> float:
    if question.grader == "interval":
        return float(get_grader("interval").validate_params(question.grader_params)["alpha"])
    return DEFAULT_ALPHA


def _real(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def revealed_questions(now: datetime | None = None) -> list[tuple[Question, float, float]]:
    """(question, truth, alpha) for forecast questions of scored, revealed puzzles whose
    truth exists."""
    now = now or utcnow()
    score_due(now)
    questions = db.session.scalars(
        sa.select(Question).join(Puzzle, Puzzle.id == Question.puzzle_id)
        .where(Question.mode == "forecast", Question.kind.in_(("numeric", "interval")),
               Puzzle.reveal_at <= now, Puzzle.scored_at.is_not(None))
        .order_by(Puzzle.number, Question.position, Question.id))
    out = []
    for q in questions:
        if not q.puzzle.is_revealed(now):
            continue
        truth = resolve_truth(q)
        value = _real(truth.value) if truth else None
        if value is not None:
            out.append((q, value, _alpha(q)))
    return out


def _record(question: Question, truth: float, alpha: float, sub: Submission) -> IntervalRecord | None:
    """The interval of a prediction; None for a point answer or a degenerate interval."""
    payload = sub.payload or {}
    value = _real(payload.get("value"))
    lower, upper = _real(payload.get("lower")), _real(payload.get("upper"))
    if value is None or lower is None or upper is None or not lower < upper:
        return None
    return IntervalRecord(question.puzzle.number, question.puzzle.slug, question.key, value,
                          lower, upper, truth, alpha, sub.created_at)


def records_for(user_ids: list[int], now: datetime | None = None) -> dict[int, list[IntervalRecord]]:
    """Each user's records, one per qualifying question, from the prediction that counts."""
    out: dict[int, list[IntervalRecord]] = {uid: [] for uid in user_ids}
    questions = revealed_questions(now)
    if not user_ids or not questions:
        return out
    first: dict[tuple[int, int], Submission] = {}
    for sub in db.session.scalars(
            sa.select(Submission).join(Score, Score.submission_id == Submission.id).where(
                Score.user_id.in_(user_ids), Score.question_id.in_([q.id for q, _, _ in questions]))):
        first[(sub.user_id, sub.question_id)] = sub
    for uid in user_ids:
        for q, truth, alpha in questions:
            sub = first.get((uid, q.id))
            record = _record(q, truth, alpha, sub) if sub else None
            if record is not None:
                out[uid].append(record)
    return out


def profile(user: User) -> tuple[list[IntervalRecord], Summary]:
    records = records_for([user.id])[user.id]
    return records, summarize(records)


def cohort_rows(users: list[User]) -> list[tuple[User, Summary]]:
    """One summary per member (same rules as a personal profile)."""
    by_user = records_for([u.id for u in users])
    return [(u, summarize(by_user[u.id])) for u in users]
