"""``ccviz serve --log-level info --log-format json``: JSON lines on stderr, an access line per
request without its query string, and no token anywhere in the log (a real process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

from common import CCVIZ, FIXTURES, free_port

from ccviz_kernel.cli.logs import JsonLines, ScrubTokens


def request(url: str, *, data: bytes | None = None, headers: dict | None = None) -> int:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_json_logs_with_an_access_line_per_request_and_no_token(tmp_path):
    port = free_port()
    env = {**os.environ, "CCVIZ_HOME": str(tmp_path), "CCVIZ_VIEWER_TOKEN": "viewer-secret-42"}
    proc = subprocess.Popen(
        [*CCVIZ, "serve", "--port", str(port), "--log-level", "info", "--log-format", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "ccviz serving on" in proc.stdout.readline()
        ingest = (tmp_path / "token").read_text().strip()
        base = f"http://127.0.0.1:{port}/"
        line = (FIXTURES / "hook-payloads.jsonl").read_text().splitlines()[0].encode()
        auth = {"Authorization": f"Bearer {ingest}", "Content-Type": "application/json"}
        assert request(base + "api/hooks", data=line, headers=auth) == 204
        wrong = {"Authorization": "Bearer wrong-token-77"}
        assert request(base + "api/hooks", data=b"{}", headers=wrong) == 403
        assert request(base + "view/some-game?token=viewer-secret-42") == 200
        assert request(base + "metrics") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    lines = [json.loads(text) for text in err.splitlines() if text.strip()]
    access = [x["message"] for x in lines if x["logger"] == "ccviz.access"]
    assert any(m.startswith("POST /api/hooks 204 ") for m in access), access
    assert any(m.startswith("GET /view/some-game 200 ") for m in access), access
    assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    for secret in (ingest, "viewer-secret-42"):
        assert secret not in err and secret not in out


def test_a_token_in_a_message_or_an_exception_is_scrubbed():
    import logging

    record = logging.LogRecord(
        "ccviz.server", logging.WARNING, __file__, 1, "got %s", ("t0k3n",), None
    )
    try:
        raise ValueError("bad t0k3n")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    ScrubTokens(["t0k3n", None]).filter(record)
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "got [token]" and "t0k3n" not in line["exception"]
    assert "[token]" in line["exception"] and line["level"] == "warning"
