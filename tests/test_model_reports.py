"""Workers report the models they hold; a puzzle's figures are checked against the reports
when a mentor saves it (refused only when no live worker could ever load the model)."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from puzzle_platform.cli import worker as worker_cli
from puzzle_platform.extensions import db
from puzzle_platform.jobs.queue import worker_id
from puzzle_platform.jobs.worker_models import REPORTER_ENV, report_after_job, reported_models
from puzzle_platform.models import Puzzle, Setting
from puzzle_platform.timeutil import iso, utcnow
from tests.helpers import add_artifact, figure_toml, mean_question, write_puzzle
from tests.test_mentor_authoring import count, get_puzzle, login_as, page_text, post, puzzle_form

OFFLINE_FIX = ("no worker holds gpt2-xl and every worker is offline (HF_HUB_OFFLINE): pre-download "
               "it on a worker with `manage.py models fetch gpt2-xl`, or pick one the workers hold: "
               "gpt2, models:tiny")


def put_report(app, ident: str, models: list[str], offline: bool, age: timedelta = timedelta()) -> None:
    """A worker's report as `manage.py worker` stores it (Setting "models:<ident>")."""
    with app.app_context():
        Setting.put(f"models:{ident}", {"worker": ident, "at": iso(utcnow() - age),
                                        "offline": offline, "models": models})
        db.session.commit()


def spec(model: str, key: str = "fig") -> str:
    return figure_toml(key, "Cosines", model=model, weights="raw") + mean_question(statistic=f"{key}.mean_cos")


def local_model(folder) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")


# --- the worker's side ------------------------------------------------------------------

def test_worker_start_reports_local_models_and_offline(app, tmp_path, models_dir, monkeypatch):
    local_model(tmp_path / "neo-125m")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with app.app_context():
        worker_cli.report_models()  # what `manage.py worker` does at start
        report = reported_models()
    ref = "models:" + (tmp_path / "neo-125m").relative_to(models_dir).as_posix()
    assert report.workers == 1 and report.can_download is False
    assert ref in report.names
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with app.app_context():
        worker_cli.report_models()
        assert reported_models().can_download is True and reported_models().workers == 1


def test_recovery_loop_reports_models_and_a_clean_stop_forgets_them(app, monkeypatch):
    monkeypatch.setattr(worker_cli, "MODEL_REPORT_TICKS", 2)
    stop = threading.Event()
    thread = threading.Thread(target=worker_cli._recovery_loop, args=(app, 0.02, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            with app.app_context():
                if reported_models().workers:
                    break
            assert time.monotonic() < deadline, "the recovery loop never reported the models"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    with app.app_context():
        worker_cli._forget_self()  # the clean stop (jobs/shutdown.py calls it)
        assert reported_models().workers == 0
        assert db.session.get(Setting, f"models:{worker_id()}") is None


def test_old_reports_are_ignored_and_stale_ones_deleted(app):
    put_report(app, "gone:1", ["gpt2"], offline=False, age=timedelta(hours=2))
    put_report(app, "gone:2", ["gpt2"], offline=False, age=timedelta(days=2))
    with app.app_context():
        assert reported_models().workers == 0  # an hour old: the worker is gone
        worker_cli.report_models()
        assert db.session.get(Setting, "models:gone:1") is not None
        assert db.session.get(Setting, "models:gone:2") is None  # a day old: deleted
        assert reported_models().workers == 1  # this process's own report


def test_a_job_reports_only_inside_a_worker(app, monkeypatch):
    with app.app_context():
        report_after_job()  # an inline compute is no worker
        assert reported_models().workers == 0
        monkeypatch.setenv(REPORTER_ENV, "host:42")  # set by `manage.py worker` for its pool
        report_after_job()
        db.session.commit()
        assert db.session.get(Setting, "models:host:42").value["worker"] == "host:42"


# --- the save-time check ----------------------------------------------------------------

def test_no_worker_saves_with_a_warning(app, client, auth):
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(), follow_redirects=True)
    assert resp.status_code == 200 and get_puzzle(app, "web-puzzle") is not None
    assert "no worker is running: figures will be computed when one starts" in page_text(resp)


def test_offline_workers_without_the_model_refuse_it(app, client, auth):
    put_report(app, "w:1", ["gpt2", "models:tiny"], offline=True)
    put_report(app, "w:2", [], offline=True)
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec("gpt2-xl")))
    assert resp.status_code == 400 and OFFLINE_FIX in page_text(resp)
    assert count(app, Puzzle) == 0


