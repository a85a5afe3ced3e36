"""A mentor writes a puzzle entirely through the structured form (no TOML): a figure on a tiny
local model, a numeric question whose prompt is LaTeX typed as is, reading a statistic picked
from the select, and a choice question; previews the prompt, saves, computes the figure (the
test runs the queued job as the worker would), publishes; a scholar then sees the math."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.browser.actions import log_in, register

pytestmark = pytest.mark.browser

PROMPT = (r"Let $\bar{x}$ be the mean row and $\theta_i$ the angle to it; with $\frac{a}{b}$, "
          r"$\nabla$ and $\sum_i \cos\theta_i$: what is the mean cosine to $\bar{x}$?")


def local_input(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M")


def run_queued_jobs(app) -> list[str]:
    """Stand in for the worker: run every queued job (the real recipe, on the tiny model)."""
    from puzzle_platform.extensions import db
    from puzzle_platform.jobs.runner import execute_job
    from puzzle_platform.models import Job

    with app.app_context():
        ids = db.session.scalars(sa.select(Job.id).where(Job.status == "queued")).all()
        return [execute_job(job_id) for job_id in ids]


def publish(page, expect) -> None:
    """Publish from the mentor overview: the confirmation page lists the figure as computed,
    so its Publish button publishes without the override."""
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_text("Publish anyway")).to_have_count(0)
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Published")).to_be_visible()


def assert_math_prompt(block, expect) -> None:
    """PROMPT rendered: MathML with an accent (\\bar), a fraction, theta, nabla and sum, and
    none of the corrupted forms a TOML escape would give."""
    expect(block.locator("math mover").first).to_be_attached()
    expect(block.locator("math mfrac")).to_have_count(1)
    markup, text = block.inner_html(), block.inner_text()  # Chromium shows <mi>θ</mi> as italic 𝜃
    assert "<mi>θ</mi>" in markup and "∇" in markup and "∑" in markup
    assert not any(c in text for c in "\x08\x0c\t") and "heta" not in text and "rac{" not in text


def test_mentor_authors_with_the_structured_form(new_page, page_log, live_server, auth, tiny_model_dirs,
                                                 models_dir, timezone_id, expect):
    auth.create_user("mona", role="mentor")
    page = new_page()
    log_in(page, "mona")
    page.goto("/mentor/puzzles/new")
    form = page.locator("form.mentor-form")
    now = datetime.now(ZoneInfo(timezone_id)).replace(second=0, microsecond=0)
    form.get_by_label("Slug", exact=True).fill("math-prompts")
    form.get_by_label("Title", exact=True).fill("Means and angles")
    form.locator("textarea[name=statement_md]").fill("Look at the histogram.")
    form.locator("textarea[name=answer_md]").fill("They share a mean.")
    for label, when in (("Released", now - timedelta(days=1)), ("Deadline", now + timedelta(days=1)),
                        ("Answer revealed", now + timedelta(days=2))):
        form.get_by_label(label, exact=True).fill(local_input(when))

    # The figure: embedding_cosine (the new form's recipe) on a tiny local model.
    figure = page.locator("#figure-0")
    expect(figure.locator("select[name=figures-0-recipe]")).to_have_value("embedding_cosine")
    figure.get_by_label("Figure title").fill("Tiny GPT-2 cosines")
    model = tiny_model_dirs["gpt2"].relative_to(models_dir).as_posix()
    figure.get_by_label("model", exact=True).fill(f"models:{model}")
    figure.get_by_label("weights", exact=True).fill("raw")
    figure.get_by_label("device", exact=True).fill("cpu")
    figure.get_by_label("bins", exact=True).fill("50")

    # The numeric question: LaTeX typed as is, previewed live, reading a picked statistic.
    question = page.locator("#question-0")
    question.locator("textarea[name=questions-0-prompt]").fill(PROMPT)
    assert_math_prompt(page.locator("#questions-0-prompt-preview"), expect)
    question.locator("select[name=questions-0-statistic]").select_option("fig.mean_cos_to_mean")
    question.locator("input[name=questions-0-grader-param-scale]").fill("0.5")

    # A choice question: added, then its kind changed (the form re-renders with its fields).
    page.get_by_role("button", name="Add a question").click()
    second = page.locator("#question-1")
    second.locator("input[name=questions-1-key]").fill("why")
    second.locator("select[name=questions-1-kind]").select_option("choice")
    second = page.locator("#question-1")
    expect(second.locator("select[name=questions-1-grader]")).to_have_value("choice")
    expect(second.locator("textarea[name=questions-1-choices]")).to_be_visible()
    second.locator("textarea[name=questions-1-prompt]").fill("Why are the cosines positive?")
    second.locator("textarea[name=questions-1-choices]").fill("A shared mean vector\nHigh dimension")
    second.locator("input[name=questions-1-truth]").fill("A shared mean vector")
    expect(page.locator("textarea[name=questions-0-prompt]")).to_have_value(PROMPT)  # kept through the re-render
    assert page.locator("textarea[name=spec_toml]").count() == 0  # never the TOML view

    page.get_by_role("button", name="Create (unpublished)").click()
    expect(page.get_by_role("status").filter(has_text="Created puzzle 1 (math-prompts), unpublished")).to_be_visible()

    page.get_by_role("button", name="Compute now").click()
    assert run_queued_jobs(live_server.app) == ["succeeded"]
    expect(page.locator("#figure-fig")).to_contain_text("Computed", timeout=15_000)
    publish(page, expect)

    scholar = new_page()
    register(scholar, "sam", "Sam")
    scholar.goto("/puzzles/math-prompts")
    assert_math_prompt(scholar.locator("#q-mean"), expect)
    expect(scholar.locator("#q-why")).to_contain_text("Why are the cosines positive?")
    assert page_log.external(live_server.url) == []
    assert page_log.errors == [] and page_log.failed == []
