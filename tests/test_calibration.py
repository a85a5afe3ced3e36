"""Calibration: properties of the pure functions, and the profile pages through the web."""
import json
import math
import re
from datetime import timedelta

from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from graders import interval_score, weighted_interval_score
from puzzle_platform.grading.calibration import (IntervalRecord, coverage, relative_position, summarize,
                                         wilson_interval)
from puzzle_platform.timeutil import utcnow
from tests.helpers import add_cohort, after_reveal, csrf_token, question_toml, write_puzzle

SETTINGS = settings(max_examples=200, deadline=None)
reals = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def records(draw, covering: bool | None = None):
    a, b = sorted((draw(reals), draw(reals)))
    value = draw(st.floats(min_value=a, max_value=b)) if a < b else a
    if covering is None:
        truth = draw(reals)
    elif covering:
        truth = draw(st.floats(min_value=a, max_value=b)) if a < b else a
    else:
        truth = b + draw(st.floats(min_value=1e-3, max_value=1e6))
    return IntervalRecord(1, "p", "q", value, a, b, truth, 0.1)


# Pure functions ----------------------------------------------------------------------

@SETTINGS
@given(st.lists(records(), max_size=30))
def test_coverage_is_a_share(recs):
    c = coverage(recs)
    if not recs:
        assert c is None
    else:
        assert 0.0 <= c <= 1.0
        assert c == sum(r.lower <= r.truth <= r.upper for r in recs) / len(recs)


@SETTINGS
@given(st.lists(records(covering=True), min_size=1, max_size=30))
def test_all_covering_intervals_give_coverage_one(recs):
    assert coverage(recs) == 1.0
    summary = summarize(recs)
    assert summary.covered == summary.n == len(recs) and summary.band[1] == 1.0


@SETTINGS
@given(st.lists(records(covering=False), min_size=1, max_size=30))
def test_missing_intervals_give_coverage_zero(recs):
    assert coverage(recs) == 0.0 and summarize(recs).band[0] == 0.0


@SETTINGS
@given(n=st.integers(min_value=1, max_value=10**6), data=st.data(),
       z=st.floats(min_value=0.0, max_value=10.0))
def test_wilson_band_contains_the_estimate_and_stays_in_unit_interval(n, data, z):
    k = data.draw(st.integers(min_value=0, max_value=n))
    lo, hi = wilson_interval(k, n, z)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    # symmetric under swapping successes and failures
    lo2, hi2 = wilson_interval(n - k, n, z)
    assert math.isclose(lo, 1 - hi2, abs_tol=1e-12) and math.isclose(hi, 1 - lo2, abs_tol=1e-12)


