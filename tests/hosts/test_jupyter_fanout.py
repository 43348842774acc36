"""The fan-out under Jupyter, live: the fast path's counter and a slow viewer.

The same scenario as tests/server/test_fanout_live.py (standalone), on tornado's streams.
"""

from __future__ import annotations

import pytest
from common import busy_game, slow_viewer_is_skipped_and_recovers

from ccviz_kernel.hosts import jupyter
from ccviz_kernel.hosts._tornado import TornadoFrameWriter
from ccviz_kernel.notebook.mirror import GameMirror

GAME = "jupyter-fanout-game"


@pytest.fixture
def running(jp_serverapp, http_server_client, jp_asyncio_loop):
    """The extension, its core started (the port listens: http_server_client)."""
    ext = jupyter.current()
    jp_asyncio_loop.run_until_complete(ext.ready())
    return ext


async def test_fast_path_counted_and_a_slow_viewer_skipped_then_brought_back(running, jp_serverapp):
    server = running.server
    assert isinstance(server.manager.frame_writer, TornadoFrameWriter)
    token = jp_serverapp.identity_provider.token
    headers = {"Authorization": f"token {token}"}
    server.hub.ingest(busy_game(GAME, 0)[0])
    fast = GameMirror(
        f"http://127.0.0.1:{jp_serverapp.port}",
        GAME,
        socketio_path=running.socketio_path,
        headers=headers,
    )
    await fast.connect()
    try:
        counts = await slow_viewer_is_skipped_and_recovers(
            server, jp_serverapp.port, running.socketio_path, fast, **headers
        )
        assert counts["direct"] > 0 and counts["skipped"] > 0
    finally:
        await fast.close()
