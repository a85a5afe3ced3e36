"""The "reproduce it yourself" notebook route: nothing of it before the reveal (a bare 404 for
scholars and anonymous visitors, whatever exists), a valid nbformat download after it."""
from __future__ import annotations

import nbformat

from tests.helpers import add_artifact, after_reveal, write_puzzle

STATS = {"mean_cos": 0.7315926, "std_cos": 0.1172839}
URL = "/puzzles/test-puzzle/figures/fig/notebook.ipynb"


def _puzzle(app, puzzles_dir, sync, with_artifact: bool = True) -> None:
    write_puzzle(puzzles_dir)
    sync()
    if with_artifact:
        add_artifact(app, "test-puzzle", "fig", STATS, revision="sha256:0123456789ab")


def _bare_404(resp) -> None:
    body = resp.get_data(as_text=True)
    assert resp.status_code == 404
    assert "0.7315926" not in body and "mean_cos" not in body and "nbformat" not in body


def test_before_the_reveal_nothing_for_scholars(app, client, auth, puzzles_dir, sync):
    _puzzle(app, puzzles_dir, sync)
    _bare_404(client.get(URL))  # anonymous
    auth.register()
    auth.login()
    _bare_404(client.get(URL))
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "notebook.ipynb" not in page
    # the same answer whether the artifact, the figure or the puzzle exists or not
    assert client.get("/puzzles/test-puzzle/figures/nope/notebook.ipynb").get_data() == client.get(URL).get_data()
    assert client.get("/puzzles/nope/figures/fig/notebook.ipynb").get_data() == client.get(URL).get_data()


def test_mentors_get_it_before_the_reveal(app, client, auth, puzzles_dir, sync):
    _puzzle(app, puzzles_dir, sync)
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    assert client.get(URL).status_code == 200
    assert "mentors only until the reveal" in client.get("/puzzles/test-puzzle").get_data(as_text=True)


def test_after_the_reveal_a_valid_notebook_download(app, client, auth, puzzles_dir, sync):
    _puzzle(app, puzzles_dir, sync)
    auth.register()
    auth.login()
    with after_reveal():
        page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
        resp = client.get(URL)
    assert URL in page
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="test-puzzle-fig.ipynb"'
    nb = nbformat.reads(resp.get_data(as_text=True), as_version=4)
    nbformat.validate(nb)
    source = "\n".join(c.source for c in nb.cells)
    assert "0.7315926" in source and "TransformerBridge.boot_transformers" in source
    assert "MODEL = 'tiny'" in source  # the artifact's provenance (tests.helpers.add_artifact)


def test_after_the_reveal_no_artifact_is_404(app, client, puzzles_dir, sync):
    _puzzle(app, puzzles_dir, sync, with_artifact=False)
    with after_reveal():
        assert client.get(URL).status_code == 404


def test_the_generator_is_torch_free():
    """The web process builds the notebooks: neither the generator nor the route imports torch."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; import puzzle_platform.content.notebooks, puzzle_platform.blueprints.puzzles; "
            "bad = [m for m in ('torch', 'transformer_lens', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