@SETTINGS
@given(n=st.integers(min_value=1, max_value=500), data=st.data())
def test_wilson_band_narrows_with_more_data(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    lo, hi = wilson_interval(k, n)
    lo4, hi4 = wilson_interval(4 * k, 4 * n)
    assert hi4 - lo4 < hi - lo


def test_wilson_known_values_and_no_data():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(9, 10)  # hand computation with z = 1.6449
    assert math.isclose(lo, 0.65227, abs_tol=2e-4) and math.isclose(hi, 0.97738, abs_tol=2e-4)
    lo, hi = wilson_interval(50, 100)
    assert math.isclose(lo, 0.41885, abs_tol=2e-4) and math.isclose(hi, 0.58115, abs_tol=2e-4)


@SETTINGS
@given(x=reals, rec=records())
def test_relative_position_is_bounded_and_inside_means_within_one(x, rec):
    z = relative_position(x, rec.lower, rec.upper)
    assert -4.0 <= z <= 4.0
    if rec.lower <= x <= rec.upper and rec.lower < rec.upper:
        assert abs(z) <= 1.0 + 1e-9


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=20))
def test_summary_reuses_the_graders_scores(recs):
    s = summarize(recs)
    assert math.isclose(s.mean_interval_score,
                        sum(interval_score(r.truth, r.lower, r.upper, 0.1) for r in recs) / len(recs),
                        rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(s.mean_wis,
                        sum(weighted_interval_score(r.truth, r.value, r.lower, r.upper, 0.1) for r in recs) / len(recs),
                        rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(s.target, 0.9)


# Through the web -----------------------------------------------------------------------

QUESTIONS = "".join(
    question_toml(key, prompt, kind=kind, mode=mode, grader=grader, grader_params=params, truth=truth,
                  points=10, max_attempts=attempts)
    for key, prompt, kind, mode, grader, params, truth, attempts in (
        ("wide", "Interval-graded, revised.", "interval", "forecast", "interval", {"scale": 1.0}, 0.5, 3),
        ("tol", "abs_tol grader, answered with an interval.", "numeric", "forecast", "abs_tol",
         {"tolerance": 0.01}, 2.0, 1),
        ("point", "Point answer: not an interval.", "numeric", "forecast", "abs_tol", {"tolerance": 0.01}, 3.0, 1),
        ("zero", "Interval grader, point answer: not an interval either.", "numeric", "forecast", "interval",
         {"scale": 1.0}, 4.123456, 1),
        ("miss", "An interval that misses.", "interval", "forecast", "interval", {"scale": 1.0}, 4.123456, 1),
        ("chal", "A challenge answered with an interval: not a forecast.", "numeric", "challenge", "abs_tol",
         {"tolerance": 0.01}, 7.0, 1),
    ))


def _answer(client, key, **fields):
    r = client.post(f"/puzzles/test-puzzle/questions/{key}",
                    data={"csrf_token": csrf_token(client, "/login"), **fields})
    assert r.status_code == 303, r.get_data(as_text=True)


def _scholar_answers(app, client, auth, puzzles_dir, sync):
    """ann: her first 'wide' prediction misses, the revision covers (the last counts); 'tol'
    covers; 'point' and 'zero' are point answers (excluded); 'miss' misses; 'chal' is a
    challenge (excluded)."""
    write_puzzle(puzzles_dir, questions=QUESTIONS, figures="")
    sync()
    auth.create_user("ann")
    auth.create_user("mentor1", role="mentor")
    auth.login("ann")
    _answer(client, "wide", value="3", lower="2.5", upper="3.5")
    _answer(client, "wide", value="0.5", lower="0.4", upper="0.6")
    _answer(client, "tol", value="2.0", lower="1.9", upper="2.2")
    _answer(client, "point", value="3.0")
    _answer(client, "zero", value="4.2")
    _answer(client, "miss", value="4.25", lower="4.2", upper="4.3")
    _answer(client, "chal", value="7.0", lower="6.0", upper="8.0")
    auth.logout()


def _figures(page: str) -> dict:
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.S)
    return {name: json.loads(body) for name, body in blocks}  # strict JSON: no NaN/Infinity


def test_profile_counts_the_counted_forecast_intervals_of_revealed_puzzles(app, client, auth, puzzles_dir, sync):
    _scholar_answers(app, client, auth, puzzles_dir, sync)
    auth.login("ann")
    with after_reveal():
        page = client.get("/calibration").get_data(as_text=True)
    assert "2 of 3 intervals contain the truth" in page
    assert "67%" in page and "prediction that counts" in page and "revealed" in page
    assert "P1 wide" in page and "P1 tol" in page and "P1 miss" in page
    assert "P1 point" not in page and "P1 zero" not in page and "P1 chal" not in page
    # mean IS over: wide [0.4,0.6] vs 0.5 (the last prediction), tol [1.9,2.2] vs 2, miss [4.2,4.3] vs 4.123456
    expected = (interval_score(0.5, 0.4, 0.6, 0.1) + interval_score(2.0, 1.9, 2.2, 0.1)
                + interval_score(4.123456, 4.2, 4.3, 0.1)) / 3
    assert f"{expected:.4g}" in page
    lo, hi = wilson_interval(2, 3)
    assert f"{lo * 100:.0f}%–{hi * 100:.0f}%" in page
    figs = _figures(page)
    assert figs["calibration-coverage"]["data"][0]["y"] == [2 / 3]
    assert len(figs["calibration-strip"]["data"][2]["x"]) == 3
    assert 'data-figure="calibration-strip"' in page and "/vendor/plotly.min.js" in page


def test_nothing_before_the_reveal(app, client, auth, puzzles_dir, sync):
    _scholar_answers(app, client, auth, puzzles_dir, sync)
    for moment in (timedelta(0), timedelta(days=1, hours=1)):  # live, then closed
        clock = freeze_time(utcnow() + moment)
        clock.start()
        for who in ("ann", "mentor1"):
            auth.login(who)
            page = client.get("/calibration/ann").get_data(as_text=True) if who == "mentor1" \
                else client.get("/calibration").get_data(as_text=True)
            assert "No intervals on revealed puzzles yet" in page
            assert "4.12346" not in page and "P1 wide" not in page
            auth.logout()
        clock.stop()


def test_role_checks(app, client, auth, puzzles_dir, sync):
    _scholar_answers(app, client, auth, puzzles_dir, sync)
    add_cohort(app, "c1", "Cohort One")
    for path in ("/calibration", "/calibration/ann", "/cohorts/c1/calibration"):
        assert client.get(path).status_code == 401, path
    auth.login("ann")
    assert client.get("/calibration").status_code == 200
    assert client.get("/calibration/ann").status_code == 403
    assert client.get("/calibration/mentor1").status_code == 403
    assert client.get("/cohorts/c1/calibration").status_code == 403
    auth.logout()
    auth.login("mentor1")
    assert client.get("/calibration/nobody").status_code == 404
    assert client.get("/cohorts/nope/calibration").status_code == 404


def test_mentor_sees_a_scholar_and_a_cohort(app, client, auth, puzzles_dir, sync):
    _scholar_answers(app, client, auth, puzzles_dir, sync)
    auth.create_user("ben")  # a member with no intervals
    add_cohort(app, "c1", "Cohort One", ["ann", "ben"])
    auth.login("mentor1")
    with after_reveal():
        page = client.get("/calibration/ann").get_data(as_text=True)
        assert "Calibration: Ann" in page and "2 of 3 intervals" in page and "4.12346" in page
        page = client.get("/cohorts/c1/calibration").get_data(as_text=True)
    rows = re.findall(r"<tr><td><a href=\"/calibration/(\w+)\">", page)
    assert rows == ["ann", "ben"]
    assert "2 / 3" in page and "0 / 0" in page and "67%" in page
    figs = _figures(page)
    assert figs["cohort-coverage"]["data"][0]["x"] == ["Ann"]  # ben has nothing to plot
    assert "/vendor/plotly.min.js" in page
