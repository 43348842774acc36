"""A server that stops (SIGTERM's drain) and comes back on the same port: the page is told
to reconnect (``server-closing``), does so by itself, and follows the game on, missing
nothing (protocol.md §4)."""

from __future__ import annotations

import tempfile

import pytest
from common import free_port

from .support import ServerThread, hook, new_game_id, tool, wait_until


def test_the_page_comes_back_by_itself_after_a_drain_and_a_restart(server, open_page):
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CCVIZ_HOME", tempfile.mkdtemp(prefix="ccviz-drain-"))
        first = ServerThread(json_mode=server.json_mode, port=port).start()
        game = new_game_id()
        try:
            page = open_page(f"{first.url}view/{game}").page
            wait_until(page, "window.__ccviz && window.__ccviz.ready")
            first.post(hook(game, "SessionStart", source="startup"))
            first.post(hook(game, "UserPromptSubmit", prompt="Make the jump higher."))
            wait_until(page, "window.__ccviz.seq === 2")
        finally:
            first.close()  # the drain: every update flushed, then server-closing
        again = ServerThread(json_mode=server.json_mode, port=port).start()  # same data folder
        try:
            again.post(tool(game, "Read", "toolu_d1", file_path="/src/a.ts"))
            wait_until(page, "window.__ccviz.seq === 3", timeout=15_000)
            assert page.evaluate("window.__ccviz.snapshot().gameId") == game
            assert page.evaluate("window.__ccviz.errors") == []
        finally:
            again.close()
