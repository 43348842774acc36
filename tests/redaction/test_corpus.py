"""The planted-secrets corpus through a real server: no channel a viewer has shows one.

Every secret of :mod:`corpus` (≥ 30 formats) goes into every place (≥ 15 fields of real
hook payloads), one game per secret, posted to a standalone server over HTTP. A msgpack
socket.io viewer joins every game before and after, and records the join snapshots, the
deltas, the effects, the lobby (``list-games`` and its pushes) and the history reads;
then the HTTP API, the server log and the store file (SQLite, every byte, with its WAL)
are read. 0 fragments of any secret may appear anywhere. The same corpus replayed (no
hub, no store) shows the engine's own redaction covers a replay's viewers too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from ccviz_kernel.config import db_path
from ccviz_kernel.engine.game import Game
from ccviz_kernel.events import parse_event
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.hub import Hub

from .corpus import PLACES, Secret, leaks, place, secrets

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def session_of(secret: Secret) -> str:
    return f"corpus-{secret.name}"


def payloads(secret: Secret) -> list[dict[str, Any]]:
    """One game: its start, then the secret in every place it fits."""
    sid = session_of(secret)
    out: list[dict[str, Any]] = [
        {"hook_event_name": "SessionStart", "session_id": sid, "cwd": "/home/dev/pixel-quest"}
    ]
    for n, where in enumerate(PLACES):
        payload = place(secret, where, sid, n)
        if payload is not None:
            out.append(payload)
    return out


def test_corpus_is_big_enough():
    formats = secrets()
    assert len(formats) >= 30 and len({s.name for s in formats}) == len(formats)
    assert len(PLACES) >= 15
    cells = sum(len(payloads(s)) - 1 for s in formats)
    assert cells >= 30 * 15
    for secret in formats:  # each planted secret is really in its payloads (no typo)
        assert leaks(json.dumps(payloads(secret)), secret), secret.name


def leaked(channels: dict[str, str], formats: tuple[Secret, ...]) -> dict[str, list[str]]:
    """channel → names of the secrets a fragment of which it holds."""
    found: dict[str, list[str]] = {}
    for channel, text in channels.items():
        names = [s.name for s in formats if leaks(text, s)]
        if names:
            found[channel] = names
    return found


class Viewer:
    """One msgpack socket.io client that joins every game and keeps all it is sent."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(serializer="msgpack")
        self.received: list[tuple[str, Any]] = []
        for event in ("game-state-update", "visualization-event", "games"):
            self.sio.on(event, self._keep(event))

    def _keep(self, event: str):
        async def handler(data: Any) -> None:
            self.received.append((event, data))

        return handler

    def text(self, *events: str) -> str:
        return json.dumps([d for e, d in self.received if e in events], default=str)

    def effects(self) -> str:
        """Every effect: inside updates (protocol §4), and replay status events."""
        inside = [
            e for ev, d in self.received if ev == "game-state-update" for e in d.get("effects", ())
        ]
        return json.dumps(
            [*inside, *(d for ev, d in self.received if ev == "visualization-event")], default=str
        )


