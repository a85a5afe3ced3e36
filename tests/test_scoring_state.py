"""The scoring state under random sequences of everything that can change it.

A hypothesis state machine drives several scholars through two puzzles (forecasts,
challenges and an explanation question: versions saved, rubric gradings by a mentor, rubric
point edits), new truth versions (including params A -> B -> A), grader edits (pass_score,
tolerance, scale), overrides and their removal, unpublishing, the clock and the reveal, all
through the public surface (the API, the mentor pages, `puzzles sync`, the task function a
worker calls to store an artifact). After every step it checks:

- `manage.py grades verify` finds the incrementally kept state equal to its rebuild;
- every leaderboard (season, and each puzzle) equals a reference computed here, from the
  attempt log read back from the database, the truths and definitions this test set, and
  the README's rules, by its own brute-force implementation (its own WIS and tolerance
  scores; the tie-break as "the earliest moment since which the scholar's per-question
  points have not changed"); an explanation counts its last version before the deadline
  once a mentor graded it (the grading this test did, with the rubric points it last wrote).
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from freezegun import freeze_time
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from puzzle_platform import create_app
from puzzle_platform.extensions import db
from puzzle_platform.models import Figure, Puzzle, Question, Submission, User
from tests.helpers import csrf_token, issue_token, iso

SCHOLARS = ("ann", "ben", "cat")
T0 = datetime(2030, 3, 1, 12, 0, tzinfo=timezone.utc)
SCHEDULE = {"release_at": T0 - timedelta(days=1), "deadline_at": T0 + timedelta(days=1),
            "reveal_at": T0 + timedelta(days=2)}
RUBRIC = {"idea": 4.0, "detail": 2.0, "extra": 1.0, "wrong": -3.0}  # e1's rubric as first written
PARAMS = {"A": {"model": "models:tinyA", "weights": "raw"}, "B": {"model": "models:tinyB", "weights": "raw"}}


@dataclass
class Defs:
    """What this test has written into the puzzle files."""

    params: str = "A"
    f1_scale: float = 0.5
    f1_pass: float = 0.5
    c1_tolerance: float = 0.05
    f2_tolerance: float = 0.1
    f2_partial: float = 0.3
    rubric: dict | None = None   # the explanation's rubric: {item id: points}

    def __post_init__(self) -> None:
        if self.rubric is None:
            self.rubric = dict(RUBRIC)


def _toml(value) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _inline(table: dict) -> str:
    return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in table.items()) + " }"


def _write(root: Path, d: Defs) -> None:
    """Puzzle 1: two figures on the same params, a forecast on one's mean and a challenge on the
    other's (a challenge may not read a forecast's figure), a choice challenge.
    Puzzle 2: a forecast with partial credit and a challenge, both with literal truths, and an
    explanation question graded with a rubric."""
    head = "".join(f'{k} = "{iso(v)}"\n' for k, v in SCHEDULE.items())
    one = (f'title = "One"\n{head}'
           f'[[figures]]\nkey = "fig"\ntitle = "F"\nrecipe = "embedding_cosine"\nparams = {_inline(PARAMS[d.params])}\n'
           f'[[figures]]\nkey = "gig"\ntitle = "G"\nrecipe = "embedding_cosine"\nparams = {_inline(PARAMS[d.params])}\n'
           f'[[questions]]\nkey = "f1"\nprompt = "p"\nkind = "numeric"\nmode = "forecast"\ngrader = "interval"\n'
           f'grader_params = {_inline({"scale": d.f1_scale, "pass_score": d.f1_pass})}\nstatistic = "fig.mean_cos"\n'
           f'[[questions]]\nkey = "c1"\nprompt = "p"\nkind = "numeric"\nmode = "challenge"\ngrader = "abs_tol"\n'
           f'grader_params = {_inline({"tolerance": d.c1_tolerance})}\nstatistic = "gig.mean_cos"\nmax_attempts = 4\n'
           f'[[questions]]\nkey = "c2"\nprompt = "p"\nkind = "choice"\ngrader = "choice"\n'
           f'choices = ["x", "y"]\ntruth = "y"\npoints = 5\nmax_attempts = 2\n')
    two = (f'title = "Two"\n{head}'
           f'[[questions]]\nkey = "f2"\nprompt = "p"\nkind = "numeric"\nmode = "forecast"\ngrader = "abs_tol"\n'
           f'grader_params = {_inline({"tolerance": d.f2_tolerance, "partial_until": d.f2_partial})}\ntruth = 0.3\n'
           f'[[questions]]\nkey = "c3"\nprompt = "p"\nkind = "numeric"\nmode = "challenge"\ngrader = "abs_tol"\n'
           f'grader_params = {_inline({"tolerance": 0.01})}\ntruth = 0.7\npoints = 4\nmax_attempts = 3\n'
           f'[[questions]]\nkey = "e1"\nprompt = "Why?"\nkind = "explanation"\npoints = 6\nword_budget = 50\n'
           + "".join(f'[[questions.rubric]]\nid = "{k}"\ndescription = "item {k}"\npoints = {v!r}\n'
                     for k, v in d.rubric.items()))
    for number, slug, text in ((1, "one", one), (2, "two", two)):
        folder = root / f"{number:02d}-{slug}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "puzzle.toml").write_text(text)
        (folder / "statement.md").write_text("S\n")
        (folder / "answer.md").write_text("A\n")


# --- the reference: the README's rules, written again independently ----------------------------

def wis(y: float, m: float, lo: float, hi: float, alpha: float = 0.1) -> float:
    miss = (lo - y) if y < lo else (y - hi) if y > hi else 0.0
    return (abs(y - m) / 2 + (alpha / 2) * ((hi - lo) + (2 / alpha) * miss)) / 1.5


def reference_grade(key: str, payload: dict, truth, d: Defs) -> tuple[float, bool]:
    """(score, correct) of one answer, from the definitions alone."""
    if key == "c2":
        return (1.0, True) if payload.get("choice") == truth else (0.0, False)
    value = float(payload["value"])
    if key == "f1":
        lo = value if payload.get("lower") is None else float(payload["lower"])
        hi = value if payload.get("upper") is None else float(payload["upper"])
        score = max(0.0, min(1.0, 1 - wis(truth, value, lo, hi) / d.f1_scale))
        return score, score >= d.f1_pass
    tol, partial = {"c1": (d.c1_tolerance, d.c1_tolerance), "c3": (0.01, 0.01),
                    "f2": (d.f2_tolerance, d.f2_partial)}[key]
    err = abs(value - truth)
    if err <= tol:
        return 1.0, True
    score = 0.0 if err >= partial else 1 - (err - tol) / (partial - tol)
    return score, False


POINTS = {"f1": 10.0, "c1": 10.0, "c2": 5.0, "f2": 10.0, "c3": 4.0, "e1": 6.0}
MODE = {"f1": "forecast", "f2": "forecast", "c1": "challenge", "c2": "challenge", "c3": "challenge",
        "e1": "explanation"}
PUZZLE_OF = {"f1": "one", "c1": "one", "c2": "one", "f2": "two", "c3": "two", "e1": "two"}


@dataclass
class Logged:
    user: str
    key: str
    at: datetime
    payload: dict
    override: tuple[float, bool] | None
    id: int = 0


def counted_versions(log: list[Logged]) -> dict[str, Logged]:
    """{scholar: their explanation version that counts}: the last one saved before the deadline."""
    out: dict[str, Logged] = {}
    for a in sorted(log, key=lambda a: (a.at, a.id)):
        if a.key == "e1" and a.at < SCHEDULE["deadline_at"]:
            out[a.user] = a
    return out


def reference_boards(log: list[Logged], truths: dict, d: Defs, published: dict, now: datetime,
                     gradings: dict[int, frozenset] | None = None) -> dict:
    """{scope: [(rank, name, points, solved, answered, reached)]} for the season and each puzzle.
    `gradings`: {submission id: the rubric item ids a mentor applied}, as this test graded."""
    gradings = gradings or {}
    counted = {a.id for a in counted_versions(log).values()}
    log = [a for a in log if a.key != "e1" or a.id in counted]  # superseded versions never count

    def points_of(a: Logged) -> tuple[float, bool] | None:
        """The attempt's points and correctness now, or None while it is not graded."""
        if MODE[a.key] != "challenge" and now < SCHEDULE["reveal_at"]:
            return None
        if a.override is not None:
            return a.override
        if a.key == "e1":
            if a.id not in gradings:
                return None
            pts = min(max(math.fsum(d.rubric[k] for k in gradings[a.id]), 0.0), POINTS["e1"])
            return round(pts, 4), pts >= POINTS["e1"] / 2
        truth = truths[a.key]
        if truth is None:
            return None
        score, correct = reference_grade(a.key, a.payload, truth, d)
        return round(score * POINTS[a.key], 4), correct

    boards = {}
    for scope in ("season", "one", "two"):
        keys = [k for k in POINTS if (scope == "season" or PUZZLE_OF[k] == scope) and published[PUZZLE_OF[k]]]
        rows = []
        for user in SCHOLARS:
            mine = sorted((a for a in log if a.user == user and a.key in keys), key=lambda a: a.at)
            graded = [(a, p) for a in mine if (p := points_of(a)) is not None
                      and (MODE[a.key] == "challenge" or a.at < SCHEDULE["deadline_at"])]
            if not graded:
                continue
            events = sorted({a.at for a, _ in graded})

            def vector(t: datetime) -> dict:
                out = {}
                for k in keys:
                    upto = [p for a, p in graded if a.key == k and a.at <= t]
                    if not upto:
                        out[k] = 0.0
                    elif MODE[k] == "challenge":
                        out[k] = max(pts for pts, _ in upto)
                    else:
                        out[k] = upto[-1][0]
                return out

            final = vector(events[-1])
            reached = next(t for i, t in enumerate(events) if all(vector(u) == final for u in events[i:]))
            solved = 0
            for k in {a.key for a, _ in graded}:
                pts = [p for a, p in graded if a.key == k]
                solved += any(c for _, c in pts) if MODE[k] == "challenge" else pts[-1][1]
            rows.append((round(math.fsum(final.values()), 4), reached, user, solved,
                         len({a.key for a, _ in graded})))
        rows.sort(key=lambda r: (-r[0], r[1], SCHOLARS.index(r[2])))
        ranked, prev, rank = [], None, 0
        for i, (pts, reached, user, solved, answered) in enumerate(rows):
            if (pts, reached) != prev:
                rank, prev = i + 1, (pts, reached)
            ranked.append((rank, user.title(), pts, solved, answered, reached.strftime("%Y-%m-%dT%H:%M:%S")))
        boards[scope] = ranked
    return boards


