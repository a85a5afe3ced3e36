"""The structured editor: figures and questions as form fields that round-trip with the TOML
view, add/remove/move buttons that save nothing, pickers filled from the registries, and
strings corrupted by TOML escapes refused (web form and puzzle folders alike)."""
from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Puzzle, Setting
from tests.helpers import figure_toml, mean_question, question_toml, write_puzzle
from tests.test_mentor_authoring import login_as, page_text, post, puzzle_form

REPO = Path(__file__).resolve().parent.parent
MATH = r"Let $\bar{x} = \frac{a}{b}$, $\theta$, $\nabla f$ and $\sum_i x_i$: what is it?"


class FormFields(HTMLParser):
    """The fields of the page's form.mentor-form as a browser would submit them (no button)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and "mentor-form" in a.get("class", ""):
            self._in_form = True
        if not self._in_form or "name" not in a and tag != "option":
            return
        if tag == "input" and a.get("type") not in ("submit", "checkbox"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select, self._first_option = a["name"], None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = a.get("value", "")
                self.fields.setdefault(self._select, self._first_option)
            if "selected" in a:
                self.fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            value = self.fields[self._textarea]
            self.fields[self._textarea] = value[1:] if value.startswith("\n") else value
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def fields_of(resp) -> dict[str, str]:
    parser = FormFields()
    parser.feed(resp.get_data(as_text=True))
    parser.fields.pop("csrf_token", None)
    return parser.fields


def puzzle_one(app, sync, puzzles_dir) -> Puzzle:
    shutil.copytree(next((REPO / "puzzles").glob("01-*")), puzzles_dir / "01-suspiciously-similar-embeddings")
    sync()
    with app.app_context():
        return db.session.scalar(sa.select(Puzzle).where(Puzzle.number == 1))


def source_hash(app, slug: str) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(Puzzle.source_hash).where(Puzzle.slug == slug))


def test_puzzle_one_round_trips_form_toml_form_unchanged(app, client, auth, puzzles_dir, sync):
    puzzle = puzzle_one(app, sync, puzzles_dir)
    login_as(auth, "admin")
    url = f"/mentor/puzzles/{puzzle.slug}/edit"
    before = source_hash(app, puzzle.slug)
    form = fields_of(client.get(url))
    assert form["view"] == "form" and "spec_toml" not in form
    assert form["figures-0-param-model"] == "gpt-neo-small" and form["questions-4-kind"] == "choice"
    assert form["questions-1-prompt"].startswith(r"Let $\bar{x}$ be the mean")  # typed literally
    assert form["questions-4-choices"].count("\n") == 3 and form["questions-5-rubric-4-points"] == "-3"

    as_toml = fields_of(post(client, url, {**form, "op": "view-toml"}))
    assert as_toml["view"] == "toml" and "figures-0-key" not in as_toml
    assert r'$\\bar{x}$' in as_toml["spec_toml"]  # escaped in the TOML view
    back = fields_of(post(client, url, {**as_toml, "op": "view-form"}))
    assert back == form
    again = fields_of(post(client, url, {**back, "op": "view-toml"}))
    assert again["spec_toml"] == as_toml["spec_toml"]  # TOML -> form -> TOML is stable

    resp = post(client, url, {**back, "op": "save"}, follow_redirects=True)
    assert resp.status_code == 200 and "Saved: nothing changed." in page_text(resp)
    assert source_hash(app, puzzle.slug) == before


def test_buttons_change_the_form_and_save_nothing(app, client, auth, puzzles_dir, sync):
    puzzle = puzzle_one(app, sync, puzzles_dir)
    login_as(auth, "mentor")
    url = f"/mentor/puzzles/{puzzle.slug}/edit"
    before = source_hash(app, puzzle.slug)
    form = fields_of(client.get(url))
    keys = lambda f: [f[k] for k in sorted((k for k in f if k.startswith("questions-") and k.endswith("-key")),
                                           key=lambda k: int(k.split("-")[1]))]
    order = keys(form)
    resp = post(client, url, {**form, "op": "remove-question-0"})
    assert resp.status_code == 200 and "Not saved yet" in page_text(resp)
    assert keys(fields_of(resp)) == order[1:]
    moved = fields_of(post(client, url, {**form, "op": "down-question-0"}))
    assert keys(moved) == [order[1], order[0], *order[2:]]
    assert keys(fields_of(post(client, url, {**form, "op": "up-question-1"}))) == keys(moved)
    added = fields_of(post(client, url, {**form, "op": "add-question"}))
    assert keys(added) == [*order, "q1"] and added["questions-6-prompt"] == ""
    figs = fields_of(post(client, url, {**form, "op": "add-figure"}))
    assert figs["figures-2-key"] == "fig1" and figs["figures-2-recipe"] == "embedding_cosine"
    rubric = fields_of(post(client, url, {**form, "op": "add-rubric-5"}))
    assert rubric["questions-5-rubric-5-id"] == "" and "questions-5-rubric-6-id" not in rubric
    less = fields_of(post(client, url, {**form, "op": "remove-rubric-5-0"}))
    assert less["questions-5-rubric-0-id"] == "cosine_to_mean"
    assert source_hash(app, puzzle.slug) == before  # none of these saved


def test_math_typed_in_the_form_is_kept_and_rendered(app, client, auth):
    login_as(auth, "mentor")
    form = fields_of(client.get("/mentor/puzzles/new"))
    base = puzzle_form()
    form.update({k: base[k] for k in ("number", "slug", "title", "statement_md", "answer_md",
                                      "release_at", "deadline_at", "reveal_at", "tz")})
    form["questions-0-prompt"] = MATH
    form["figures-0-param-model"] = "models:tiny"
    form["figures-0-param-weights"] = "raw"
    resp = post(client, "/mentor/puzzles/new", {**form, "op": "save"})
    assert resp.status_code == 303, page_text(resp)
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == "web-puzzle"))
        assert puzzle.questions[0].prompt_md == MATH
        assert puzzle.figures[0].params["weights"] == "raw" and puzzle.figures[0].params["bins"] == 200
    rendered = post(client, "/mentor/preview", {"markdown": MATH}).get_json()["html"]
    assert "<mover" in rendered and "\u03b8" in rendered and "\u2207" in rendered and "\u2211" in rendered
    assert "<mfrac>" in rendered and not any(c in rendered for c in "\x08\x0c\t")


def test_statistics_and_params_come_from_the_registries(app, client, auth):
    login_as(auth, "mentor")
    form = fields_of(client.get("/mentor/puzzles/new"))
    text = page_text(client.get("/mentor/puzzles/new"))
    from puzzle_platform.recipes import RECIPES
    spec = RECIPES["embedding_cosine"]
    assert '<option value="fig.mean_cos"' in text and dict(spec.statistics)["mean_cos"] in text
    assert "fig.sample_mean_cos" not in text  # only with histogram = "sample"
    assert 'placeholder="200"' in text and 'placeholder="5"' not in text  # bins' default; a forecast
    assert 'placeholder="100"' in text  # a forecast's default versions (DEFAULT_ATTEMPTS)
    form["figures-0-param-histogram"] = "sample"
    form["questions-0-mode"] = "challenge"
    text = page_text(post(client, "/mentor/puzzles/new", {**form, "op": "refresh"}))
    assert '<option value="fig.sample_mean_cos"' in text and 'placeholder="5"' in text
    # A choice question offers only the choice grader, and a choices box.
    form["questions-0-kind"] = "choice"
    text = page_text(post(client, "/mentor/puzzles/new", {**form, "op": "refresh"}))
    assert '<option value="choice"' in text and '<option value="interval"' not in text.split("questions-0-grader")[1][:400]
    assert 'name="questions-0-choices"' in text


def test_parameter_values_are_toml_or_text(app, client, auth):
    login_as(auth, "mentor")
    form = fields_of(client.get("/mentor/puzzles/new"))
    form.update({"figures-0-param-model": "models:tiny", "figures-0-param-center": "true",
                 "figures-0-param-tokens": "50", "figures-0-param-matrix": '"W_U"',
                 "questions-0-grader-param-scale": "0.25"})
    toml = fields_of(post(client, "/mentor/puzzles/new", {**form, "op": "view-toml"}))["spec_toml"]
    import tomllib
    table = tomllib.loads(toml)
    assert table["figures"][0]["params"] == {"model": "models:tiny", "matrix": "W_U", "center": True, "tokens": 50}
    assert table["questions"][0]["grader_params"] == {"scale": 0.25}
    form["figures-0-param-tokens"] = "fifty"
    resp = post(client, "/mentor/puzzles/new", {**form, "number": "3", "slug": "p", "title": "T",
                                                "release_at": "2030-01-01T00:00", "deadline_at": "2030-01-02T00:00",
                                                "reveal_at": "2030-01-03T00:00", "op": "save"})
    assert resp.status_code == 400 and "parameter 'tokens'" in page_text(resp)
    assert fields_of(resp)["figures-0-param-tokens"] == "fifty"  # shown again as typed


def test_model_field_offers_the_reported_models(app, client, auth):
    login_as(auth, "mentor")
    assert "No worker has reported its models yet" in page_text(client.get("/mentor/puzzles/new"))
    from puzzle_platform.timeutil import iso, utcnow
    with app.app_context():
        Setting.put("models:host:1", {"worker": "host:1", "at": iso(utcnow()), "offline": True,
                                      "models": ["gpt2-small", "models:tiny"]})
        db.session.commit()
    text = page_text(client.get("/mentor/puzzles/new"))
    assert '<option value="models:tiny">' in text and '<option value="gpt2-small">' in text
    assert "1 worker(s) reported 2 model(s)" in text and "may not download" in text
    assert 'list="reported-models"' in text


BAD_STRINGS = [  # (as written in a TOML basic string, what the hint says to write)
    (r"Is $\bar{x}$ big?", r'write "\\bar"'),
    (r"What is $\frac{a}{b}$?", r'write "\\frac"'),
    (r"Estimate $\theta$.", r'write "\\theta"'),
    (r"Is $\nabla f$ zero?", r'write "\\nabla"'),
]


def test_toml_escapes_that_corrupt_math_are_refused_on_the_web(app, client, auth):
    login_as(auth, "mentor")
    for prompt, hint in BAD_STRINGS:
        spec = figure_toml() + mean_question().replace('"Predict the mean cosine."', f'"{prompt}"')
        resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec))
        text = page_text(resp)
        assert resp.status_code == 400 and "prompt contains a control character" in text and hint in text, text
        assert "literal string" in text
    spec = figure_toml() + mean_question().replace('"Predict the mean cosine."', r'"$\sum_i x_i$"')
    text = page_text(post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec)))
    assert "Unescaped" in text and r'write two ("\\sum")' in text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Puzzle)) == 0
    # A control character typed into a structured field is refused as well.
    form = fields_of(client.get("/mentor/puzzles/new"))
    form.update({k: v for k, v in puzzle_form().items() if k != "spec_toml"})
    form.update({"figures-0-param-model": "models:tiny", "questions-0-unit": "a\x08b", "op": "save"})
    resp = post(client, "/mentor/puzzles/new", form)
    assert resp.status_code == 400 and "unit contains a control character (U+0008" in page_text(resp)


def test_toml_escapes_that_corrupt_math_are_refused_in_puzzle_folders(runner, puzzles_dir):
    for prompt, hint in [*BAD_STRINGS, (r"Sum $\sum_i x_i$.", r'write two ("\\sum")')]:
        write_puzzle(puzzles_dir, questions=question_toml("mean", "x", kind="numeric", grader="interval",
                                                          grader_params={"scale": 0.5}, statistic="fig.mean_cos")
                     .replace('prompt = "x"', f'prompt = "{prompt}"'))
        result = runner.invoke(args=["puzzles", "sync"])
        assert result.exit_code != 0 and hint in result.output, result.output
    literal = question_toml("mean", "x", kind="numeric", grader="interval", grader_params={"scale": 0.5},
                            statistic="fig.mean_cos").replace('prompt = "x"', f"prompt = '{MATH}'")
    write_puzzle(puzzles_dir, questions=literal)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0, result.output


def test_unknown_op_and_bad_toml_switch(app, client, auth):
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml="[[questions]\nkey =", op="view-form"))
    assert resp.status_code == 400 and "not valid TOML" in page_text(resp)
    assert fields_of(resp)["spec_toml"] == "[[questions]\nkey ="
    resp = post(client, "/mentor/puzzles/new", puzzle_form(op="bogus"))
    assert resp.status_code == 200 and "Not saved yet" in page_text(resp)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Puzzle)) == 0


# Line breaks that are meant: display math with a line starting like a LaTeX command, text
# between two dollar amounts, an aligned environment. Not refused anywhere.
MEANT_BREAKS = [
    "The heat equation\n$$\nu_t = \\alpha u_{xx}\n$$\nWhat is $\\alpha$?",
    "It costs $5 per\nequation and $6 per figure. How many?",
    "Write $x$ and\n$$\n\\begin{aligned}\na &= b \\\\\not a &= c\n\\end{aligned}\n$$",
]


def test_line_breaks_typed_in_prompts_are_kept(app, client, auth, runner, puzzles_dir):
    login_as(auth, "admin")
    for i, prompt in enumerate(MEANT_BREAKS):  # typed into the structured form
        form = fields_of(client.get("/mentor/puzzles/new"))
        form.update({k: v for k, v in puzzle_form(number=str(10 + i), slug=f"p{i}").items() if k != "spec_toml"})
        form.update({"figures-0-param-model": "models:tiny", "questions-0-prompt": prompt, "op": "save"})
        resp = post(client, "/mentor/puzzles/new", form)
        assert resp.status_code == 303, page_text(resp)
    with app.app_context():
        saved = db.session.scalars(sa.select(Puzzle).order_by(Puzzle.number)).all()
        assert [p.questions[0].prompt_md for p in saved] == MEANT_BREAKS
    # Exported, they are multi-line "..." strings with real line breaks: a sync reads them back.
    resp = post(client, "/mentor/puzzles/p0/export", follow_redirects=True)
    assert resp.status_code == 200 and "Exported to" in page_text(resp)
    assert '"""' in (puzzles_dir / "10-p0" / "puzzle.toml").read_text()
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0 and "10-p0: unchanged" in result.stdout, result.output
    # In the TOML view: real line breaks in a """...""" string, a '''...''' string, and a \n
    # escape before a word that is no LaTeX command are all kept.
    for i, (prompt, toml) in enumerate([
            (MEANT_BREAKS[0], '"""' + MEANT_BREAKS[0].replace("\\", "\\\\") + '"""'),
            (MEANT_BREAKS[2], "'''" + MEANT_BREAKS[2] + "'''"),
            (MEANT_BREAKS[1], r'"It costs $5 per\nequation and $6 per figure. How many?"')]):
        spec = figure_toml() + mean_question().replace('"Predict the mean cosine."', toml)
        resp = post(client, "/mentor/puzzles/new", puzzle_form(number=str(20 + i), slug=f"t{i}", spec_toml=spec))
        assert resp.status_code == 303, page_text(resp)
        with app.app_context():
            assert db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == f"t{i}")).questions[0].prompt_md == prompt
    # A \n escape that swallowed \nu is still refused, with the hint.
    spec = figure_toml() + mean_question().replace('"Predict the mean cosine."', r'"$$\nu_t = x$$"')
    resp = post(client, "/mentor/puzzles/new", puzzle_form(number="30", slug="bad", spec_toml=spec))
    assert resp.status_code == 400 and r'write "\\nu"' in page_text(resp)


