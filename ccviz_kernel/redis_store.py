"""The event log in Redis: the same interface and guarantees as the SQLite store, shared by
every process that points at one Redis server (several ``ccviz serve`` behind one Redis).

Why Redis Streams: a game's log is an append-only sequence read from any offset, which is
what a stream is. Each game is one stream, ``<prefix>events:<game_id>``, whose entry ids are
``0-<seq>``: the stream position *is* the ``seq``, so a viewer's ``since`` is an XRANGE
start and Redis itself refuses an id that does not grow. Entries hold the payload text as
given (``p``) and the time as Python's ``repr`` of the float, or empty for none (``t``), so
both come back exactly as appended.

Why one Lua script per append: Redis runs a script with nothing else in between, so the
delivery-key check, taking the next seq, the XADD(s), the game's summary hash (events,
first_ts, last_ts), the set of games and a change counter (``<prefix>appended``: one read
tells another process that some game grew, which is how its lobby learns of games it does
not hold) change together or not at all; a delivery key's entry in the held hash
(``<prefix>held``: events the reorder window holds, kept so they outlive their process, see
:meth:`RedisEventStore.keep_held`) goes in the same script. Two processes
appending to one game therefore serialise on the server: neither can take the same seq or
skip one, and a delivery key recorded by one process is seen by all (a set,
``<prefix>delivered``). A script is not rolled back when a command in it fails, so it checks
first (each key has its type, the stream and its summary agree, the key is new), then writes,
the XADDs first: the only write that can still be refused (an id not above the stream's
top, if someone wrote to it) is the first one, before anything changed. Every input is
validated in Python before it is sent (the same checks as the SQLite store,
``_store_common.py``).
``append_many`` is one script call, so it is all-or-nothing too.

Failures: the client never retries a command on its own (a retried append whose reply was
lost would be stored twice); a lost connection, a timeout or an error reply is a
:class:`~ccviz_kernel.errors.StoreError` naming the server with its password redacted, and
the caller decides (the hook route answers 503 and the hook spools). Not for Redis Cluster:
one append touches keys of several hash slots.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from . import _store_common as shared
from ._store_common import GameRow, StoredEvent
from .errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import redis

__all__ = ["RedisEventStore"]

#: Key prefix of everything this store writes (streams, summaries, the game and key sets).
DEFAULT_PREFIX = "ccviz:"
#: Stream entries fetched per XRANGE while streaming a game, so huge games never sit in
#: memory at once.
FETCH_CHUNK = 500
#: Seconds to connect, and to wait for any reply (a long append_many included).
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0

# KEYS: the game's stream, its summary hash, the set of games, the set of delivery keys,
# the change counter (one more for every append that stored something, any game), the hash
# of held events (a delivery key leaves it once its event is logged, or was before).
# ARGV: game_id, "1" when a delivery key follows (else "0"), the key, then payload, ts pairs
# (ts "" for none). Returns the first new seq, or false when the key was delivered before.
_APPEND_LUA = """
local function refuse(why)
  return redis.error_reply('ccviz: not appending to game ' .. ARGV[1] .. ': ' .. why)
end
local types = {'stream', 'hash', 'set', 'set', 'string', 'hash'}
for i = 1, 6 do
  local found = redis.call('TYPE', KEYS[i])['ok']
  if found ~= 'none' and found ~= types[i] then
    return refuse(KEYS[i] .. ' is a ' .. found .. ', not a ' .. types[i])
  end
end
local count = tonumber(redis.call('HGET', KEYS[2], 'events') or '0')
if redis.call('XLEN', KEYS[1]) ~= count then
  return refuse('its stream and summary disagree (' .. KEYS[1] .. ' was changed outside ccviz)')
end
if ARGV[2] == '1' and redis.call('SISMEMBER', KEYS[4], ARGV[3]) == 1 then
  redis.call('HDEL', KEYS[6], ARGV[3])
  return false
end
local first = redis.call('HGET', KEYS[2], 'first_ts')
local last = redis.call('HGET', KEYS[2], 'last_ts')
local lo = first and tonumber(first)
local hi = last and tonumber(last)
local seq = count
for i = 4, #ARGV, 2 do
  seq = seq + 1
  local ts = ARGV[i + 1]
  redis.call('XADD', KEYS[1], '0-' .. string.format('%d', seq), 'p', ARGV[i], 't', ts)
  if ts ~= '' then
    local n = tonumber(ts)
    if not lo or n < lo then lo, first = n, ts end
    if not hi or n > hi then hi, last = n, ts end
  end
