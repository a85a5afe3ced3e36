from tests.helpers import write_puzzle


def test_index_empty(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "No puzzles yet" in r.get_data(as_text=True)


def test_sync_and_show(client, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    out = sync()
    assert "created" in out
    r = client.get("/puzzles/test-puzzle")
    assert r.status_code == 200, r.get_data(as_text=True)
