from __future__ import annotations

import asyncio
import os
import stat

import pytest

from ccviz_kernel.cli import main
from ccviz_kernel.config import data_dir
from ccviz_kernel.hosts.standalone import start
from ccviz_kernel.runtime import read_or_create_token
from ccviz_kernel.server.auth import Auth, RateLimiter, bearer


def test_token_is_made_once_owner_only_and_env_overrides(monkeypatch):
    first = read_or_create_token()
    assert first == read_or_create_token() and len(first) >= 32
    mode = stat.S_IMODE(os.stat(data_dir() / "token").st_mode)
    assert mode == 0o600
    monkeypatch.setenv("CCVIZ_TOKEN", "from-env")
    assert read_or_create_token() == "from-env"


def test_roles():
    loopback = Auth("ingest-secret")
    assert loopback.role_for("ingest-secret", "127.0.0.1") == "controller"
    assert loopback.role_for(None, "127.0.0.1") == "viewer"
    assert loopback.role_for(None, "::1") == "viewer"
    assert loopback.role_for("wrong", "10.0.0.5") is None
    exposed = Auth("ingest-secret", viewer_token="view-secret", loopback_only=False)
    assert exposed.role_for(None, "127.0.0.1") is None  # off loopback, nobody is free
    assert exposed.role_for("view-secret", "10.0.0.5") == "viewer"
    assert exposed.role_for("ingest-secret", "10.0.0.5") == "controller"
    assert bearer("Bearer abc") == "abc" and bearer("Basic abc") is None and bearer(None) is None


def test_rate_limiter_is_a_token_bucket():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")
    now[0] += 1.0
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]


def test_serving_beyond_loopback_needs_a_viewer_token(capsys):
    with pytest.raises(ValueError, match="without a viewer token"):
        asyncio.run(start(host="0.0.0.0", port=0, runtime=False))
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ccviz: refusing to serve on 0.0.0.0") and "Traceback" not in err
