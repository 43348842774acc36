"""Prometheus metrics for ``GET metrics`` (docs/protocol.md §10): what a team running
``ccviz serve`` (or the Jupyter extension) watches on a dashboard.

Built on ``prometheus_client`` (its registry, metric types and text format; nothing of the
exposition format is written here). One registry per server, not the library's global one,
so several servers in one process (tests, a kernel beside Jupyter) never mix their numbers.
Counts the server already keeps (viewers, deliveries, skipped slow viewers, updates sent) are
read when scraped by a collector; what only happens on a path (a hook answered, a store
append, an event applied) is counted there. Labels carry no payload, game id or token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

#: Seconds: hook answers and store appends are sub-millisecond when all is well, and a
#: Claude Code hook gives up after 60 ms (cli/hook.py), so the buckets sit around those.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.06, 0.25, 1.0)


class ServerMetrics:
    """The metrics of one :class:`~.core.GameServer`: observe on the paths, render on scrape."""

    def __init__(self, server: Any) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.hook_seconds = Histogram(
            "ccviz_hook_request_seconds",
            "Time to answer a POST api/hooks, by status code.",
            ["status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_seconds = Histogram(
            "ccviz_store_append_seconds",
            "Time of one append to the event store.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "ccviz_events_applied",
            "Events applied to games (hooks, transcripts, spool, actions, replays).",
            registry=self.registry,
        )
        self.registry.register(_ServerState(server))
        server.hub.subscribe(lambda _game_id, _applied: self.events.inc())
        store = server.hub.store
        append = store.append

        def timed_append(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return append(*args, **kwargs)
            finally:
                self.store_seconds.observe(time.perf_counter() - start)

        store.append = timed_append  # this store instance only: what the hub calls

    def hook_answered(self, status: int, seconds: float) -> None:
        self.hook_seconds.labels(str(status)).observe(seconds)

    def timed(self, answer: Callable[[], Any]) -> Any:
        """Run a hook's handling and observe it by the status it answered."""
        start = time.perf_counter()
        result = answer()
        self.hook_answered(result.status, time.perf_counter() - start)
        return result

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ServerState:
    """Read at scrape time: what the server, its hub and its fan-out already count."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def describe(self) -> list[Any]:
        return []  # names are known only when collected; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        server = self.server
        manager = server.manager
        yield GaugeMetricFamily(
            "ccviz_games_live", "Games held in memory.", value=len(server.hub.live_ids())
        )
        yield GaugeMetricFamily(
            "ccviz_connections", "Open socket.io connections.", value=len(server.sio.eio.sockets)
        )
        deliveries = CounterMetricFamily(
            "ccviz_deliveries",
            "Room broadcasts delivered to a viewer, by path.",
            labels=["path"],
        )
        deliveries.add_metric(["direct"], manager.direct)
        deliveries.add_metric(["queued"], manager.queued)
        yield deliveries
        yield CounterMetricFamily(
            "ccviz_slow_viewer_skips",
            "Deliveries skipped because the viewer was slow (it re-joins).",
            value=manager.skipped,
        )
        yield CounterMetricFamily(
            "ccviz_updates",
            "game-state-updates sent (one per room per frame at most).",
            value=server.broadcaster.updates_sent,
        )
