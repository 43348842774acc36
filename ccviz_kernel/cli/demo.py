"""``ccviz demo``: the standalone server with a bundled session replaying in a loop.

The command line checks its arguments before this runs; whatever still fails once the
server is up closes it again, so no runtime file is left naming a server that is gone.
"""

from __future__ import annotations

import asyncio
import webbrowser

from .. import samples
from ..config import DEFAULT_HOST, DEFAULT_PORT
from ..hosts.standalone import start, until_stopped
from ..replays.load import load_replay

DEMO_SPEED = 4.0


def run_demo(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    sample: str = "long",
    speed: float = DEMO_SPEED,
    open_browser: bool = False,
) -> int:
    replay = load_replay(samples.path(sample, "hooks"))
    game_id = f"demo-{sample}"

    async def main() -> None:
        running = await start(host, port)
        try:
            running.hub.open_replay(replay.events, game_id=game_id, speed=speed, loop=True)
        except BaseException:
            await running.close()  # the runtime file goes with it
            raise
        url = f"{running.url}view/{game_id}"
        print(
            f"ccviz demo: replaying the '{sample}' sample ({len(replay.events)} events) "
            f"at {speed:g}x, in a loop",
            flush=True,
        )
        print(f"  watch it:  {url}", flush=True)
        print(f"  all games: {running.url}   (Ctrl-C to stop)", flush=True)
        if open_browser:
            webbrowser.open(url)
        await until_stopped(running)  # closing the server closes the replay too

    asyncio.run(main())
    return 0
