"""A replay whose clock runs in one server, watched and played from the page of another
(two servers on one real redis-server, as behind a balancer): the page on the second
shows the replay where the first has it, and its controller's Space plays the clock over
there, to the end, for both (design.md §7)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from common import redis_server

from ccviz_kernel import samples
from ccviz_kernel.hub import Hub
from ccviz_kernel.redis_store import RedisEventStore
from ccviz_kernel.replays.load import load_replay

from .support import ServerThread, wait_until

READY = "window.__ccviz && window.__ccviz.ready"
GAME = "rp-shared"


@pytest.fixture
def two_servers(tmp_path) -> Iterator[tuple[ServerThread, ServerThread]]:
    with redis_server(tmp_path / "redis") as redis:
        servers = []
        try:
            for _ in range(2):
                hub = Hub(RedisEventStore(redis.url))
                servers.append(ServerThread(json_mode=False, hub=hub).start())
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.close()


def test_the_page_on_another_server_shows_and_plays_the_replay(two_servers, open_page):
    owner, other = two_servers
    events = load_replay(samples.path("short", "hooks")).events
    hub = owner.host.hub
    clock = owner.call(hub.open_replay, events, game_id=GAME, speed=200, play=False)
    owner.call(clock.seek, 6)
    follower = owner.host.server._follower
    for _ in range(100):  # the owner's follower shares it within a pass
        if owner.call(lambda: GAME in follower._shared):
            break
        time.sleep(0.05)
    watched = open_page()
    page = watched.page
    page.goto(f"{other.url}view/{GAME}?token={other.token}")
    wait_until(page, READY)
    wait_until(page, "window.__ccviz.role === 'controller'")
    wait_until(page, "window.__ccviz.seq === 6")  # where the owner's clock is
    assert page.locator(".replay").is_visible()
    page.locator("body").press("Space")  # play: the owner's clock plays
    total = len(events)
    wait_until(page, f"window.__ccviz.seq === {total}", timeout=30_000)
    assert owner.call(lambda: (clock.position, clock.playing)) == (total, False)
    assert page.evaluate("window.__ccviz.snapshot()") == owner.call(hub.snapshot, GAME)
    wait_until(page, f"document.querySelector('.replay .pos').textContent === '{total} / {total}'")
    watched.assert_clean()
