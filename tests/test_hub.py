from __future__ import annotations

import json

import pytest
from common import FIXTURES

from ccviz_kernel.engine.deltas import apply_deltas
from ccviz_kernel.events import PayloadError
from ccviz_kernel.hub import Hub
from ccviz_kernel.store import EventStore

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hub(tmp_path):
    clock = Clock()
    h = Hub(EventStore(tmp_path / "e.sqlite3"), clock=clock, idle_seconds=600)
    h.clock_obj = clock
    yield h
    h.store.close()


def test_ingest_logs_applies_and_tells_listeners(hub):
    seen = []
    hub.subscribe(lambda gid, applied: seen.append((gid, applied.seq)))
    for line in LINES:
        gid, seq = hub.ingest(line)
    assert seq == len(LINES) == hub.store.last_seq(gid)
    assert [s for _, s in seen] == list(range(1, len(LINES) + 1))
    assert hub.game(gid).peek("lastEventAt") == 1_700_000_000_000  # stamped by the hub's clock


def test_eviction_and_rebuild_from_the_log(hub, tmp_path):
    for line in LINES:
        gid, _ = hub.ingest(line)
    before = hub.snapshot(gid)
    hub.clock_obj.now += 601
    assert hub.evict_idle(lambda g: False) == [gid]
    assert hub.live_ids() == []
    assert hub.snapshot(gid) == before  # rebuilt on demand
    hub.clock_obj.now += 601
    assert hub.evict_idle(lambda g: True) == []  # watched games stay
    restarted = Hub(EventStore(tmp_path / "e.sqlite3"))
    assert restarted.snapshot(gid) == before
    restarted.store.close()


def test_a_rule_that_fails_is_logged_once_and_the_game_goes_on(hub, monkeypatch, caplog):
    """A bug in a rule (an event nobody foresaw) must not make a game unjoinable: the event
    is kept, the game goes on, the error is logged once with its traceback, and a rebuild
    from the log reaches the same state without logging it again."""
    from ccviz_kernel.engine import game as game_module

    def broken_stop(game, event):
        game._set(("caption",), "half done")  # a change before the rule fails
        raise TypeError("unhashable type: 'dict'")

    monkeypatch.setitem(game_module._HANDLERS, "Stop", broken_stop)
    for line in LINES[:10]:
        gid, _ = hub.ingest(line)
    watched = hub.snapshot(gid)
    stop = {"session_id": gid, "hook_event_name": "Stop"}
    with caplog.at_level("ERROR", logger="ccviz.server"):
        _, seq = hub.ingest(stop)
    assert seq == 11 == hub.store.last_seq(gid)
    (record,) = caplog.records
    assert "could not follow event 11 (Stop)" in record.getMessage()
    assert record.exc_info[0] is TypeError
    assert apply_deltas(watched, hub.deltas_since(gid, 10)) == hub.snapshot(gid)
    assert hub.snapshot(gid)["caption"] == "half done"
    hub.ingest(LINES[10])  # the next event applies as usual
    after = hub.snapshot(gid)
    caplog.clear()
    hub.clock_obj.now += 601
    assert hub.evict_idle(lambda g: False) == [gid]
    with caplog.at_level("ERROR", logger="ccviz.server"):
        assert hub.snapshot(gid) == after  # rebuilt from the log: the same game
    assert caplog.records == []


def test_deltas_since_brings_a_viewer_up_to_date(hub):
    for line in LINES[:10]:
        gid, _ = hub.ingest(line)
    old = hub.snapshot(gid)
    for line in LINES[10:]:
        hub.ingest(line)
    assert apply_deltas(old, hub.deltas_since(gid, 10)) == hub.snapshot(gid)
    assert hub.deltas_since(gid, len(LINES)) == []
    assert hub.deltas_since(gid, len(LINES) + 5) is None
    assert hub.deltas_since("unknown", 0) is None


def test_bad_payloads_are_refused_before_the_log(hub):
    with pytest.raises(PayloadError):
        hub.ingest("{nope")
    gid, _ = hub.ingest(LINES[0])
    with pytest.raises(PayloadError, match="unknown place"):
        hub.act(gid, {"type": "move", "agent": "main", "place": "moon"})
    with pytest.raises(PayloadError, match="unknown action type"):
        hub.act(gid, {"type": "explode"})
    with pytest.raises(PayloadError, match="does not match"):
        hub.act(gid, {"type": "hook", "payload": {"hook_event_name": "Stop", "session_id": "x"}})
    assert hub.store.last_seq(gid) == 1
    assert hub.act(gid, {"type": "say", "agent": "main", "text": "hi"}) == 2
    assert hub.act(gid, {"type": "hook", "payload": {"hook_event_name": "Stop"}}) == 3


