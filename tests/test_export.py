"""``ccviz export`` and the offline log: what goes in, how big, and that it reads back.

The browser side (the file plays offline, to the end) is tests/browser/test_export.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ccviz_kernel import samples
from ccviz_kernel.cli import main
from ccviz_kernel.replays.export import (
    SCRIPT_ID,
    decode_log,
    encode_log,
    export_html,
    history_of,
    load_history,
    offline_log,
)
from ccviz_kernel.replays.load import load_replay
from ccviz_kernel.server.pages import STATIC

needs_bundle = pytest.mark.skipif(
    not (STATIC / "page.js").exists(), reason="the front end is not built"
)
#: The issue's budget for the long sample's file.
MAX_LONG_BYTES = 2_500_000


def _history(name: str = "long"):
    replay = load_replay(samples.path(name, "hooks"))
    return history_of(replay.game_id, replay.events)


def test_the_log_holds_the_engines_outputs_and_reads_back():
    history = _history()
    log = decode_log(encode_log(offline_log(history)))
    assert log["seq"] == history.seq == len(log["deltas"]) == len(log["effects"])
    assert log["initial"] == history.state_at(0)
    summary = history.summary()
    assert (log["times"], log["markers"], log["lanes"]) == (
        summary["times"],
        summary["markers"],
        summary["lanes"],
    )
    # Applying the deltas (what the browser does) gives the engine's own final state.
    from ccviz_kernel.engine.deltas import apply_in_place, clone

    state = clone(log["initial"])
    for deltas in log["deltas"]:
        apply_in_place(state, deltas)
    assert state == history.state_at(history.seq)


def test_the_log_is_compact_and_stable():
    text = encode_log(offline_log(_history()))
    assert len(text) < 100_000  # 796 events
    assert text == encode_log(offline_log(_history()))  # no timestamp: notebooks diff cleanly


def test_a_log_of_another_kind_is_refused():
    import base64
    import gzip

    other = base64.b64encode(gzip.compress(b'{"format": "ccviz-offline", "version": 99}')).decode()
    with pytest.raises(ValueError, match="version"):
        decode_log(other)
    with pytest.raises(ValueError, match="not a ccviz"):
        decode_log(base64.b64encode(gzip.compress(b"[]")).decode())


def test_no_hook_payload_goes_in(tmp_path: Path):
    """The log is what viewers see: texts redacted by the engine, no raw payloads."""
    from ccviz_kernel.events import parse_event

    secret = "sk-ant-api03-" + "A" * 90
    payloads = [
        {"hook_event_name": "UserPromptSubmit", "session_id": "s", "prompt": f"use {secret}"},
        {
            "hook_event_name": "PreToolUse",
            "session_id": "s",
            "tool_name": "Bash",
            "tool_use_id": "t1",
            "tool_input": {"command": f"curl -H 'x-api-key: {secret}' x"},
        },
    ]
    history = history_of("s", [parse_event(p, ts=1.0 + i) for i, p in enumerate(payloads)])
    text = decode_log(encode_log(offline_log(history)))
    assert secret not in repr(text)
    assert "tool_input" not in repr(text)


@needs_bundle
def test_export_of_the_long_sample_is_one_small_self_contained_file(tmp_path: Path, capsys):
    out = tmp_path / "replay.html"
    assert main(["export", str(samples.path("long", "hooks")), "-o", str(out)]) == 0
    size = out.stat().st_size
    assert size < MAX_LONG_BYTES, size
    assert f"{size / 1e6:.2f} MB" in capsys.readouterr().out
    html = out.read_text()
    # Nothing to fetch: no script or style from anywhere, the log inline.
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(?!data:)", html)
    assert f'id="{SCRIPT_ID}"' in html
    assert html.count("</script>") == 2  # the log's and the bundle's: nothing closes early


@needs_bundle
def test_export_of_a_stored_game_and_of_a_missing_one(tmp_path: Path, monkeypatch, capsys):
    from ccviz_kernel.store import EventStore

    monkeypatch.setenv("CCVIZ_HOME", str(tmp_path / "home"))
    replay = load_replay(samples.path("short", "hooks"))
    import json

    with EventStore() as store:
        store.append_many("g1", [(json.dumps(e.payload), e.ts) for e in replay.events])
    history = load_history("g1")
    assert history.seq == len(replay.events)
    assert main(["export", "g1", "-o", str(tmp_path / "g1.html")]) == 0
    assert main(["export", "no-such-game", "-o", str(tmp_path / "x.html")]) != 0
    assert "no such file, and no game" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


@needs_bundle
def test_game_export_from_python(tmp_path: Path):
    from ccviz_kernel.hub import Hub
    from ccviz_kernel.notebook.backends import LocalBackend
    from ccviz_kernel.notebook.handles import GameHandle
    from ccviz_kernel.store import EventStore

    hub = Hub(EventStore(":memory:"))
    replay = load_replay(samples.path("short", "hooks"))
    for event in replay.events:
        hub.ingest(event.payload, ts=event.ts)
    game = GameHandle(LocalBackend(hub), replay.game_id)
    size = game.export(tmp_path / "g.html")
    assert size == (tmp_path / "g.html").stat().st_size
    assert export_html(hub.history(replay.game_id)) == (tmp_path / "g.html").read_text()
