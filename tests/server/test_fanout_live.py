"""The fan-out on the standalone host, live: the fast path's counter and a slow viewer.

The same scenario runs under Jupyter in tests/hosts/test_jupyter_fanout.py.
"""

from __future__ import annotations

import asyncio

from common import busy_game, slow_viewer_is_skipped_and_recovers

from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.notebook.mirror import GameMirror

GAME = "fanout-live-game"


def test_fast_path_counted_and_a_slow_viewer_skipped_then_brought_back_by_snapshot():
    async def scenario():
        host = await start("127.0.0.1", 0, runtime=False)
        try:
            host.hub.ingest(busy_game(GAME, 0)[0])
            fast = await GameMirror(host.url, GAME).connect()
            counts = await slow_viewer_is_skipped_and_recovers(
                host.server, int(host.url.rsplit(":", 1)[1].strip("/")), "socket.io", fast
            )
            assert counts["direct"] > 0 and counts["skipped"] > 0
            await fast.close()
        finally:
            await host.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))
