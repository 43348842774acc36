"""The page behind a reverse proxy that adds a prefix of its own (``/team/`` → the server's
``/``), as jupyter-server-proxy or a team's nginx does: the page, its bundle and socket.io
all go through the prefix, because every address in the shell is relative to the page."""

from __future__ import annotations

import tempfile
import urllib.request

import pytest
from common import start_proxy

from .support import ServerThread, hook, new_game_id, tool, wait_arrived, wait_until

PREFIX = "/team/"


def test_the_page_and_the_lobby_work_under_a_proxy_prefix(server, open_page):
    runner, front = server.run(start_proxy(server.url, PREFIX))
    try:
        _page_and_lobby_work(server, open_page, front)
    finally:
        server.run(runner.cleanup())


def test_the_page_works_under_base_url_directly_and_behind_a_proxy(server, browser, open_page):
    """``ccviz serve --base-url /team/``: everything under the prefix, on its own and behind
    a proxy that forwards ``/team/`` unchanged (nginx's ``location /team/`` with a plain
    ``proxy_pass``); the server's root redirects to the prefix."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CCVIZ_HOME", tempfile.mkdtemp(prefix="ccviz-base-url-"))
        prefixed = ServerThread(json_mode=server.json_mode, base_url=PREFIX).start()
    try:
        assert prefixed.url.endswith(PREFIX)
        root = urllib.request.urlopen(prefixed.url[: -len(PREFIX)] + "/", timeout=5)
        assert root.geturl() == prefixed.url  # / → /team/
        _page_and_lobby_work(prefixed, open_page, prefixed.url)
        runner, front = prefixed.run(start_proxy(prefixed.url, PREFIX))
        try:
            _page_and_lobby_work(prefixed, open_page, front)
        finally:
            prefixed.run(runner.cleanup())
    finally:
        prefixed.close()


def _page_and_lobby_work(server, open_page, front: str) -> None:
    """A game page follows three hooks through ``front``, and the lobby there lists it."""
    game = new_game_id()
    page = open_page(f"{front}view/{game}").page
    wait_until(page, "window.__ccviz && window.__ccviz.ready")
    server.post(hook(game, "SessionStart", source="startup"))
    server.post(hook(game, "UserPromptSubmit", prompt="Make the jump higher."))
    wait_arrived(page, "main", "square")
    server.post(tool(game, "Read", "toolu_p1", file_path="/home/dev/pixel-quest/src/a.ts"))
    wait_arrived(page, "main", "library")
    assert page.evaluate("window.__ccviz.seq") == 3
    assert page.evaluate("window.__ccviz.errors") == []
    lobby = open_page(front).page
    wait_until(lobby, "window.__ccviz && window.__ccviz.lobby && window.__ccviz.ready")
    wait_until(lobby, f"window.__ccviz.shown().includes({game!r})")
    for each in (page, lobby):
        each.close()
