"""client/mip_client.py against a real HTTP server (the app under werkzeug's server on a
loopback port, in a thread), as a notebook would use it."""
from __future__ import annotations

import ast
import importlib.util
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from puzzle_platform.extensions import db
from puzzle_platform.models import ApiToken
from puzzle_platform.timeutil import utcnow
from tests.helpers import (MEAN_QUESTION_TOML, TWO_FIGURES, add_artifact, after_reveal, challenge_mean, choice_question,
                           issue_token, question_toml, write_puzzle)

CLIENT_PATH = Path(__file__).resolve().parent.parent / "client" / "mip_client.py"
TRUTH = 0.6172839

_spec = importlib.util.spec_from_file_location("mip_client", CLIENT_PATH)
mip_client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mip_client)

QUESTIONS = (MEAN_QUESTION_TOML
             + question_toml("spread", "Predict the standard deviation, with a 90% interval.", kind="interval",
                             grader="interval", grader_params={"scale": 0.5}, statistic="fig.std_cos",
                             points=10, max_attempts=1)
             + choice_question(points=5) + challenge_mean("guess", "fig2", max_attempts=3))


@pytest.fixture
def server(app, puzzles_dir, sync):
    """The app served over HTTP on 127.0.0.1 (a free port) for the duration of a test."""
    write_puzzle(puzzles_dir, questions=QUESTIONS, figures=TWO_FIGURES)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": TRUTH, "std_cos": 0.2})
    add_artifact(app, "test-puzzle", "fig2", {"mean_cos": TRUTH})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


