"""Property tests for the weighted interval score and the interval grader.

Comparisons between two intervals use integer-valued floats (|x| <= 1e6),
where every subtraction is exact, so "same width" and "same |y - m|" hold
exactly and the properties are tested without rounding noise.
"""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from graders import get_grader, interval_score, weighted_interval_score

SETTINGS = settings(max_examples=200, deadline=None)
G = get_grader("interval")

finite = st.floats(allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=-1e6, max_value=1e6)
alphas = st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True)
sane_alphas = st.floats(min_value=0.01, max_value=0.99)
ints = st.integers(min_value=-(10**6), max_value=10**6).map(float)
sizes = st.integers(min_value=0, max_value=10**6).map(float)
scales = st.floats(min_value=1e-3, max_value=1e7)


def score(y: float, m: float, lower: float, upper: float, alpha: float, scale: float) -> float:
    params = {"scale": scale, "alpha": alpha}
    return G.grade({"value": m, "lower": lower, "upper": upper}, y, params).score


# (d) zero-width interval: WIS == |y - m| -----------------------------------------


@SETTINGS
@given(y=finite, m=finite, alpha=alphas)
def test_zero_width_wis_is_absolute_error(y: float, m: float, alpha: float) -> None:
    assert math.isclose(weighted_interval_score(y, m, m, m, alpha), abs(y - m), rel_tol=1e-12, abs_tol=1e-300)


@SETTINGS
@given(y=finite, m=finite, alpha=alphas, scale=st.floats(min_value=1e-300, max_value=1e300))
def test_point_answer_matches_zero_width_interval(y: float, m: float, alpha: float, scale: float) -> None:
    params = {"scale": scale, "alpha": alpha}
    point = G.grade({"value": m, "lower": None, "upper": None}, y, params).score
    assert point == G.grade({"value": m, "lower": m, "upper": m}, y, params).score


# Agreement with the textbook formula, and basic sanity ---------------------------


@SETTINGS
@given(y=moderate, xs=st.tuples(moderate, moderate, moderate), alpha=sane_alphas)
def test_wis_matches_textbook_formula(y: float, xs: tuple[float, float, float], alpha: float) -> None:
    lower, m, upper = sorted(xs)
    textbook = (abs(y - m) / 2 + alpha / 2 * interval_score(y, lower, upper, alpha)) / 1.5
    assert math.isclose(weighted_interval_score(y, m, lower, upper, alpha), textbook, rel_tol=1e-9, abs_tol=1e-6)


@SETTINGS
@given(y=finite, xs=st.tuples(finite, finite, finite), alpha=alphas)
def test_wis_non_negative_never_nan(y: float, xs: tuple[float, float, float], alpha: float) -> None:
    lower, m, upper = sorted(xs)
    wis = weighted_interval_score(y, m, lower, upper, alpha)
    assert wis >= 0.0  # False for NaN
    assert interval_score(y, lower, upper, alpha) >= 0.0


# (c) same width and same |y - m|: covering never scores worse than missing -------


@SETTINGS
@given(m=ints, d=sizes, w=sizes, above=st.booleans(), alpha=alphas, scale=scales, data=st.data())
def test_covering_never_worse_than_missing(
    m: float, d: float, w: float, above: bool, alpha: float, scale: float, data: st.DataObject
) -> None:
    assume(1 <= d <= w)  # need a covering interval of width w that also contains m
    s = 1.0 if above else -1.0
    y = m + s * d
    # covering: contains both m and y; slack k positions it
    k = float(data.draw(st.integers(0, int(w - d))))
    c_lo = min(m, y) - k
    cover = (c_lo, c_lo + w)
    # missing: contains m, stops short of y by at least 1 on y's side
    j = float(data.draw(st.integers(0, int(min(d - 1, w)))))
    miss = (m + j - w, m + j) if above else (m - j, m - j + w)
    assert cover[0] <= y <= cover[1] and cover[0] <= m <= cover[1]
    assert miss[0] <= m <= miss[1] and not miss[0] <= y <= miss[1]
    assert cover[1] - cover[0] == miss[1] - miss[0] == w
    assert weighted_interval_score(y, m, *cover, alpha) <= weighted_interval_score(y, m, *miss, alpha)
    assert score(y, m, *cover, alpha, scale) >= score(y, m, *miss, alpha, scale)


@SETTINGS
@given(m=moderate, h=st.floats(0.0, 1e6), offsets=st.tuples(st.floats(0.0, 1e7), st.floats(0.0, 1e7)),
       above=st.booleans(), alpha=alphas, scale=scales)
def test_centred_interval_monotone_in_distance(
    m: float, h: float, offsets: tuple[float, float], above: bool, alpha: float, scale: float
) -> None:
    """m at the midpoint: moving y away from m (so from covered to missed) never helps."""
    lower, upper = m - h, m + h
    near, far = sorted(offsets)
    s = 1.0 if above else -1.0
    y_near, y_far = m + s * near, m + s * far
    assert weighted_interval_score(y_near, m, lower, upper, alpha) <= weighted_interval_score(y_far, m, lower, upper, alpha)
    assert score(y_near, m, lower, upper, alpha, scale) >= score(y_far, m, lower, upper, alpha, scale)


# (e) widening a missing interval toward the truth never increases WIS -------------
#
# If y < l, moving l down by delta (not past y) adds delta to the width and
# removes delta from the miss: net change in WIS is (alpha/2 - 1) * delta / 1.5 < 0.
# (Overshooting past y can increase WIS, so the property stops at y.)


@SETTINGS
@given(y=ints, gap=sizes, left=sizes, right=sizes, step=st.floats(0.0, 1.0), above=st.booleans(),
       alpha=alphas, scale=scales)
def test_widening_toward_truth_never_increases_wis(
    y: float, gap: float, left: float, right: float, step: float, above: bool, alpha: float, scale: float
) -> None:
    assume(gap >= 1)
    s = 1.0 if above else -1.0  # mirror: interval lies above y (s=1) or below it
    near_end = y + s * gap  # bound nearest the truth
    m = near_end + s * left
    far_end = m + s * right
    new_near = near_end - s * float(math.floor(gap * step))  # moved toward y, never past it
    lo, hi = sorted((near_end, far_end))
    lo2, hi2 = sorted((new_near, far_end))
    assert hi2 - lo2 >= hi - lo
    assert weighted_interval_score(y, m, lo2, hi2, alpha) <= weighted_interval_score(y, m, lo, hi, alpha)
    assert interval_score(y, lo2, hi2, alpha) <= interval_score(y, lo, hi, alpha)
    assert score(y, m, lo2, hi2, alpha, scale) >= score(y, m, lo, hi, alpha, scale)
