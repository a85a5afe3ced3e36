"""Statement rendering, the offline plotly bundle, the feed, figures and time display."""
import xml.etree.ElementTree as ET

from tests.helpers import add_artifact, write_puzzle


def test_statement_markdown_is_sanitized_math_and_spoilers(app, client, puzzles_dir, sync):
    folder = write_puzzle(puzzles_dir)
    (folder / "statement.md").write_text(
        "Hello $x^2$\n\n::: spoiler Conventions\nhidden bit\n:::\n\n"
        "<script>alert(1)</script> [a](javascript:alert(2)) <img src=x onerror=alert(3)>\n")
    sync()
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "<math" in page and "<msup>" in page
    assert '<details class="spoiler"><summary>Conventions</summary>' in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert 'href="javascript' not in page
    assert "<img" not in page


def test_plotly_served_offline(client):
    r = client.get("/vendor/plotly.min.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript" and len(r.data) > 1_000_000


def test_figure_embedded_as_json(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.3})
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert 'id="fig-json-fig"' in page and '"type": "bar"' in page.replace('"type":"bar"', '"type": "bar"')
    assert "/vendor/plotly.min.js" in page


def test_atom_feed_lists_released_puzzles(client, puzzles_dir, sync):
    write_puzzle(puzzles_dir, number=1, slug="one", title="First")
    write_puzzle(puzzles_dir, number=2, slug="two", title="Second", state="upcoming")
    sync()
    r = client.get("/feed.atom")
    assert r.mimetype == "application/atom+xml"
    root = ET.fromstring(r.data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.find("a:title", ns).text for e in root.findall("a:entry", ns)]
    assert titles == ["Puzzle 1: First"]


def test_times_are_utc_time_elements(client, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert '<time datetime="' in page and 'Z" class="localtime" title="' in page


def test_errors_are_json_for_json_clients(client):
    r = client.get("/puzzles/nope", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.get_json()["error"]["message"]
