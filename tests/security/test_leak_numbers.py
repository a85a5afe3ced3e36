"""No number derived from the truth reaches a scholar before the reveal, in either mode.

The scholar sam predicts the live puzzle's `mean` (a forecast: an estimate and a 90%
interval) and answers `lit` (a challenge) wrongly, through the API. Then every surface he or
an anonymous visitor can reach (every GET route expanded, links followed: pages, JSON, the
API with his token, CSV, the feed, calibration, progress) is read, every number is pulled
out of every body, and the test fails if one of them could be a secret rounded to two or more
significant digits: the truths, his forecast's score and points, and |y - t| of both answers.
(A challenge may say right or wrong, and its all-or-nothing points; nothing else.)

Positive control: after the reveal the same crawl finds the truth, the score and the points.
"""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from puzzle_platform.timeutil import utcnow
from tests.security.conftest import LIVE, LIVE_LITERAL, LIVE_STATS, crawl_as, frozen

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
FORECAST = {"value": 0.7, "lower": 0.55, "upper": 0.95}
CHALLENGE = 0.5


def wis(y: float, m: float, lo: float, hi: float, alpha: float = 0.1) -> float:
    miss = (lo - y) if y < lo else (y - hi) if y > hi else 0.0
    return (abs(y - m) / 2 + (alpha / 2) * ((hi - lo) + (2 / alpha) * miss)) / 1.5


def secrets() -> dict[str, float]:
    truth = LIVE_STATS["mean_cos"]
    score = max(0.0, 1 - wis(truth, FORECAST["value"], FORECAST["lower"], FORECAST["upper"]) / 0.5)
    return {**{f"figure statistic {k}": v for k, v in LIVE_STATS.items()},
            "challenge truth": LIVE_LITERAL, "forecast score": score, "forecast points": round(10 * score, 4),
            "forecast |y - t|": abs(FORECAST["value"] - truth), "challenge |y - t|": abs(CHALLENGE - LIVE_LITERAL)}


def could_be(printed: str, secret: float) -> bool:
    """True if `printed` is `secret` rounded to its printed precision, with >= 2 significant
    digits (a lone "9" says little about 8.975; "8.98" says it all)."""
    try:
        number = Decimal(printed)
    except InvalidOperation:
        return False
    digits = number.as_tuple()
    significant = len(str(abs(int(number.scaleb(-digits.exponent))))) if number else 0
    if significant < 2:
        return False
    half = Decimal(1).scaleb(digits.exponent) / 2
    return abs(number - Decimal(repr(secret))) <= half


TIMINGS = ("/healthz",)  # its numbers are latencies measured on the spot


def found(pages, wanted: dict[str, float]) -> list[str]:
    hits = []
    for page in pages.values():
        if page.url.startswith(TIMINGS):
            continue
        for printed in set(NUMBER.findall(page.body)):
            for label, value in wanted.items():
                if could_be(printed, value) and printed not in page.url:
                    hits.append(f"{page.url}: {printed!r} could be the {label} ({value!r})")
    return hits


def _answer(client, world) -> None:
    headers = world.bearer("scholar")
    base = f"/api/v1/puzzles/{LIVE}/questions"
    resp = client.post(f"{base}/mean/submissions", json=FORECAST, headers=headers)
    assert resp.status_code == 202 and resp.get_json()["status"] == "pending", resp.get_json()
    resp = client.post(f"{base}/lit/submissions", json={"value": CHALLENGE}, headers=headers)
    assert resp.status_code == 201 and resp.get_json()["correct"] is False
    assert resp.get_json()["feedback"] == "Incorrect."


def test_no_number_derived_from_the_truth_before_the_reveal(app, world):
    _answer(app.test_client(), world)
    for role in ("scholar", "anonymous"):
        pages = crawl_as(app, world, role)
        assert found(pages, secrets()) == [], role
        if role == "scholar":  # the crawl reached his answers (so their absence means hidden)
            body = pages["/api/v1/me/submissions"].body
            assert '"value": 0.7' in body or '"value":0.7' in body
            # ... and his week at a glance on the list: answered, pending, no points yet
            index = pages["/"].body
            assert "answered 5 of 5" in index and "1 forecast scored at the reveal" in index, index
            assert "revealed:" not in index.split(LIVE)[1].split("</li>")[0]


def test_after_the_reveal_the_same_crawl_finds_them(app, world):
    _answer(app.test_client(), world)
    with frozen(utcnow() + timedelta(days=3)):
        pages = crawl_as(app, world, "scholar")
    labels = {hit.split(" could be the ")[1].split(" (")[0] for hit in found(pages, secrets())}
    assert "revealed:" in pages["/"].body.split(LIVE)[1].split("</li>")[0]  # his points on the list now
    assert {"figure statistic mean_cos", "challenge truth", "forecast score", "forecast points"} <= labels


def test_the_number_matcher():
    assert could_be("8.98", 8.9751) and could_be("0.11", 0.1137) and could_be("0.813729", 0.8137294)
    assert not could_be("9", 8.9751) and not could_be("0.9", 0.8975) and not could_be("8.96", 8.9751)
    assert could_be("0.90", 0.8975) and not could_be("2026", 0.8137294)
