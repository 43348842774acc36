"""Tokens, roles and rate limits (DESIGN §6).

Roles: **ingest** (hooks; bearer token), **controller** (agent-action; the ingest token or
an authenticated Jupyter user), **viewer** (read-only; free on loopback, else the viewer
token). Tokens are compared in constant time and never logged or put in error messages.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import data_dir

TOKEN_FILE = "token"
VIEWER_TOKEN_FILE = "viewer-token"


def read_or_create_token(name: str = TOKEN_FILE, env: str = "CCVIZ_TOKEN") -> str:
    """The token from ``$env``, else from the owner-only file ``name`` (made on first run)."""
    value = os.environ.get(env)
    if value:
        return value.strip()
    path = data_dir() / name
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    _write_private(path, token + "\n")
    return token


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def same_token(given: object, expected: str | None) -> bool:
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@dataclass
class Auth:
    """What a host checks. ``viewer_token`` is required whenever the server is not loopback-only."""

    ingest_token: str
    viewer_token: str | None = None
    loopback_only: bool = True

    def can_ingest(self, token: str | None) -> bool:
        return same_token(token, self.ingest_token)

    def role_for(self, token: str | None, remote: str | None) -> str | None:
        """``controller``, ``viewer`` or ``None`` (refused) for a socket.io connection."""
        if same_token(token, self.ingest_token):
            return "controller"
        if same_token(token, self.viewer_token):
            return "viewer"
        if self.loopback_only and is_loopback(remote):
            return "viewer"
        return None


@dataclass
class RateLimiter:
    """A token bucket per client key: ``rate`` per second, bursts up to ``burst``."""

    rate: float
    burst: float
    clock: object = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self.clock()  # type: ignore[operator]
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - cost, now)
        if len(self._buckets) > 10_000:  # forget the oldest idle clients
            for old in sorted(self._buckets, key=lambda k: self._buckets[k][1])[:5_000]:
                del self._buckets[old]
        return True
