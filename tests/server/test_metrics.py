"""``GET metrics`` on a live standalone host, parsed by prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from common import FIXTURES
from prometheus_client.parser import text_string_to_metric_families

from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.notebook.mirror import GameMirror

LINES = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()[:12]
GAME = json.loads(LINES[0])["session_id"]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_parse_and_count_what_happened_and_carry_no_secret():
    async def scenario():
        host = await start("127.0.0.1", 0, runtime=False)
        token = host.server.auth.ingest_token
        try:
            viewer = await GameMirror(host.url, GAME).connect()
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession() as http:
                for line in LINES:
                    async with http.post(host.url + "api/hooks", data=line, headers=headers) as r:
                        assert r.status == 204
                async with http.post(
                    host.url + "api/hooks", data="{}", headers={"Authorization": "Bearer no"}
                ) as r:
                    assert r.status == 403
                await viewer.wait_seq(host.hub.game(GAME).seq)
                async with http.get(host.url + "metrics") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("text/plain; version=")
                    assert r.headers["Cache-Control"] == "no-store"
                    text = await r.text()
            await viewer.close()
            return text, host.hub.game(GAME).seq
        finally:
            await host.close()

    text, seq = asyncio.run(asyncio.wait_for(scenario(), 60))
    got = samples(text)
    assert got[("ccviz_events_applied_total", ())] == seq
    assert got[("ccviz_hook_request_seconds_count", (("status", "204"),))] == len(LINES)
    assert got[("ccviz_hook_request_seconds_count", (("status", "403"),))] == 1
    assert got[("ccviz_store_append_seconds_count", ())] == seq
    assert got[("ccviz_games_live", ())] == 1
    assert got[("ccviz_connections", ())] == 1
    assert got[("ccviz_deliveries_total", (("path", "direct"),))] >= 1
    assert got[("ccviz_updates_total", ())] >= 1
    assert ("ccviz_slow_viewer_skips_total", ()) in got
    assert GAME not in text and "Bearer" not in text  # no game id, payload or token
