"""Roles, token checks and rate limits (the tokens themselves are in :mod:`ccviz_kernel.runtime`).

Roles: **ingest** (hooks; bearer token: the ingest token, or the hook-only token that
Claude Code's http hooks send and that allows nothing but ``POST api/hooks``),
**controller** (agent-action; the ingest token or an authenticated Jupyter user),
**viewer** (read-only; free on loopback, else the viewer token). Tokens are compared in
constant time and never logged or put in error messages.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from dataclasses import dataclass, field


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
    #: The hook-only token; ``None``: read from its file (``install-hooks`` makes it, maybe
    #: after the server started, so it is looked up again whenever the file changes).
    hook_token: str | None = None
    _hook_file: tuple[object, str | None] = field(default=(None, None), repr=False)

    def can_ingest(self, token: str | None) -> bool:
        return same_token(token, self.ingest_token)

    def can_hook(self, token: str | None) -> bool:
        """May this bearer post hook events? The ingest token or the hook-only token."""
        if same_token(token, self.ingest_token):
            return True
        if not token:
            return False
        return same_token(token, self.hook_token or self._hook_token_from_file())

    def _hook_token_from_file(self) -> str | None:
        import os

        from ..config import ENV_HOOK_TOKEN, HOOK_TOKEN_FILE, data_dir_str

        value = (os.environ.get(ENV_HOOK_TOKEN) or "").strip()
        if value:
            return value
        path = os.path.join(data_dir_str(create=False), HOOK_TOKEN_FILE)
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size, path)
        seen, cached = self._hook_file
        if seen == stamp:
            return cached
        try:
            with open(path) as f:
                cached = f.read().strip() or None
        except OSError:
            cached = None
        self._hook_file = (stamp, cached)
        return cached

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
