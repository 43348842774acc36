"""Browser tests: Debian's Chromium driven by Playwright against a real ccviz server.

The server is the standalone host (``start()``) running in its own thread with its own
asyncio loop, bound to 127.0.0.1 on a free port: hooks go in over real HTTP, the page talks
socket.io to it, and tests can still reach the hub (``server.call``) on the loop's thread.
It is parametrized over the two wire formats (msgpack and JSON).

Playwright's sync API leaves its event loop marked as running in the main thread while it
lives, so the browser is package-scoped: it is gone before the rest of the suite (which
calls ``asyncio.run``) goes on. Every wait here is bounded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from common import CHROMIUM, CHROMIUM_ARGS

from .support import STATIC, VIEWPORT, ServerThread, Watched


@pytest.fixture(scope="package", params=["msgpack", "json"])
def server(request, browser) -> Iterator[ServerThread]:
    """A standalone server with its own CCVIZ_HOME (token, event store, spool); asks for
    the browser first so that a missing Chromium skips before anything starts.

    The folder is a plain temporary one, not pytest's ``tmp_path_factory``: another pytest
    session starting meanwhile prunes older basetemp folders, which this package-long
    server must outlive.
    """
    home = tempfile.mkdtemp(prefix=f"ccviz-browser-{request.param}-")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CCVIZ_HOME", home)
            srv = ServerThread(json_mode=request.param == "json").start()
            try:
                yield srv
            finally:
                srv.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    if not (STATIC / "page.js").exists() or not (STATIC / "widget.js").exists():
        pytest.skip(f"the front end is not built in {STATIC} (cd widgets && npm run build)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[..., Watched]]:
    """``open_page(url)`` → a :class:`Watched` page (800×500), closed after the test."""
    contexts: list[Any] = []

    def opener(url: str | None = None) -> Watched:
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        contexts.append(context)
        watched = Watched(context.new_page())
        if url is not None:
            watched.page.goto(url)
        return watched

    yield opener
    for context in contexts:
        context.close()