def test_a_worker_that_may_download_saves_with_a_warning(app, client, auth):
    put_report(app, "w:1", ["gpt2"], offline=True)
    put_report(app, "w:2", [], offline=False)
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec("gpt2-xl")), follow_redirects=True)
    assert resp.status_code == 200 and get_puzzle(app, "web-puzzle") is not None
    assert "gpt2-xl will be downloaded by the worker on first compute" in page_text(resp)


@pytest.mark.parametrize("model", ["gpt2", "models:tiny"])
def test_a_held_model_saves_without_a_warning(app, client, auth, model):
    put_report(app, "w:1", ["gpt2", "models:tiny"], offline=True)
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec(model)), follow_redirects=True)
    text = page_text(resp)
    assert resp.status_code == 200 and get_puzzle(app, "web-puzzle") is not None
    assert 'class="flash warning"' not in text and "Created puzzle 7" in text


def test_a_local_model_no_worker_holds_is_refused_even_online(app, client, auth, models_dir):
    local_model(models_dir / "web-only")  # on the web host's disk, not on any worker's
    put_report(app, "w:1", ["gpt2"], offline=False)
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec("models:web-only")))
    assert resp.status_code == 400
    assert ("no worker holds models:web-only (a local model is never downloaded): put the folder "
            "in MODELS_DIR on the workers, or pick one the workers hold: gpt2") in page_text(resp)
    assert count(app, Puzzle) == 0


def test_edit_and_duplicate_are_checked_too(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, figures=figure_toml(model="gpt2", weights="raw"))
    sync()
    put_report(app, "w:1", ["gpt2", "models:tiny"], offline=True)
    login_as(auth, "mentor")
    before = get_puzzle(app, "test-puzzle")
    form = puzzle_form(number="1", slug="test-puzzle", title="Changed title", spec_toml=spec("gpt2-xl"))
    resp = post(client, "/mentor/puzzles/test-puzzle/edit", form)
    assert resp.status_code == 400 and OFFLINE_FIX in page_text(resp)
    assert get_puzzle(app, "test-puzzle").title == before.title
    form["spec_toml"] = spec("gpt2")  # a model the workers hold: saved
    resp = post(client, "/mentor/puzzles/test-puzzle/edit", form)
    assert resp.status_code == 303 and get_puzzle(app, "test-puzzle").title == "Changed title"
    # The workers lose the model: a copy (to compute afresh) is refused; an edit that leaves
    # the figure as it was is not (its artifact stays).
    put_report(app, "w:1", ["models:tiny"], offline=True)
    resp = post(client, "/mentor/puzzles/test-puzzle/duplicate", {"number": "2", "slug": "copy"})
    assert resp.status_code == 400
    assert "no worker holds gpt2 and every worker is offline" in page_text(resp)
    assert count(app, Puzzle) == 1
    form["title"] = "Changed again"
    resp = post(client, "/mentor/puzzles/test-puzzle/edit", form)
    assert resp.status_code == 303 and get_puzzle(app, "test-puzzle").title == "Changed again"


def test_sync_only_warns(app, runner, puzzles_dir):
    write_puzzle(puzzles_dir, figures=figure_toml(model="gpt2-xl", weights="raw"))
    result = runner.invoke(args=["puzzles", "sync"])  # no worker yet: said once
    assert result.exit_code == 0 and result.output.count("warning: no worker is running") == 1
    put_report(app, "w:1", ["gpt2", "models:tiny"], offline=True)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0, result.output
    assert f"warning: test-puzzle: figure 'fig': {OFFLINE_FIX}" in result.output
    assert get_puzzle(app, "test-puzzle") is not None
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})  # computed: needs no worker
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0 and "warning:" not in result.output, result.output