def test_delivery_keys_make_ingest_exactly_once(hub):
    assert hub.ingest(LINES[0], key="k1")[1] == 1
    assert hub.ingest(LINES[0], key="k1")[1] is None
    assert hub.game(hub.live_ids()[0]).seq == 1


def test_summaries_list_live_and_stored_games(hub, tmp_path):
    gid, _ = hub.ingest(LINES[0])
    hub.ingest('{"hook_event_name": "Stop", "session_id": "other"}')
    rows = hub.summaries()
    assert {r["gameId"] for r in rows} == {gid, "other"}
    assert rows[0]["status"] in {"idle", "active"}


def test_stored_games_not_in_memory_still_have_a_title_a_folder_and_an_end(tmp_path):
    from ccviz_kernel import samples

    path = tmp_path / "events.sqlite3"
    first = Hub(EventStore(path))
    lines = samples.path("short", "hooks").read_text().splitlines()
    for line in lines:
        first.ingest(line)
    gid = json.loads(lines[0])["session_id"]
    first.store.close()
    later = Hub(EventStore(path))  # a restarted server: nothing in memory yet
    [row] = later.summaries()
    assert row["live"] is False and row["gameId"] == gid and row["seq"] == len(lines)
    assert row["title"].startswith("The jump feels floaty")
    assert row["cwd"] == "/home/dev/pixel-quest" and row["status"] == "ended"
    assert gid not in later.live_ids()  # the row did not load the game


# -- redaction before the store (issue 11, point 4) ---------------------------------------

PGPASSWORD = "Vq7mZ2pLx9w-hT3"
PROMPT = {
    "hook_event_name": "UserPromptSubmit",
    "session_id": "s-redact",
    "cwd": "/home/dev/pixel-quest",
    "prompt": f"Please fix it: PGPASSWORD={PGPASSWORD} psql -h db",
}


def stored_text(hub: Hub, game_id: str) -> str:
    return "\n".join(row.payload for row in hub.store.events(game_id))


def test_payloads_are_redacted_before_the_store_and_the_engine(hub):
    caller = json.loads(json.dumps(PROMPT))
    hub.ingest(caller)
    assert caller == PROMPT  # the caller's dict is never modified
    assert PGPASSWORD not in stored_text(hub, "s-redact")
    assert "PGPASSWORD=[REDACTED]" in stored_text(hub, "s-redact")
    live = hub.snapshot("s-redact")
    assert PGPASSWORD not in json.dumps(live)
    # the game rebuilt from the store is the game viewers saw
    hub.idle_seconds = 0
    hub.evict_idle()
    assert hub.snapshot("s-redact")["title"] == live["title"]


def test_payloads_without_secrets_take_the_fast_path(hub):
    payload = json.loads(LINES[1])
    gid, _ = hub.ingest(payload)
    assert next(iter(hub.store.events(gid))).payload == json.dumps(payload, separators=(",", ":"))


def test_keep_raw_stores_what_came_and_viewers_still_see_it_redacted(tmp_path):
    hub = Hub(EventStore(tmp_path / "raw.sqlite3"), keep_raw=True)
    start = {**PROMPT, "hook_event_name": "SessionStart", "cwd": f"/srv/PGPASSWORD={PGPASSWORD}"}
    hub.ingest(start)
    hub.ingest(PROMPT)
    assert PGPASSWORD in stored_text(hub, "s-redact")
    assert PGPASSWORD not in json.dumps(hub.snapshot("s-redact"))
    hub.idle_seconds = 0
    hub.evict_idle()
    # the lobby row of a stored game is made from the raw log: redacted as the engine does
    (row,) = hub.summaries()
    assert row["live"] is False and PGPASSWORD not in json.dumps(row)
    hub.store.close()


def test_serve_keep_raw_flag_and_the_jupyter_trait():
    from ccviz_kernel.cli import _parser
    from ccviz_kernel.hosts.jupyter.app import CcvizExtension

    assert _parser().parse_args(["serve", "--keep-raw"]).keep_raw is True
    assert _parser().parse_args(["serve"]).keep_raw is False
    assert CcvizExtension().keep_raw is False
    assert CcvizExtension.class_traits()["keep_raw"].metadata.get("config") is True