# --- the machine ------------------------------------------------------------------------------

VALUES = st.sampled_from([0.1, 0.25, 0.3, 0.42, 0.5, 0.55, 0.7, 0.8])


class ScoringMachine(RuleBasedStateMachine):
    template: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="scoring-"))
        shutil.copy(self.template, self.folder / "db.sqlite3")
        self.clock = freeze_time(T0)
        self.frozen = self.clock.start()
        self.app = create_app({
            "TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(self.folder / "instance"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{self.folder / 'db.sqlite3'}",
            "PUZZLES_DIR": str(self.folder / "puzzles"), "WRONG_ANSWER_WAITS": (0,),
            "SUBMISSIONS_PER_MINUTE": 10_000, "API_SUBMISSIONS_PER_MINUTE": 10_000,
            "API_REQUESTS_PER_MINUTE": 100_000})
        self.defs = Defs()
        self.truths: dict[str, object] = {"f1": None, "c1": None, "c2": "y", "f2": 0.3, "c3": 0.7}
        self.artifacts: dict[str, list[float]] = {"A": [], "B": []}
        self.stored_params: dict[str, dict] = {}
        self.published = {"one": True, "two": True}
        self.submitted = 0
        self.gradings: dict[int, frozenset] = {}  # explanation versions this test graded: their items
        self.sync()
        self.tokens = {u: issue_token(self.app, u) for u in SCHOLARS}
        self.client = self.app.test_client()
        self.mentor = self.app.test_client()
        with self.app.app_context():
            mentor = User(username="mona", email="mona@example.org", role="mentor", display_name="Mona")
            mentor.set_password("correct horse battery")
            db.session.add(mentor)
            db.session.commit()
        self.mentor.post("/login", data={"csrf_token": csrf_token(self.mentor), "username": "mona",
                                         "password": "correct horse battery"})

    def teardown(self) -> None:
        self.clock.stop()
        with self.app.app_context():
            db.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    # helpers ------------------------------------------------------------------------------
    def sync(self) -> None:
        _write(self.folder / "puzzles", self.defs)
        result = self.app.test_cli_runner().invoke(args=["puzzles", "sync"])
        assert result.exit_code == 0, result.output
        with self.app.app_context():
            fig = db.session.scalar(sa.select(Figure).where(Figure.key == "fig"))
            self.stored_params[self.defs.params] = dict(fig.params)
        self._current_truth()

    def _current_truth(self) -> None:
        values = self.artifacts[self.defs.params]
        self.truths["f1"] = self.truths["c1"] = values[-1] if values else None

    def _post(self, path: str, data: dict | None = None) -> None:
        resp = self.mentor.post(path, data={"csrf_token": csrf_token(self.mentor, "/mentor"), **(data or {})})
        assert resp.status_code in (303, 409), (path, resp.status_code)

    # rules --------------------------------------------------------------------------------
    def _submit_number(self, user, key, value, width):
        body = {"value": value}
        if width is not None:
            body.update(lower=round(value - width, 4), upper=round(value + width, 4))
        resp = self.client.post(f"/api/v1/puzzles/{PUZZLE_OF[key]}/questions/{key}/submissions", json=body,
                                headers={"Authorization": f"Bearer {self.tokens[user]}"})
        assert resp.status_code in (201, 202, 403, 404, 409, 429), resp.get_json()
        self.submitted += resp.status_code in (201, 202)

    @rule(user=st.sampled_from(SCHOLARS), key=st.sampled_from(["f1", "f2"]), value=VALUES,
          width=st.sampled_from([None, 0.05, 0.2]))
    def predict(self, user, key, value, width):
        self._submit_number(user, key, value, width)

    @rule(user=st.sampled_from(SCHOLARS), key=st.sampled_from(["f1", "f2"]), value=VALUES,
          width=st.sampled_from([None, 0.05, 0.2]))
    def revise(self, user, key, value, width):
        self._submit_number(user, key, value, width)

    @rule(user=st.sampled_from(SCHOLARS), key=st.sampled_from(["c1", "c3"]), value=VALUES)
    def attempt_challenge(self, user, key, value):
        self._submit_number(user, key, value, None)

    @rule(user=st.sampled_from(SCHOLARS), choice=st.sampled_from(["x", "y"]))
    def submit_choice(self, user, choice):
        resp = self.client.post("/api/v1/puzzles/one/questions/c2/submissions", json={"choice": choice},
                                headers={"Authorization": f"Bearer {self.tokens[user]}"})
        assert resp.status_code in (201, 403, 404, 409, 429), resp.get_json()

    @rule(user=st.sampled_from(SCHOLARS), text=st.sampled_from(["The mean *vector*.", "A shared $\\mu$.", "no"]))
    def save_explanation(self, user, text):
        """A new version of the scholar's explanation (refused after the deadline)."""
        resp = self.client.post("/api/v1/puzzles/two/questions/e1/submissions", json={"text": text},
                                headers={"Authorization": f"Bearer {self.tokens[user]}"})
        assert resp.status_code in (201, 202, 403, 404, 409, 429), resp.get_json()
        self.submitted += resp.status_code in (201, 202)
        assert (resp.status_code in (201, 202)) == (datetime.now(timezone.utc) < SCHEDULE["deadline_at"]
                                                    and self.published["two"]), resp.get_json()

    def _versions(self) -> list[Logged]:
        with self.app.app_context():
            q = db.session.scalar(sa.select(Question.id).where(Question.key == "e1"))
            rows = db.session.execute(
                sa.select(Submission.id, Submission.created_at, User.username).join(User, User.id == Submission.user_id)
                .where(Submission.question_id == q, Submission.status.in_(("pending", "graded")))
                .order_by(Submission.id)).all()
        return [Logged(name, "e1", at, {}, None, sid) for sid, at, name in rows]

    def _grade(self, sub_id: int, items: frozenset, counted: bool) -> None:
        resp = self.mentor.post(f"/mentor/explanations/{sub_id}", data={
            "csrf_token": csrf_token(self.mentor, "/mentor"), "items": sorted(items), "comment": ""})
        assert resp.status_code == (303 if counted else 404), (sub_id, counted, resp.status_code)
        if counted:
            self.gradings[sub_id] = items

    @rule(data=st.data(), items=st.frozensets(st.sampled_from(sorted(RUBRIC))), claim=st.booleans())
    def grade_explanation(self, data, items, claim):
        """The mentor grades a version with some rubric items: the next one the queue hands out
        (claimed first), or one picked here (a superseded draft is refused: not in the queue)."""
        versions = self._versions()
        counted = {a.id for a in counted_versions(versions).values()}
        if claim:
            resp = self.mentor.post("/mentor/puzzles/two/questions/e1/explanations/next",
                                    data={"csrf_token": csrf_token(self.mentor, "/mentor")})
            assert resp.status_code == 303, resp.status_code
            target = resp.headers["Location"]
            if not target.rstrip("/").split("/")[-1].isdigit():  # back to the queue: all graded
                assert counted <= set(self.gradings), (counted, self.gradings)
                return
            sub_id = int(target.rstrip("/").split("/")[-1])
            assert sub_id in counted and sub_id not in self.gradings, (sub_id, counted, self.gradings)
            self._grade(sub_id, items, True)
        elif versions:
            sub_id = data.draw(st.sampled_from([a.id for a in versions]))
            self._grade(sub_id, items, sub_id in counted)

    @rule(idea=st.sampled_from([4.0, 6.0, 1.5]), detail=st.sampled_from([2.0, 3.0]),
          extra=st.sampled_from([1.0, 5.0]), wrong=st.sampled_from([-3.0, -1.0, -6.0]))
    def edit_rubric(self, idea, detail, extra, wrong):
        """New points for the rubric's items in puzzle.toml, then `puzzles sync`."""
        self.defs.rubric = {"idea": idea, "detail": detail, "extra": extra, "wrong": wrong}
        self.sync()

    @rule(params=st.sampled_from(["A", "B"]), value=VALUES)
    def artifact_lands(self, params, value):
        """A worker stores a result for params A or B (the figure's, or a late job's)."""
        from puzzle_platform.grading.artifacts import store_artifact

        if params not in self.stored_params:
            return
        revision = f"r{len(self.artifacts[params])}"
        with self.app.app_context():
            puzzle_id = db.session.scalar(sa.select(Puzzle.id).where(Puzzle.slug == "one"))
            for figure in ("fig", "gig"):  # the same computation for both figures
                store_artifact(puzzle_id, figure, statistics={"mean_cos": value}, figure=None,
                               provenance={"revision": revision, "code_version": "t"}, recipe="embedding_cosine",
                               params=self.stored_params[params])
            db.session.commit()
        self.artifacts[params].append(value)
        self._current_truth()

    @rule(params=st.sampled_from(["A", "B"]))
    def switch_params(self, params):
        self.defs.params = params
        self.sync()

    @rule(f1_pass=st.sampled_from([0.3, 0.5, 0.9]), f1_scale=st.sampled_from([0.5, 1.0]),
          c1_tolerance=st.sampled_from([0.05, 0.2]), f2_partial=st.sampled_from([0.1, 0.3, 0.6]))
    def edit_graders(self, f1_pass, f1_scale, c1_tolerance, f2_partial):
        self.defs.f1_pass, self.defs.f1_scale = f1_pass, f1_scale
        self.defs.c1_tolerance, self.defs.f2_partial = c1_tolerance, f2_partial
        self.sync()

    @rule(data=st.data(), share=st.sampled_from([0.0, 0.25, 1.0]), correct=st.sampled_from(["", "yes", "no"]))
    def override(self, data, share, correct):
        with self.app.app_context():
            rows = db.session.execute(sa.select(Submission.id, Question.points).join(
                Question, Question.id == Submission.question_id).where(Submission.status == "graded")
                .order_by(Submission.id)).all()
        if rows:
            sub_id, full = data.draw(st.sampled_from(rows))
            self._post(f"/mentor/submissions/{sub_id}/override", {"points": repr(share * full), "reason": "r",
                                                                  "correct": correct})

    @rule(data=st.data())
    def remove_override(self, data):
        with self.app.app_context():
            ids = db.session.scalars(sa.select(Submission.id).where(
                Submission.override_points.is_not(None)).order_by(Submission.id)).all()
        if ids:
            self._post(f"/mentor/submissions/{data.draw(st.sampled_from(ids))}/override/remove")

    @rule(slug=st.sampled_from(["one", "two"]))
    def toggle_published(self, slug):
        self.published[slug] = not self.published[slug]
        # publishing asks for confirmation, and the override while a truth is not computed yet
        self._post(f"/mentor/puzzles/{slug}/{'publish' if self.published[slug] else 'unpublish'}",
                   {"confirm": "1", "override": "1"} if self.published[slug] else None)

    @rule(minutes=st.sampled_from([1, 7, 90, 600]))
    def time_passes(self, minutes):
        self.frozen.tick(timedelta(minutes=minutes))

    @precondition(lambda self: self.submitted >= 6 and datetime.now(timezone.utc) < SCHEDULE["reveal_at"])
    @rule()
    def reveal(self):
        self.frozen.move_to(SCHEDULE["reveal_at"] + timedelta(minutes=1))

    # invariants ---------------------------------------------------------------------------
    @invariant()
    def boards_follow_the_rules(self):
        now = datetime.now(timezone.utc)
        got = {}
        for scope, query in (("season", ""), ("one", "?puzzle=one"), ("two", "?puzzle=two")):
            resp = self.mentor.get(f"/leaderboard.json{query}")  # mentors see unpublished puzzles' boards
            got[scope] = [(e["rank"], e["display_name"], e["points"], e["solved"], e["answered"],
                           e["reached_at"][:19]) for e in resp.get_json()["entries"]]
        with self.app.app_context():
            rows = db.session.execute(
                sa.select(Submission, User.username).join(User, User.id == Submission.user_id)
                .where(Submission.status.in_(("pending", "graded")), Submission.question_id.is_not(None))
                .order_by(Submission.id)).all()
            keys = {q.id: q.key for p in db.session.scalars(sa.select(Puzzle)) for q in p.questions}
            log = [Logged(name, keys[s.question_id], s.created_at, s.payload,
                          None if s.override_points is None else (s.override_points, bool(s.override_correct)),
                          s.id)
                   for s, name in rows]
        assert got == reference_boards(log, self.truths, self.defs, self.published, now, self.gradings)

    @invariant()
    def incremental_state_equals_the_rebuild(self):
        result = self.app.test_cli_runner().invoke(args=["grades", "verify"])
        assert result.exit_code == 0, result.output


def test_scoring_state_machine(template_db):
    ScoringMachine.template = template_db
    run_state_machine_as_test(ScoringMachine, settings=settings(
        max_examples=25, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
