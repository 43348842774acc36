"""A game as something to send: the compact offline log, and one HTML file that plays it.

House rule: the server decides the state, views only animate it. So nothing here (and
nothing in the browser) re-runs the engine's rules offline: the log carries the engine's own
outputs, precomputed by :class:`~ccviz_kernel.replays.history.GameHistory` — the state before
the first event, every event's deltas and effects, the times, markers and lanes of the
``game-history`` ack — and the front end (``widgets/src/offline.ts``) answers the view's
``join-game``, ``game-history`` and ``game-at`` from it by applying deltas, as any viewer does.

The same log serves the widget's saved state (``GameView``'s ``_offline`` trait: what
nbconvert HTML or a notebook opened without a kernel shows) and :func:`export_html`'s file.
It holds what viewers see: every text in the engine's outputs is already redacted and cut
(``engine/speech.py``), and no hook payload goes in.

Encoding (docs/protocol.md, "Offline log"): UTF-8 JSON, gzip, base64 — about 48 KB for the
796 events of the long sample; browsers unpack it with ``DecompressionStream``.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
from html import escape
from pathlib import Path
from typing import Any

from ..config import STATIC_DIR
from ..errors import CcvizError, FrontEndMissing
from .history import GameHistory

#: What the log says it is, and its version (a reader refuses another version).
FORMAT = "ccviz-offline"
VERSION = 1
#: The id of the ``<script>`` element that holds the log in an exported page.
SCRIPT_ID = "ccviz-offline"
_STATIC = Path(STATIC_DIR)


def offline_log(history: GameHistory) -> dict[str, Any]:
    """The compact log of everything ``history`` covers (the lists are the history's own:
    encode it, do not change it)."""
    summary = history.summary()
    initial = history.state_at(0)
    final_title = history.state_at(history.seq).get("title") if history.seq else None
    return {
        "format": FORMAT,
        "version": VERSION,
        "gameId": history.game_id,
        "title": final_title,
        "seq": history.seq,
        "initial": initial,
        "deltas": history._deltas[: history.seq],  # noqa: SLF001 - the layer's own history
        "effects": history._effects[: history.seq],  # noqa: SLF001
        "times": summary["times"],
        "markers": summary["markers"],
        "lanes": summary["lanes"],
    }


def encode_log(log: dict[str, Any]) -> str:
    """``base64(gzip(json))``: the smallest form a browser unpacks without a library."""
    data = json.dumps(log, ensure_ascii=False, separators=(",", ":")).encode()
    # mtime=0: the same game always encodes to the same text (saved notebooks diff cleanly).
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


def decode_log(text: str) -> dict[str, Any]:
    """The inverse of :func:`encode_log` (for tests and tools); checks format and version."""
    log = json.loads(gzip.decompress(base64.b64decode(text)))
    if not isinstance(log, dict) or log.get("format") != FORMAT:
        raise ValueError("not a ccviz offline log")
    if log.get("version") != VERSION:
        raise ValueError(f"offline log version {log.get('version')!r}, this ccviz reads {VERSION}")
    return log


def history_of(game_id: str, events: Any) -> GameHistory:
    """A history built from parsed events (a loaded replay's, or a stored game's)."""
    history = GameHistory(game_id)
    history.extend(events)
    return history


def load_history(target: str, *, store_path: str | os.PathLike[str] | None = None) -> GameHistory:
    """``target`` as a history: a transcript or hook log when such a file exists, else the id
    of a game in the event store (the ccviz data folder's, or ``store_path``'s)."""
    path = os.path.expanduser(target)
    if os.path.exists(path):
        from ..claude.sources import SourceError
        from .load import load_replay

        try:
            replay = load_replay(path)
        except SourceError as exc:
            raise CcvizError(str(exc)) from None
        if not replay.events:
            raise CcvizError(f"{target}: no usable events ({replay.skipped} lines skipped)")
        return history_of(replay.game_id, replay.events)
    from ..events import parse_event
    from ..store import EventStore

    with EventStore(store_path) as store:
        if store.last_seq(target) == 0:
            raise CcvizError(f"{target}: no such file, and no game of that id in {store.path}")
        events = [
            parse_event(row.payload, ts=row.ts, session_id=target) for row in store.events(target)
        ]
    return history_of(target, events)


def _inline_script(code: str) -> str:
    """JS made safe inside a ``<script>`` element: ``</script`` and ``<!--`` cannot occur
    (in a minified bundle they can only be inside strings, regexes or templates, where
    ``<\\/`` and ``<\\!`` mean the same)."""
    code = re.sub(r"</(script)", r"<\\/\1", code, flags=re.IGNORECASE)
    return code.replace("<!--", "<\\!--")


def _static(name: str) -> str:
    try:
        return (_STATIC / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FrontEndMissing(
            f"the front end is not built ({_STATIC / name} is missing): "
            "run `npm install && npm run build` in widgets/"
        ) from None


def export_html(history: GameHistory, *, title: str | None = None) -> str:
    """One self-contained page (the viewer page's bundle and style inline, the log in a
    ``<script type="application/octet-stream">``) that plays the whole game offline from any
    folder or ``file://`` URL: no server, no network."""
    log = offline_log(history)
    name = title or log["title"] or history.game_id
    css = _static("page.css").replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ccviz export">
<link rel="icon" href="data:,">
<title>{escape(name)} · ccviz</title>
<style>{css}</style>
<script type="application/octet-stream" id="{SCRIPT_ID}">{encode_log(log)}</script>
<script type="module">{_inline_script(_static("page.js"))}</script>
</head>
<body></body>
</html>
"""


def write_export(history: GameHistory, out: str | os.PathLike[str], **options: Any) -> int:
    """Write :func:`export_html` to ``out`` (atomically); returns its size in bytes."""
    from ..runtime import write_private

    data = export_html(history, **options).encode()
    # a file to send: readable as any file the user makes (0644), written atomically
    write_private(os.fspath(out), data, mode=0o644)
    return len(data)
