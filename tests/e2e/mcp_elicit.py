"""A minimal stdio MCP server for the e2e tests: one tool, ``ask_colour``, that asks the user
for a colour through ``elicitation/create`` (a form) and returns what came back.

Raw JSON-RPC, one message a line, standard library only, so Claude Code can start it with
any ``python3``. Every line in and out is appended to a log, ``argv[1]`` or else
``$CCVIZ_E2E_MCP_LOG``: the test reads there what the client answered the elicitation
(``IN  {"result": {"action": "accept", "content": {...}}, "id": "elicit-1", ...}``).
Made from the spike that measured Claude Code 2.1.332 (tests/e2e/PERMISSIONS.md §5).

    {"mcpServers": {"colours": {"command": "python3",
                                "args": ["tests/e2e/mcp_elicit.py", "/tmp/mcp.log"]}}}
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

#: The JSON-RPC id of the one elicitation this server sends per tool call.
ELICIT_ID = "elicit-1"

#: What the form asks: one required field, a choice of two.
MESSAGE = "Pick a colour"
SCHEMA = {
    "type": "object",
    "properties": {"colour": {"type": "string", "enum": ["red", "blue"]}},
    "required": ["colour"],
}
TOOL = {
    "name": "ask_colour",
    "description": "Asks the user for a colour.",
    "inputSchema": {"type": "object", "properties": {}},
}


def log_path(argv: list[str]) -> str:
    """Where the log goes: the first argument, else ``$CCVIZ_E2E_MCP_LOG``."""
    path = argv[1] if len(argv) > 1 else os.environ.get("CCVIZ_E2E_MCP_LOG")
    if not path:
        raise SystemExit("usage: mcp_elicit.py LOG (or set CCVIZ_E2E_MCP_LOG)")
    return path


def answered(log: str) -> list[dict[str, Any]]:
    """The replies the client sent to this server's elicitations, in order (for tests)."""
    found = []
    with open(log, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("IN  "):
                message = json.loads(line[4:])
                if message.get("id") == ELICIT_ID and "method" not in message:
                    found.append(message.get("result", message.get("error")))
    return found


class Server:
    """The JSON-RPC loop over stdin/stdout, logging every message."""

    def __init__(self, log: IO[str]) -> None:
        self.log = log

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        self.log.write("OUT " + line + "\n")
        self.log.flush()

    def read(self) -> dict[str, Any] | None:
        line = sys.stdin.readline()
        if not line:
            return None
        self.log.write("IN  " + line.rstrip("\n") + "\n")
        self.log.flush()
        return json.loads(line)

    def reply(self, mid: Any, result: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "id": mid, "result": result})

    def run(self) -> None:
        while (message := self.read()) is not None:
            method, mid = message.get("method"), message.get("id")
            if method == "initialize":
                self.reply(
                    mid,
                    {
                        "protocolVersion": message["params"].get("protocolVersion", "2025-06-18"),
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "ccviz-e2e-colours", "version": "0.1"},
                    },
                )
            elif method == "tools/list":
                self.reply(mid, {"tools": [TOOL]})
            elif method == "tools/call":
                if not self.call(mid):
                    return
            elif mid is not None and method is not None:
                self.reply(mid, {})  # pings and the like

    def call(self, mid: Any) -> bool:
        """Ask the client, wait for its answer, return it as the tool's result; ``False``
        when the client went away meanwhile."""
        self.send(
            {
                "jsonrpc": "2.0",
                "id": ELICIT_ID,
                "method": "elicitation/create",
                "params": {"message": MESSAGE, "requestedSchema": SCHEMA},
            }
        )
        while (reply := self.read()) is not None:
            if reply.get("id") == ELICIT_ID and "method" not in reply:
                got = json.dumps(reply.get("result", reply.get("error")))
                text = {"type": "text", "text": "elicitation came back: " + got}
                self.reply(mid, {"content": [text]})
                return True
        return False


def main(argv: list[str]) -> None:
    with open(log_path(argv), "a", encoding="utf-8") as log:
        Server(log).run()


if __name__ == "__main__":
    main(sys.argv)