CHOICE_TOML = '''
[[questions]]
key = "ch"
prompt = "Pick one"
kind = "choice"
grader = "choice"
choices = ["true", "1.5", " spaced ", "a = b"]
truth = " spaced "

[[questions]]
key = "txt"
prompt = "Type the word"
kind = "text"
grader = "exact_text"
truth = "42"
'''


def _truths(app) -> dict:
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == "web-puzzle"))
        return {q.key: (q.truth_literal or {}).get("value") for q in puzzle.questions}


def test_choice_and_text_truths_are_plain_text(app, client, auth):
    login_as(auth, "admin")
    assert post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=CHOICE_TOML)).status_code == 303
    url = "/mentor/puzzles/web-puzzle/edit"
    before = source_hash(app, "web-puzzle")
    page = client.get(url)
    form = fields_of(page)
    # Shown as typed, never as TOML; the choice's spaces are part of it.
    assert form["questions-0-truth"] == " spaced " and form["questions-1-truth"] == "42"
    assert form["questions-0-choices"] == "true\n1.5\n spaced \na = b"
    assert '<datalist id="questions-0-truth-choices"' in page_text(page)
    assert '<option value="1.5"></option>' in page_text(page)
    # Saved untouched: nothing changes (no choice is trimmed, so nothing would regrade).
    resp = post(client, url, {**form, "op": "save"}, follow_redirects=True)
    assert "Saved: nothing changed." in page_text(resp) and source_hash(app, "web-puzzle") == before
    # A truth that reads as a TOML number or boolean is still the text typed.
    for choice, text in (("1.5", "7"), ("true", "2024-01-01"), ("a = b", "true")):
        resp = post(client, url, {**form, "questions-0-truth": choice, "questions-1-truth": text, "op": "save"})
        assert resp.status_code == 303, page_text(resp)
        assert _truths(app) == {"ch": choice, "txt": text}
    resp = post(client, url, {**form, "questions-0-truth": "2", "op": "save"})
    assert resp.status_code == 400 and _truths(app)["ch"] == "a = b"
