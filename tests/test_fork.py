"""Taking over a replay: a fork at a marker takes rule changes and injected events, and the
recording it came from does not change."""

from __future__ import annotations

import pytest

from ccviz_kernel import samples
from ccviz_kernel.errors import PayloadError
from ccviz_kernel.hub import Hub
from ccviz_kernel.notebook.backends import LocalBackend
from ccviz_kernel.notebook.connect import Connection
from ccviz_kernel.store import EventStore


@pytest.fixture
def conn():
    """A script's connection (no running loop here): its own loop thread owns the hub."""
    connection = Connection(LocalBackend(Hub(EventStore(":memory:"))), url=None, kind="local")
    yield connection
    connection.close()


def test_fork_at_a_marker_changes_the_fork_only(conn):
    r = conn.replay(samples.path("long"), speed=16, play=False)
    failure = r.markers("failure")[0]
    assert r.seek(failure) == failure["seq"]
    before = r.game.snapshot()

    sandbox = r.fork()
    assert sandbox.id == f"{r.game.id}~fork-1"
    # The same state as the replay at that moment.
    assert sandbox.snapshot()["agents"] == before["agents"]
    assert sandbox.snapshot()["seq"] == failure["seq"]

    sandbox.rules["Read"] = "observatory"
    sandbox.inject(
        {
            "hook_event_name": "PreToolUse",
            "tool_name": "Read",
            "tool_input": {"file_path": "src/player.ts"},
            "tool_use_id": "what-if-1",
        }
    )
    sandbox.say("main", "what if I had read the file first?")
    after = sandbox.snapshot()
    assert after["seq"] == failure["seq"] + 3
    assert after["agents"]["main"]["place"] == "observatory"
    assert sandbox.rules["Read"] == "observatory"

    # The recording is as it was.
    assert r.game.snapshot() == before
    assert r.game.rules.place_for("Read") == "library"
    with pytest.raises(PayloadError, match="fork"):
        r.game.say("main", "no")
    # Both are games of the connection, side by side.
    assert set(conn.games) == {r.game.id, sandbox.id}
    assert conn.latest().id in (r.game.id, sandbox.id)


def test_steer_gives_a_sandbox_and_second_forks_get_new_ids(conn):
    sandbox = conn.replay(samples.path("short"), steer=True, at=4)
    assert sandbox.snapshot()["seq"] == 4
    sandbox.move("main", "terminal")
    assert sandbox.agents["main"].place == "terminal"
    again = sandbox.fork()
    assert again.id == f"{sandbox.id}~fork-1"


def test_seek_says_when_it_clamps(conn, capsys):
    r = conn.replay(samples.path("short"), play=False)
    with pytest.warns(UserWarning, match="it is at"):
        assert r.seek(10_000) == r.total
    assert "it is at" in capsys.readouterr().out


def test_a_script_replay_plays_and_waits(conn):
    r = conn.replay(samples.path("short"), speed=64)
    assert r.wait(timeout=60) == r.total
    assert not r.playing
    assert conn.latest().agents["main"].place


def test_an_empty_hub_says_how_to_get_a_game(conn):
    from ccviz_kernel.errors import GameNotFound

    with pytest.raises(GameNotFound, match="no games yet"):
        conn.latest()
    with pytest.raises(GameNotFound, match="samples"):
        conn.game()


def test_hub_fork_ids_and_errors():
    hub = Hub(EventStore(":memory:"))
    hub.ingest({"hook_event_name": "SessionStart", "session_id": "s1"})
    assert hub.fork("s1") == "s1~fork-1"
    assert hub.fork("s1") == "s1~fork-2"
    with pytest.raises(PayloadError, match="already exists"):
        hub.fork("s1", new_id="s1~fork-1")
    with pytest.raises(PayloadError, match="no game"):
        hub.fork("nope")
    assert hub.game("s1").seq == 1  # the original took nothing
