"""A stand-in for the Anthropic Messages API, so the real Claude Code CLI runs offline.

It answers ``POST /v1/messages`` (Claude Code adds ``?beta=true``) with streamed
server-sent events, following scripts: each :class:`Script` is a list of assistant turns,
each turn a list of blocks (:func:`text` or :func:`tool`).

Which script answers a request: the first whose ``match`` string is in the text of the
request's *first* user message (the main agent's prompt, or the prompt the main agent gave
a subagent; later messages are not looked at, since the main conversation carries the
subagent's prompt inside its ``Agent`` tool call). Only requests that offer tools are
scripted: title generation, quota checks and other side queries get a short harmless text.
Which turn: the number of assistant messages already in the request, so a retried
request gets the same answer again and no state is kept between requests.

Any other path gets 404 (``count_tokens`` gets a small count). Every request is logged
(kept in :attr:`FakeAnthropic.requests`, and appended as JSON lines to ``log_path``).

Run it by hand to poke at the CLI::

    python tests/e2e/fake_anthropic.py --port 8999 --log /tmp/requests.jsonl
    ANTHROPIC_BASE_URL=http://127.0.0.1:8999 ANTHROPIC_API_KEY=sk-test claude -p hi
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

#: What every unscripted request gets.
IDLE_TEXT = "OK."


def text(value: str) -> dict[str, Any]:
    """A text block of an assistant turn."""
    return {"type": "text", "text": value}


def tool(name: str, tool_input: dict[str, Any], use_id: str | None = None) -> dict[str, Any]:
    """A tool_use block of an assistant turn; ``use_id`` is made up when not given."""
    block = {"type": "tool_use", "name": name, "input": tool_input}
    if use_id is not None:
        block["id"] = use_id
    return block


@dataclass
class Script:
    """One agent's side of a conversation."""

    name: str
    match: str  # found in the first user message's text
    turns: list[list[dict[str, Any]]]
    #: requests answered from this script, by turn index (for the test's own checks)
    answered: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        for t, turn in enumerate(self.turns):
            for b, block in enumerate(turn):
                if block["type"] == "tool_use" and "id" not in block:
                    block["id"] = f"toolu_e2e_{self.name}_{t}_{b}"


def message_text(message: dict[str, Any]) -> str:
    """All text in one API message (string content, text blocks, tool results)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            parts.append(inner if isinstance(inner, str) else message_text({"content": inner}))
    return "\n".join(parts)


class FakeAnthropic:
    """The fake API; :meth:`start` serves it on the running loop."""

    def __init__(self, scripts: list[Script], *, log_path: Path | None = None) -> None:
        self.scripts = scripts
        self.log_path = log_path
        self.requests: list[dict[str, Any]] = []
        self.unexpected: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._run = os.urandom(4).hex()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- choosing an answer ------------------------------------------------------------

    def script_for(self, body: dict[str, Any]) -> Script | None:
        if not body.get("tools"):
            return None  # side queries (titles, quota, summaries) offer no tools
        messages = body.get("messages") or []
        first = next((m for m in messages if m.get("role") == "user"), None)
        if first is None:
            return None
        head = message_text(first)
        return next((s for s in self.scripts if s.match in head), None)

    def answer(self, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """``(script name or "", blocks)`` for one request."""
        script = self.script_for(body)
        if script is None:
            return "", [text(IDLE_TEXT)]
        turn = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
        script.answered.append(turn)
        if turn >= len(script.turns):
            return script.name, [text(IDLE_TEXT)]
        return script.name, script.turns[turn]

    # -- HTTP --------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _log(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)
        if self.log_path is not None:
            with self.log_path.open("a") as f:
                f.write(json.dumps(entry) + "\n")

    async def _not_found(self, request: web.Request) -> web.Response:
        self._log({"method": request.method, "path": request.path_qs, "answer": 404})
        return web.Response(status=404, text="not found\n")

    async def _count_tokens(self, request: web.Request) -> web.Response:
        self._log({"method": "POST", "path": request.path_qs, "answer": "count_tokens"})
        return web.json_response({"input_tokens": 100})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {"type": "error", "error": {"type": "invalid_request_error", "message": "json"}},
                status=400,
            )
        name, blocks = self.answer(body)
        entry = {
            "method": "POST",
            "path": request.path_qs,
            "model": body.get("model"),
            "stream": bool(body.get("stream")),
            "script": name,
            "answer": [b.get("name") or b.get("text", "")[:40] for b in blocks],
            "body": body,
        }
        self._log(entry)
        if not name:
            self.unexpected.append(entry)
        model = body.get("model") or "claude-sonnet-4-5"
        # Unique across runs, as the real API's are: a transcript continued by a second
        # `claude -p --continue` must not see the first run's ids again.
        message_id = f"msg_e2e_{self._run}_{next(self._ids):04d}"
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 100, "output_tokens": 20},
                }
            )
        return await self._stream(request, message_id, model, blocks, stop)

    async def _stream(
        self,
        request: web.Request,
        message_id: str,
        model: str,
        blocks: list[dict[str, Any]],
        stop: str,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "request-id": f"req_{message_id}",
            }
        )
        await response.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        await send(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 100,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        )
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            await send(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
            await send(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        )
        await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response


def _main() -> None:  # pragma: no cover - a debugging aid
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--log", type=Path, default=None)
    ns = parser.parse_args()

    async def run() -> None:
        fake = FakeAnthropic([], log_path=ns.log)
        print("fake Anthropic API on", await fake.start(port=ns.port), flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover
    _main()