end
redis.call('HSET', KEYS[2], 'events', string.format('%d', seq))
if first then redis.call('HSET', KEYS[2], 'first_ts', first, 'last_ts', last) end
redis.call('SADD', KEYS[3], ARGV[1])
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[4], ARGV[3])
  redis.call('HDEL', KEYS[6], ARGV[3])
end
redis.call('INCR', KEYS[5])
return count + 1
"""


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` query value) replaced by ``***``; a
    user name alone is redacted too, since some clients read it as the password.

    >>> redact_url("redis://user:s3cret@db.example:6380/2?password=x&db=2")
    'redis://user:***@db.example:6380/2?password=***&db=2'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<an unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if colon else f"***@{hostport}"
    query = "&".join(
        f"{name}=***" if "pass" in name.lower() or "auth" in name.lower() else f"{name}={value}"
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class RedisEventStore(shared.Closable):
    """Append-only per-game event log in Redis, safe to share between processes and hosts.

    Same interface and semantics as :class:`~ccviz_kernel.store.EventStore`: gap-free
    ``seq`` per game, exactly-once delivery keys, all-or-nothing ``append_many``, chunked
    ``events(since)``, the game list newest first. One instance holds one connection pool
    and may be used from several threads. ``url`` is a ``redis://``, ``rediss://`` or
    ``unix://`` URL (redis-py's syntax); ``prefix`` keeps several logs apart on one server.
    The server is asked once on opening, so a wrong URL fails here, as a StoreError.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        if not isinstance(url, str) or not url:
            raise TypeError(f"url must be a non-empty str, got {type(url).__name__}")
        self._url = url
        self._path = redact_url(url)
        self._prefix = prefix
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise StoreError(
                f"cannot open event store {self._path!r}: the Redis client is not installed "
                "(pip install 'ccviz-kernel[redis]')"
            ) from None
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._timeout = redis.TimeoutError
        try:
            client = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=COMMAND_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),  # never resend an append (module doc)
            )
        except (ValueError, TypeError) as e:
            raise StoreError(
                f"cannot open event store {self._path!r}: not a Redis URL: {self._scrub(e)}"
            ) from None
        try:
            client.ping()
        except redis.RedisError as e:
            client.close()
            raise StoreError(f"cannot open event store {self._path!r}: {self._scrub(e)}") from None
        self._script = client.register_script(_APPEND_LUA)
        self._client = client

    # ------------------------------------------------------------------ lifecycle

    @property
    def path(self) -> str:
        """The server's URL with its password redacted (:func:`redact_url`), for messages
        and logs: ``redis://:***@127.0.0.1:6379/0``."""
        return self._path

    def close(self) -> None:
        """Release the connections. Closing twice is fine; ``with RedisEventStore(url) as
        store:`` closes on leaving."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _is_closed(self) -> bool:
        return self._client is None

    # ------------------------------------------------------------------ writes

    def append(
        self, game_id: str, payload: str, ts: float | None = None, *, key: str | None = None
    ) -> int | None:
        """Append one event and return its seq (the game's new length).

        With a ``key`` (a delivery id), an event whose key was appended before, by any
        process on this Redis, is dropped and ``None`` returned; the key is recorded in the
        same script as the event."""
        shared.check_game_id(game_id)
        row = shared.check_item(game_id, payload, ts)
        return self._run(game_id, [row], key)

    def append_many(self, game_id: str, items: Iterable[tuple[str, float | None]]) -> list[int]:
        """Append ``(payload, ts)`` pairs all-or-nothing, in one script; return their seqs.

        Items are read and validated before anything is sent, so a bad item (or an iterator
        that raises) appends nothing."""
        shared.check_game_id(game_id)
        rows = shared.check_items(game_id, items)
        if not rows:
            return []
        start = self._run(game_id, rows, None)
        assert start is not None  # no key: never dropped
        return list(range(start, start + len(rows)))

    # ------------------------------------------------------------------ reads

    def events(self, game_id: str, since: int = 0) -> Iterator[StoredEvent]:
        """Stream events with ``seq > since`` in order, one XRANGE per chunk; events appended
        while iterating are picked up too. Arguments are checked now, not at the first
        ``next()``."""
        shared.check_game_id(game_id)
        shared.check_since(since)
        return self._iter_events(game_id, since)

    def last_seq(self, game_id: str) -> int:
        """The game's newest seq, 0 for a game never seen; one HGET."""
        shared.check_game_id(game_id)
        with self._call("reading") as client:
            value = client.hget(self._summary_key(game_id), "events")
        return 0 if value is None else int(value)

    def games(self) -> list[GameRow]:
        """All games, most recently active (largest ``last_ts``) first; games without any
        timestamp last; ties broken by ``game_id`` so the order is stable."""
        with self._call("reading") as client:
            ids = sorted(client.smembers(self._key("games")))
            pipe = client.pipeline(transaction=False)
            for game_id in ids:
                pipe.hmget(self._summary_key(game_id), "events", "first_ts", "last_ts")
            summaries = pipe.execute()
        rows = [
            GameRow(game_id, int(n or 0), _float(first), _float(last))
            for game_id, (n, first, last) in zip(ids, summaries, strict=True)
        ]
        rows.sort(key=lambda r: (r.last_ts is None, -(r.last_ts or 0.0), r.game_id))
        return rows

    # ------------------------------------------------------------------ tailing

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a follower stops then)."""
        return self._client is None

    def read_new(
        self, cursors: dict[str, int], *, count: int, block_ms: int
    ) -> tuple[str, dict[str, list[StoredEvent]]]:
        """What another process tails (server/follow.py): the change counter, and the
        events after each game's cursor (``{game_id: seq}``), by game in seq order.

        The counter grows with every append that stored something, of any game, so it tells
        a process its lobby is out of date. The events are one XREAD that waits up to
        ``block_ms`` (under the command timeout) for the first new one, at most ``count``
        per game. Both go in one round trip (a pipeline: the GET first), since a follower
        asks after every append."""
        with self._call("reading") as client:
            if not cursors:
                return client.get(self._changes_key()) or "0", {}
            pipe = client.pipeline(transaction=False)
            pipe.get(self._changes_key())
            pipe.xread(
                {self._stream_key(g): f"0-{s}" for g, s in cursors.items()},
                count=count,
                block=block_ms,
            )
            changes, reply = pipe.execute()
        prefix = len(self._stream_key(""))
        items = (reply or {}).items() if isinstance(reply, dict) else reply or []  # RESP3: dict
        batch: dict[str, list[StoredEvent]] = {}
        for stream, entries in items:
            rows = [
                StoredEvent(int(entry_id.partition("-")[2]), _float(fields.get("t")), fields["p"])
                for entry_id, fields in entries
            ]
            if rows:
                batch[stream[prefix:]] = rows
        return changes or "0", batch

    # ------------------------------------------------------------------ held events

    def keep_held(
        self, game_id: str, key: str, payload: str, ts: float | None, until: float
    ) -> None:
        """Record an event the reorder window holds in memory (hub.py), so that it outlives
        the process holding it: its hook was answered already. Appending it with ``key``
        takes it out again (in the append script); if nobody has by ``until`` (epoch
        seconds), any process may append it (:meth:`overdue_held`; the key keeps that
        exactly-once)."""
        shared.check_game_id(game_id)
        row = shared.check_item(game_id, payload, ts)
        entry = json.dumps([game_id, row[0], row[1], until])
        with self._call("writing") as client:
            client.hset(self._key("held"), key, entry)

    def overdue_held(self, now: float) -> list[tuple[str, str, str, float | None]]:
        """Held events nobody appended by their ``until``: ``(game_id, key, payload, ts)``,
        oldest first. One HGETALL (the hash holds only what is held right now)."""
        with self._call("reading") as client:
            entries = client.hgetall(self._key("held"))
        due = []
        for key, text in entries.items():
            try:
                game_id, payload, ts, until = json.loads(text)
            except (ValueError, TypeError):  # not ours: leave it to whoever wrote it
                continue
            if isinstance(until, (int, float)) and until <= now:
                due.append((until, game_id, key, payload, ts))
        due.sort(key=lambda d: d[0])
        return [(game_id, key, payload, ts) for _, game_id, key, payload, ts in due]

    def forget_held(self, key: str) -> None:
        """Drop a held event that cannot be appended (refused as a payload)."""
        with self._call("writing") as client:
            client.hdel(self._key("held"), key)

    # ------------------------------------------------------------------ replay claims

    def claim_replays(self, owner: str, keep: Iterable[str], drop: Iterable[str], ttl: int) -> None:
        """Say that ``owner`` plays the replays ``keep`` (each claim lives ``ttl`` s unless
        renewed, so a killed process's claims go by themselves) and no longer ``drop``.
        Replays are not in the log; a claim lets another process refuse a join clearly."""
        with self._call("writing") as client:
            pipe = client.pipeline(transaction=False)
            for game_id in keep:
                pipe.set(self._replay_key(game_id), owner, ex=ttl)
            for game_id in drop:
                pipe.delete(self._replay_key(game_id))
            pipe.execute()

    def replay_owner(self, game_id: str) -> str | None:
        """Who claimed ``game_id`` as a replay (:meth:`claim_replays`), or None."""
        with self._call("reading") as client:
            return client.get(self._replay_key(game_id))

    # ------------------------------------------------------------------ shared replays

    def share_replay(
        self, game_id: str, rows: list[tuple[str, float | None]], state: dict, ttl: int
    ) -> None:
        """Publish a replay's recording (``(payload, ts)`` rows) and its clock's state, so
        other processes can show it (server/follow.py): the recording under
        ``<prefix>replay-source:<id>`` for ``ttl`` s (renewed with the claim), the state as
        the first entry of ``<prefix>replay-clock:<id>``."""
        shared.check_game_id(game_id)
        with self._call("writing") as client:
            pipe = client.pipeline(transaction=False)
            pipe.set(self._replay_source_key(game_id), json.dumps(rows), ex=ttl)
            pipe.delete(self._replay_clock_key(game_id))
            pipe.xadd(self._replay_clock_key(game_id), {"s": json.dumps(state)}, maxlen=64)
            pipe.expire(self._replay_clock_key(game_id), ttl)
            pipe.execute()

    def keep_replay(self, game_id: str, ttl: int) -> None:
        """Renew a shared replay's recording and clock (the owner does, with its claim)."""
        with self._call("writing") as client:
            pipe = client.pipeline(transaction=False)
            pipe.expire(self._replay_source_key(game_id), ttl)
            pipe.expire(self._replay_clock_key(game_id), ttl)
            pipe.execute()

    def replay_clock(self, game_id: str, state: dict) -> None:
        """The owner's clock moved (an event, a pause, a seek, a speed): one entry more."""
        with self._call("writing") as client:
            client.xadd(self._replay_clock_key(game_id), {"s": json.dumps(state)}, maxlen=64)

    def shared_replay(
        self, game_id: str
    ) -> tuple[list[tuple[str, float | None]], dict, str] | None:
        """A replay another process shares: its rows, its clock's latest state and that
        entry's id (where to tail from); ``None`` when none is shared under ``game_id``."""
        shared.check_game_id(game_id)
        with self._call("reading") as client:
            pipe = client.pipeline(transaction=False)
            pipe.get(self._replay_source_key(game_id))
            pipe.xrevrange(self._replay_clock_key(game_id), count=1)
            source, last = pipe.execute()
        if not source or not last:
            return None
        try:
            rows = [(str(p), None if t is None else float(t)) for p, t in json.loads(source)]
            entry_id, fields = last[0]
            state = json.loads(fields["s"])
        except (ValueError, TypeError, KeyError):  # not ours: nothing shared
            return None
        return rows, state, entry_id

    def replay_moves(self, cursors: dict[str, str]) -> dict[str, tuple[dict, str]]:
        """The newest clock state of each replay in ``cursors`` (``{game_id: entry id}``)
        that moved since that entry, with its id; one round trip, no wait."""
        if not cursors:
            return {}
        streams = {self._replay_clock_key(g): c for g, c in cursors.items()}
        with self._call("reading") as client:
            reply = client.xread(streams, count=64) or []
        prefix = len(self._replay_clock_key(""))
        items = reply.items() if isinstance(reply, dict) else reply
        moved: dict[str, tuple[dict, str]] = {}
        for stream, entries in items:
            if entries:
                entry_id, fields = entries[-1]
                try:
                    moved[stream[prefix:]] = (json.loads(fields["s"]), entry_id)
                except (ValueError, KeyError):
                    continue
        return moved

    def unshare_replay(self, game_id: str) -> None:
        """The replay was closed where it played: nothing of it is left to show."""
        with self._call("writing") as client:
            client.delete(
                self._replay_source_key(game_id),
                self._replay_clock_key(game_id),
                self._replay_asks_key(game_id),
            )

    def replay_shared(self, game_id: str) -> bool:
        """Whether a recording of ``game_id`` is still shared (one EXISTS)."""
        with self._call("reading") as client:
            return bool(client.exists(self._replay_source_key(game_id)))

    def take_replay(self, game_id: str, owner: str, ttl: int) -> bool:
        """Claim a shared replay nobody claims any more (its process stopped or was killed)
        for ``owner``; only one process gets it (SET NX)."""
        with self._call("writing") as client:
            return bool(client.set(self._replay_key(game_id), owner, nx=True, ex=ttl))

    def ask_replay(self, game_id: str, action: dict, ttl: int) -> None:
        """A control from a viewer of another process, for the replay's owner to apply."""
        with self._call("writing") as client:
            pipe = client.pipeline(transaction=True)
            pipe.rpush(self._replay_asks_key(game_id), json.dumps(action))
            pipe.expire(self._replay_asks_key(game_id), ttl)
            pipe.execute()

    def replay_asks(self, game_ids: Iterable[str]) -> dict[str, list[dict]]:
        """Take the controls other processes asked of these replays (this one owns them)."""
        ids = list(game_ids)
        if not ids:
            return {}
        with self._call("writing") as client:
            pipe = client.pipeline(transaction=True)
            for game_id in ids:
                pipe.lrange(self._replay_asks_key(game_id), 0, -1)
                pipe.delete(self._replay_asks_key(game_id))
            replies = pipe.execute()
        asks: dict[str, list[dict]] = {}
        for game_id, texts in zip(ids, replies[::2], strict=True):
            for text in texts or []:
                try:
                    action = json.loads(text)
                except ValueError:
                    continue
                if isinstance(action, dict):
                    asks.setdefault(game_id, []).append(action)
        return asks

    # ------------------------------------------------------------------ internals

    def _key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def _stream_key(self, game_id: str) -> str:
        return f"{self._prefix}events:{game_id}"

    def _summary_key(self, game_id: str) -> str:
        return f"{self._prefix}game:{game_id}"

    def _changes_key(self) -> str:
        return self._key("appended")

    def _replay_key(self, game_id: str) -> str:
        return f"{self._prefix}replay:{game_id}"

    def _replay_source_key(self, game_id: str) -> str:
        return f"{self._prefix}replay-source:{game_id}"

    def _replay_clock_key(self, game_id: str) -> str:
        return f"{self._prefix}replay-clock:{game_id}"

    def _replay_asks_key(self, game_id: str) -> str:
        return f"{self._prefix}replay-asks:{game_id}"

    def _run(self, game_id: str, rows: list[tuple[str, float | None]], key: str | None):
        args: list[str] = [game_id, "0" if key is None else "1", "" if key is None else key]
        for payload, ts in rows:
            args += (payload, "" if ts is None else repr(ts))
        keys = [
            self._stream_key(game_id),
            self._summary_key(game_id),
            self._key("games"),
            self._key("delivered"),
            self._changes_key(),
            self._key("held"),
        ]
        with self._call("writing", maybe_written=True) as client:
            result = self._script(keys=keys, args=args, client=client)
        return None if result is None else int(result)

    def _iter_events(self, game_id: str, since: int) -> Iterator[StoredEvent]:
        stream = self._stream_key(game_id)
        after = max(since, 0)
        while True:
            with self._call("reading") as client:
                entries = client.xrange(stream, f"0-{after + 1}", "+", count=FETCH_CHUNK)
            for entry_id, fields in entries:
                after = int(entry_id.partition("-")[2])
                yield StoredEvent(after, _float(fields.get("t")), fields["p"])
            if len(entries) < FETCH_CHUNK:
                return

    @contextmanager
    def _call(self, doing: str, maybe_written: bool = False) -> Iterator[redis.Redis]:
        client = self._client
        if client is None:
            raise StoreError(f"event store {self._path!r} is closed")
        try:
            yield client
        except self._errors as e:
            extra = ""
            if maybe_written and isinstance(e, self._timeout):
                extra = " (timed out: the append may or may not have been stored)"
            raise StoreError(
                f"{doing} event store {self._path!r} failed{extra}: {self._scrub(e)}"
            ) from None

    def _scrub(self, error: BaseException) -> str:
        """The error's text with the URL's password taken out, wherever it appears."""
        text = str(error) or type(error).__name__
        secrets = {self._url}
        try:
            parts = urllib.parse.urlsplit(self._url)
            hidden = parts.password if parts.password is not None else parts.username
            query = urllib.parse.parse_qsl(parts.query)
        except ValueError:
            hidden, query = None, []
        if hidden:
            secrets |= {hidden, urllib.parse.unquote(hidden)}
        secrets |= {v for k, v in query if "pass" in k.lower() or "auth" in k.lower()}
        for secret in sorted(secrets - {""}, key=len, reverse=True):
            text = text.replace(secret, "***" if secret != self._url else self._path)
        return text


def _float(value: str | None) -> float | None:
    return None if value is None or value == "" else float(value)
