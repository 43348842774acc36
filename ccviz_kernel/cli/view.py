"""``ccviz view PATH|GAME_ID``: open any transcript, hook log or stored game in the browser.

With a server already running (the runtime file names one that answers: ``ccviz serve``,
the Jupyter extension, an in-kernel host) the recording is sent to it and the command
returns at once, printing the URL. With none, it serves one itself, like ``ccviz demo``,
until Ctrl-C. A file opens as a replay game whose whole history every viewer plays back on
its own playhead; the printed link starts it from the beginning.
"""

from __future__ import annotations

import asyncio
import os
import webbrowser

from ..config import DEFAULT_HOST, DEFAULT_PORT
from ..errors import CcvizError, ServerError

#: Deep link into a recording: from its first event, playing.
FROM_THE_START = "?seq=0&play=1"


def run_view(
    target: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    open_browser: bool = False,
) -> int:
    path = os.path.expanduser(target)
    replay = _load(path) if os.path.exists(path) else None
    game_id = f"replay-{replay.game_id}" if replay is not None else target
    remote = _running_server()
    if remote is not None:
        if replay is not None:
            answer = remote.upload_replay(game_id, replay.events)
            link = f"{remote.url}{answer['url']}{FROM_THE_START}"
            _report(replay, answer.get("events"), link)
        else:
            link = f"{remote.url}view/{game_id}" + _deep_link(remote.snapshot(game_id), game_id)
            print(f"ccviz view: {link}", flush=True)
        if open_browser:
            webbrowser.open(link)
        return 0
    return _serve(game_id, replay, host, port, open_browser)


def _load(path: str):
    from ..replays.load import load_replay

    replay = load_replay(path)
    if not replay.events:
        raise CcvizError(f"{path}: no usable events ({replay.skipped} lines skipped)")
    return replay


def _running_server():
    """The server of the runtime file, if it answers (else ``None``: serve one here)."""
    from ..notebook.backends import RemoteBackend
    from ..runtime import read_runtime, read_token

    info = read_runtime(create=False)
    if info is None:
        return None
    remote = RemoteBackend(info["url"], read_token() or "", kind=str(info.get("kind", "")))
    return remote if remote.reachable() else None


def _deep_link(snapshot: dict | None, game_id: str) -> str:
    if snapshot is None:
        raise CcvizError(f"no game {game_id!r} here, and no such file")
    return FROM_THE_START if snapshot.get("status") == "ended" else ""


def _report(replay, total: int | None, link: str) -> None:
    skipped = f", {replay.skipped} lines skipped" if replay.skipped else ""
    print(f"ccviz view: {total or len(replay.events)} events ({replay.kind}{skipped})", flush=True)
    print(f"  watch it: {link}", flush=True)


def _serve(game_id: str, replay, host: str, port: int, open_browser: bool) -> int:
    from ..hosts.standalone import start, until_stopped

    async def main() -> None:
        running = await start(host, port)
        try:
            if replay is not None:
                answer = running.server.uploads.open(game_id, replay.events)
                link = f"{running.url}view/{game_id}{FROM_THE_START}"
                _report(replay, answer["events"], link)
            else:
                link = f"{running.url}view/{game_id}" + _deep_link(
                    running.hub.snapshot(game_id), game_id
                )
                print(f"ccviz view: {link}", flush=True)
        except BaseException:  # e.g. no such game: close, so no stale runtime file stays
            await running.close()
            raise
        print(f"  all games: {running.url}   (Ctrl-C to stop)", flush=True)
        if open_browser:
            webbrowser.open(link)
        await until_stopped(running)

    try:
        asyncio.run(main())
    except ServerError as exc:
        raise CcvizError(str(exc)) from None
    return 0
