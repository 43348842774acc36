"""Roles, token checks and rate limits (the tokens themselves are in :mod:`ccviz_kernel.runtime`).

Roles: **ingest** (hooks; bearer token: the ingest token, or the hook-only token that
Claude Code's http hooks send and that allows nothing but ``POST api/hooks``),
**controller** (agent-action; the ingest token or an authenticated Jupyter user),
**viewer** (read-only; free on loopback, else the viewer token). Tokens are compared in
constant time and never logged or put in error messages.

The Host and Origin rules of every host live here too (:class:`HostRule`,
:func:`origin_allowed`): a page whose name an attacker points at 127.0.0.1 (DNS
rebinding) sends its own name as ``Host``, so a server that answers any ``Host`` lets it
read every game on a loopback server that needs no token there.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

log = logging.getLogger("ccviz.server")


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


#: Names that always mean this machine (RFC 6761: ``localhost`` and ``*.localhost`` never
#: leave it, browsers resolve them to loopback themselves).
LOOPBACK_NAMES = frozenset({"localhost"})
#: Bind addresses that mean "every interface".
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def host_name(host: str | None) -> str | None:
    """The name part of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``),
    lower-cased, without a trailing dot; ``None`` when it is no such thing."""
    if not host:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not _is_port(host[end + 1 :])):
            return None
        return host[1:end] or None
    if host.count(":") > 1:  # a bare IPv6 address (not what browsers send, but valid)
        return host if _ip(host) is not None else None
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    name = name.rstrip(".")
    return name or None


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit()


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None


def same_origin(origin: str, host: str | None) -> bool:
    """``origin`` is ``http(s)://<host>``: the page came from this very server name."""
    if not host:
        return False
    try:
        parts = urlsplit(origin.strip().lower())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


def origin_allowed(
    origin: str | None, host: str | None, allowed: Callable[[str], bool] | None = None
) -> bool:
    """The Origin rule of every host, for socket.io handshakes: no ``Origin`` (a program,
    not a browser page); the page's own origin (``http(s)://<Host>``; the host has
    checked ``Host`` itself); or one the host's configuration allows (``allowed``:
    ``--cors-origin`` standalone, ``allow_origin``/``allow_origin_pat`` under Jupyter)."""
    if not origin:
        return True
    if same_origin(origin, host):
        return True
    return bool(allowed is not None and allowed(origin))


@dataclass(frozen=True)
class HostRule:
    """The ``Host`` names a standalone (or in-kernel) server answers to, and its Origin rule.

    Always the loopback names (``localhost``, ``*.localhost``, loopback addresses); then
    ``names`` (``--public-name``, and the bound host when it is a name or address off
    loopback). Bound off loopback (``any_address``), any IP address is taken too: an
    address in ``Host`` means the browser was sent to that address itself, which no DNS
    trick can arrange, and it is how viewers on the network reach a server bound to
    ``0.0.0.0``.
    """

    names: frozenset[str] = frozenset()
    any_address: bool = False
    #: Browser origins allowed besides the page's own (``--cors-origin``).
    origins: frozenset[str] = frozenset()

    @classmethod
    def for_bind(
        cls,
        bind_host: str,
        public_names: Iterable[str] = (),
        origins: Iterable[str] = (),
    ) -> HostRule:
        """The rule of a server bound to ``bind_host`` with ``--public-name`` values."""
        names = {n for n in (host_name(p) for p in public_names) if n}
        loopback = is_loopback(bind_host)
        if not loopback and bind_host not in WILDCARD_HOSTS:
            name = host_name(bind_host) or bind_host.lower()
            names.add(name)
        if bind_host in WILDCARD_HOSTS:
            import socket

            names.add(socket.gethostname().lower())
        return cls(frozenset(names), any_address=not loopback, origins=frozenset(origins))

    def host_ok(self, host: str | None) -> bool:
        """May a request with this ``Host`` header be served? (No header: not a browser.)"""
        if host is None:
            return True
        name = host_name(host)
        if name is None:
            return False
        if name in LOOPBACK_NAMES or name.endswith(".localhost") or name in self.names:
            return True
        address = _ip(name)
        if address is None:
            return False
        return self.any_address or address.is_loopback

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """A socket.io handshake's Origin, by :func:`origin_allowed`, on an allowed Host."""
        return self.host_ok(host) and origin_allowed(origin, host, self.origins.__contains__)

    def refusal(self, host: str | None) -> str:
        """The text of the 403 for a ``Host`` that :meth:`host_ok` refused."""
        shown = (host or "")[:100]
        return (
            f"refused: Host {shown!r} is not a name of this server "
            "(serve with --public-name NAME to answer to another name)\n"
        )


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
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_uid, st.st_mode, path)
        seen, cached = self._hook_file
        if seen == stamp:
            return cached
        from ..runtime import stat_problem

        problem = stat_problem(st, path)
        if problem is not None:  # a token someone else could have planted lets nobody in
            log.warning("ignoring the hook token: %s", problem)
            cached = None
        else:
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

    def forget(self, key: str) -> None:
        """Drop ``key``'s bucket (a connection that ended: its sid never comes back)."""
        self._buckets.pop(key, None)