async def read_everything(host, formats, *, replay: str | None = None) -> dict[str, str]:
    """Post the corpus, and gather what every viewer channel shows."""
    token = host.server.auth.ingest_token
    viewer = Viewer()
    await viewer.sio.connect(host.url, transports=["websocket"])
    games = [session_of(s) for s in formats] + ([replay] if replay else [])
    lobby = [await viewer.sio.call("list-games", {}, timeout=10)]
    joins = []
    for gid in games:
        joins.append(await viewer.sio.call("join-game", {"gameId": gid}, timeout=10))
    expected: dict[str, int] = {}
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}"}
        for secret in formats:
            for payload in payloads(secret):
                async with http.post(host.url + "api/hooks", json=payload, headers=headers) as r:
                    assert r.status == 204, await r.text()
            expected[session_of(secret)] = len(payloads(secret))
        # a controller's say action carries text as well
        say = {"type": "say", "agent": "main", "text": formats[0].snippet}
        async with http.post(
            f"{host.url}api/games/{session_of(formats[0])}/actions", json=say, headers=headers
        ) as r:
            assert r.status in (200, 204), await r.text()
        expected[session_of(formats[0])] += 1
        for _ in range(200):  # the frames reach the viewer at 30/s
            if all(host.hub.game(g).seq >= n for g, n in expected.items()):
                await asyncio.sleep(0.3)
                break
            await asyncio.sleep(0.05)
        api = []
        async with http.get(host.url + "api/games") as r:
            api.append(await r.text())
        for gid in games:
            for path in (f"api/games/{gid}", f"api/games/{gid}/events"):
                async with http.get(host.url + path) as r:
                    assert r.status == 200, path
                    api.append(await r.text())
    for gid in games:  # late joiners: a fresh snapshot, and deltas since the start
        joins.append(await viewer.sio.call("join-game", {"gameId": gid}, timeout=10))
        joins.append(await viewer.sio.call("join-game", {"gameId": gid, "since": 0}, timeout=10))
        joins.append(await viewer.sio.call("game-history", {"gameId": gid}, timeout=30))
        joins.append(await viewer.sio.call("game-at", {"gameId": gid, "seq": 1, "count": 50}))
    lobby.append(await viewer.sio.call("list-games", {}, timeout=10))
    host.hub.idle_seconds = 0.0
    host.hub.evict_idle()  # the lobby rows of stored games come from the log
    lobby.append(await viewer.sio.call("list-games", {}, timeout=10))
    await asyncio.sleep(0.3)
    await viewer.sio.disconnect()
    return {
        "join snapshot": json.dumps(joins, default=str),
        "deltas": viewer.text("game-state-update"),
        "effects": viewer.effects(),
        "lobby": json.dumps(lobby, default=str) + viewer.text("games"),
        "http api": "\n".join(api),
    }


def store_bytes() -> str:
    """Every byte of the event store (and its WAL) as text."""
    base = Path(db_path())
    parts = [p.read_bytes() for p in (base, Path(f"{base}-wal")) if p.exists()]
    assert parts, "no store file"
    return b"".join(parts).decode("utf-8", "replace")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_no_planted_secret_reaches_a_viewer_the_log_or_the_store(caplog):
    formats = secrets()
    replay = [parse_event(p) for s in formats for p in payloads(s)[1:]]
    replay.insert(0, parse_event({"hook_event_name": "SessionStart", "session_id": "corpus-r"}))

    async def scenario() -> dict[str, str]:
        host = await start(port=0, runtime=False)
        try:
            clock = host.hub.open_replay(replay, game_id="corpus-replay", play=False)
            clock.seek(len(replay))
            return await read_everything(host, formats, replay="corpus-replay")
        finally:
            await host.close()

    with caplog.at_level(logging.DEBUG):
        channels = run(scenario())
    channels["server log"] = caplog.text
    channels["store"] = store_bytes()
    assert leaked(channels, formats) == {}
    # and the viewers did see the games (the test is not blind)
    assert "Please fix it" in channels["join snapshot"]
    assert "[REDACTED]" in channels["store"] and "[REDACTED]" in channels["effects"]


def test_keep_raw_keeps_the_store_raw_and_the_viewers_redacted(caplog):
    formats = secrets()[::6]  # a few formats suffice: the viewers' side is tested above

    async def scenario() -> dict[str, str]:
        host = await start(port=0, runtime=False, hub=Hub(keep_raw=True))
        try:
            return await read_everything(host, formats)
        finally:
            await host.close()

    with caplog.at_level(logging.DEBUG):
        channels = run(scenario())
    channels["server log"] = caplog.text
    assert leaked(channels, formats) == {}
    store = store_bytes()
    assert all(leaks(store, s) for s in formats)  # what the user opted in to


def test_a_replay_rebuilt_game_equals_the_live_one_on_redacted_payloads():
    """The live game and the game rebuilt from the store see the same, redacted payload."""
    secret = next(s for s in secrets() if s.name == "pgpassword")
    hub = Hub()
    for payload in payloads(secret):
        hub.ingest(payload)
    live = hub.snapshot(session_of(secret))
    rebuilt = Game(session_of(secret))
    for event in hub.events(session_of(secret)):
        rebuilt.apply(event)
    assert {k: v for k, v in rebuilt.snapshot().items() if not k.endswith("At")} == {
        k: v for k, v in live.items() if not k.endswith("At")
    }
    assert not leaks(json.dumps([e.payload for e in hub.events(session_of(secret))]), secret)