def test_client_uses_the_standard_library_only():
    tree = ast.parse(CLIENT_PATH.read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules - {"__future__"} <= set(sys.stdlib_module_names)


def test_notebook_flow_read_submit_point_and_interval_grades(app, server):
    token = issue_token(app, "ada", name="notebook")
    client = mip_client.Client(server + "/", token)
    assert token not in repr(client)
    assert client.me()["username"] == "ada"
    assert [p["slug"] for p in client.puzzles()] == ["test-puzzle"]

    puzzle = client.puzzle("test-puzzle")
    assert [q["key"] for q in puzzle["questions"]] == ["mean", "spread", "pick", "guess"]
    assert [q["mode"] for q in puzzle["questions"]] == ["forecast", "forecast", "challenge", "challenge"]
    assert puzzle["figures"][0]["figure"]["data"]
    assert "answer_md" not in puzzle and "truth" not in puzzle["questions"][0]

    point = client.submit("test-puzzle", "mean", value=TRUTH)  # a forecast: scored at the reveal
    assert (point["status"], point["correct"], point["points"]) == ("pending", None, None)
    interval = client.submit("test-puzzle", "spread", value="0.25", lower=0.1, upper=0.3)
    assert interval["status"] == "pending" and interval["points"] is None
    assert interval["payload"] == {"value": 0.25, "lower": 0.1, "upper": 0.3}
    assert client.submit("test-puzzle", "pick", choice="beta")["correct"] is True  # a challenge
    assert client.puzzle("test-puzzle")["questions"][1]["current_prediction"] == interval["payload"]

    mine = client.my_submissions("test-puzzle")
    assert [s["question"] for s in mine] == ["mean", "spread", "pick"]
    assert client.my_submissions() == mine
    with after_reveal():
        scored = {s["question"]: s for s in client.my_submissions("test-puzzle")}
        board = client.leaderboard(puzzle="test-puzzle")
    assert (scored["mean"]["status"], scored["mean"]["correct"], scored["mean"]["points"]) == ("graded", True, 10)
    assert scored["spread"]["status"] == "graded" and 0 < scored["spread"]["points"] < 10
    assert board["entries"][0]["display_name"] == "Ada" and board["entries"][0]["rank"] == 1
    assert client.leaderboard()["scope"] == {"puzzle": None, "cohort": None}


def test_client_accepts_numpy_style_scalars(app, server):
    class Scalar:  # stands in for numpy.float32, which json cannot serialise
        def __init__(self, v):
            self.v = v

        def item(self):
            return self.v

    client = mip_client.Client(server + "/api/v1", issue_token(app, "ada", name="notebook"))
    sub = client.submit("test-puzzle", "mean", value=Scalar(0.5), lower=Scalar(0.4), upper=Scalar(0.9))
    assert sub["payload"] == {"value": 0.5, "lower": 0.4, "upper": 0.9}


def test_refusals_raise_mip_error_with_the_servers_message(app, server):
    client = mip_client.Client(server, issue_token(app, "ada", name="notebook"))
    cases = [
        (lambda: client.submit("test-puzzle", "mean", value=float("nan")), 400, "finite"),
        (lambda: client.submit("test-puzzle", "mean", value=0.5, lower=0.9, upper=0.6), 400, "lower end"),
        (lambda: client.submit("test-puzzle", "spread", value=0.2), 400, "90% interval"),
        (lambda: client.submit("test-puzzle", "nope", value=0.2), 404, "Unknown question"),
        (lambda: client.puzzle("no-such-puzzle"), 404, "No such puzzle"),
        (lambda: client.my_submissions("no/such puzzle"), 404, "No such puzzle"),
    ]
    for call, status, text in cases:
        with pytest.raises(mip_client.MIPError) as err:
            call()
        assert err.value.status == status and text in err.value.message, err.value

    with pytest.raises(mip_client.MIPError) as err:
        mip_client.Client(server, "mip_wrong").me()
    assert err.value.status == 401 and "Unknown API token" in err.value.message


def test_wait_after_a_wrong_answer_gives_retry_after(app, server):
    client = mip_client.Client(server, issue_token(app, "ada", name="notebook"))
    assert client.submit("test-puzzle", "guess", value=-0.9)["correct"] is False
    with pytest.raises(mip_client.MIPError) as err:
        client.submit("test-puzzle", "guess", value=-0.8)
    assert err.value.status == 429 and 50 <= err.value.retry_after <= 60
    assert "wait" in err.value.message


def test_revoked_token_and_unreachable_server(app, server):
    token = issue_token(app, "ada", name="notebook")
    with app.app_context():
        row = db.session.scalar(sa.select(ApiToken))
        row.revoked_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    with pytest.raises(mip_client.MIPError) as err:
        mip_client.Client(server, token).puzzles()
    assert err.value.status == 401 and "revoked" in err.value.message

    port = int(server.rsplit(":", 1)[1])
    with pytest.raises(mip_client.MIPError) as err:
        mip_client.Client(server.replace(str(port), "1"), token, timeout=5).me()
    assert err.value.status == 0 and "Could not reach" in err.value.message
    with pytest.raises(ValueError):
        mip_client.Client("puzzles.example.org", token)


def test_explanations_submit_read_and_grading_after_the_reveal(app, server):
    from tests.explanation_helpers import add_explanation_question, grade

    add_explanation_question(app, "test-puzzle", word_budget=40)
    client = mip_client.Client(server, issue_token(app, "ada"))
    first = client.submit_explanation("test-puzzle", "why", "A first *draft*.")
    second = client.submit_explanation("test-puzzle", "why", "The mean vector: $\\mu$ dominates.")
    assert (first["status"], second["status"], second["points"]) == ("pending", "pending", None)
    mine = client.my_explanation("test-puzzle", "why")
    assert [v["text"] for v in mine["versions"]] == ["A first *draft*.", "The mean vector: $\\mu$ dominates."]
    assert mine["word_budget"] == 40 and "grading" not in mine and "featured" not in mine
    with pytest.raises(mip_client.MIPError) as refused:
        client.submit_explanation("test-puzzle", "why", "x" * 5001)
    assert refused.value.status == 400 and "5,000" in refused.value.message
    with pytest.raises(mip_client.MIPError) as missing:
        client.my_explanation("test-puzzle", "mean")
    assert missing.value.status == 404

    grade(app, second["id"], ("mean_vector", "wrong_sign"), "Good, but the sign.", featured=True)
    with after_reveal():
        mine = client.my_explanation("test-puzzle", "why")
    assert mine["grading"]["points"] == 3 and mine["grading"]["comment"] == "Good, but the sign."
    assert [i["key"] for i in mine["grading"]["items"]] == ["mean_vector", "wrong_sign"]
    assert [(f["author"], f["text"]) for f in mine["featured"]] == [("Ada", "The mean vector: $\\mu$ dominates.")]
