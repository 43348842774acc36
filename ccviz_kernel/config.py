"""Every path, limit, environment variable and default of ccviz, in one place.

Tests and several parallel servers each point ``CCVIZ_HOME`` at their own folder, so
nothing here may cache a path or a variable at import time: read them through the
functions. The hook command imports this module on every Claude Code event, so it stays on
``os`` and ``sys`` alone (pathlib and typing cost milliseconds there).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

# -- environment variables -------------------------------------------------------------

#: The data folder (token, runtime file, spool, event store).
ENV_HOME = "CCVIZ_HOME"
#: The ingest token (hooks and controllers); overrides the token file.
ENV_TOKEN = "CCVIZ_TOKEN"
#: The hook-only token (it may post hook events, nothing else) that Claude Code's http
#: handlers send; install-hooks puts it in the user settings' ``env``.
ENV_HOOK_TOKEN = "CCVIZ_HOOK_TOKEN"
#: The token viewers off loopback need; overrides the viewer-token file.
ENV_VIEWER_TOKEN = "CCVIZ_VIEWER_TOKEN"
#: A Redis URL (``redis://``, ``rediss://``, ``unix://``): the shared event log, instead of SQLite.
ENV_REDIS_URL = "CCVIZ_REDIS_URL"
#: The server ``ccviz hook`` posts to instead of the runtime file's (a team server,
#: ``http://`` or ``https://``; a prefix such as ``/team/`` included); what it cannot take
#: at once is spooled and sent by ``ccviz forward``.
ENV_URL = "CCVIZ_URL"
#: Claude Code's own config folder (its user settings live there), default ``~/.claude``.
ENV_CLAUDE_CONFIG = "CLAUDE_CONFIG_DIR"

# -- files in the data folder ----------------------------------------------------------

TOKEN_FILE = "token"
HOOK_TOKEN_FILE = "hook-token"
VIEWER_TOKEN_FILE = "viewer-token"
RUNTIME_FILE = "runtime.json"
SPOOL_FILE = "spool.jsonl"
STORE_FILE = "events.sqlite3"
#: Spooled lines the server could not ingest (garbage, torn, refused payloads), one JSON
#: object a line with the reason and the original bytes; ``ccviz doctor`` reports it.
DEAD_LETTER_FILE = "dead-letter.jsonl"
#: Spool files found writable by another user (or not ours), moved aside unread.
UNTRUSTED_SUFFIX = ".untrusted"
#: Disk space the server keeps aside (a file of zeros) so a hook still has room to spool
#: when the disk fills: the hook deletes it and writes again (docs/design.md §9).
RESERVE_FILE = "disk-reserve"
RESERVE_BYTES = 1_048_576
#: What hooks met a full disk: ``<epoch>\t<saved|lost>\t<delivery id>`` per line (an empty
#: file when even that could not be written: its mtime is the last time); the doctor reads it.
DISK_FULL_FILE = "disk-full.log"
#: Held (``runtime.lock_fd``) by the server that owns the data folder's store: a second one refuses.
SERVER_LOCK_FILE = "server.lock"
#: Held by the one ``ccviz forward`` that sends the spool to ``$CCVIZ_URL``.
FORWARD_LOCK_FILE = "forward.lock"

# -- network defaults ------------------------------------------------------------------

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/"
#: Where the Jupyter extension mounts the server under Jupyter's base URL.
JUPYTER_MOUNT = "ccviz/"

# -- limits and rates ------------------------------------------------------------------

#: Payloads larger than this are refused (the hook command shrinks big ones first).
MAX_PAYLOAD_BYTES = 1_048_576
#: The spool stops growing here (the server is down for long: newest events are dropped).
MAX_SPOOL_BYTES = 256 * 1024 * 1024
#: Untrusted data (hook payloads, socket.io messages, spool and transcript lines) nested
#: deeper than this is refused, wherever it enters (``untrusted.py``): real payloads and
#: lines reach 9 levels, and the store and the wire add a few levels of envelope under the
#: 255 that orjson writes.
MAX_DEPTH = 64
#: The longest string (value or key) untrusted data may hold, in characters.
MAX_STRING = 16 * 1024 * 1024
#: The largest Claude Code settings file install-hooks reads (real ones are a few KB).
MAX_SETTINGS_BYTES = 4 * 1024 * 1024
#: The longest number literal a settings file may hold (``1e400`` and 300-digit integers
#: are fine: install-hooks writes them back as they were).
MAX_NUMBER_CHARS = 1000
#: The largest count a game holds (tokens above all): JavaScript's largest exact integer,
#: well inside msgpack's and every JSON reader's range. Counters stop there.
MAX_COUNT = (1 << 53) - 1
#: The longest spool line the server reads (a payload at the cap plus its id and time);
#: a longer one is dead-lettered with its first DEAD_LETTER_HEAD bytes only.
MAX_SPOOL_LINE = MAX_PAYLOAD_BYTES + 256
DEAD_LETTER_HEAD = 65_536
#: How often a server looks at the spool (one ``stat``) and drains it when it is not empty.
SPOOL_POLL = 0.1
#: State updates per second per room at most (the frame coalescer's rate).
DEFAULT_FPS = 30.0
#: The hook's budget for delivering one event before it falls back to the spool (seconds).
HOOK_BUDGET = 0.060
#: Claude Code's timeout for our handlers, in seconds (``timeout`` in settings.json).
HOOK_COMMAND_TIMEOUT = 10
HOOK_HTTP_TIMEOUT = 2
#: Seconds an event that arrived before its cause (a result before its call, a subagent's
#: event before its SubagentStart, a Stop while a result is still on its way) is held back
#: waiting for it; then it is applied anyway. Hooks run concurrently, so they reach the
#: server a few milliseconds out of the order Claude Code fired them (docs/design.md §5).
REORDER_WINDOW = 0.25
#: Seconds the server holds Claude Code's PermissionRequest hook for an answer
#: (``POST api/permissions``, ``ccviz serve --answer-wait``); ``install-hooks
#: --answer-permissions`` gives the handler :data:`ANSWER_HOOK_MARGIN` more, so the server
#: always answers first (no decision, when nobody did) and Claude Code never times out.
ANSWER_WAIT = 110.0
ANSWER_HOOK_MARGIN = 10.0
#: The route where a hook waits for its answer (server/routes.py): the handlers of
#: ``install-hooks --answer-permissions`` post there, and ``ccviz hook`` does under the
#: plugin's option.
PERMISSIONS_PATH = "api/permissions"
#: The plugin's option (``userConfig`` in plugin/.claude-plugin/plugin.json) that makes its
#: hook command wait at :data:`PERMISSIONS_PATH` for an answer; Claude Code hands a hook
#: command each option as ``CLAUDE_PLUGIN_OPTION_<KEY>`` ("true" when on) [2.1.332].
PLUGIN_ANSWER_OPTION = "answer_permissions"
ENV_PLUGIN_ANSWER = "CLAUDE_PLUGIN_OPTION_" + PLUGIN_ANSWER_OPTION.upper()
#: How often the server reads a live session's transcript while it grows (seconds): the tool
#: calls and results come from there (server/transcripts.py), well inside REORDER_WINDOW.
TRANSCRIPT_POLL = 0.1

# -- connection limits (issue 11: hostile neighbours; server/limits.py applies them) ---------

#: Seconds a client has to send a whole request head (line and headers), counted from the
#: connection's start or the end of its previous answer; also how long an idle keep-alive
#: connection stays open. Against slowloris: a head trickled byte by byte is cut off here.
HEADER_TIMEOUT = 15.0
#: Seconds a client has to send a whole request body once its headers arrived (408 after).
BODY_TIMEOUT = 15.0
#: Seconds a websocket may stay open without opening a socket.io session on it.
CONNECT_GRACE = 10.0
#: Game rooms one socket.io connection may be in at once (the lobby is not counted). A
#: page shares one connection between all its views of a server (a notebook's widgets).
MAX_ROOMS_PER_CONNECTION = 64
#: ``join-game`` per connection: this many per second, bursts of ``JOIN_BURST``. The burst
#: covers a reconnecting page that joins all its rooms again at once (the page does not
#: retry a refused join).
JOIN_RATE = 10.0
JOIN_BURST = 64.0
#: Open socket.io connections from one client address. Loopback gets more: local
#: processes, a reverse proxy in front and the benchmarks all come from one address.
MAX_CONNECTIONS_PER_ADDRESS = 256
MAX_CONNECTIONS_PER_LOOPBACK = 4096

# -- paths -----------------------------------------------------------------------------

#: The package folder and the built front end inside it (``ccviz_kernel/static``).
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
STATIC_DIR = os.path.join(PACKAGE_DIR, "static")


def data_dir_str(create: bool = True) -> str:
    """The data folder as a string: ``$CCVIZ_HOME`` if set, else the per-user data dir."""
    home = os.environ.get(ENV_HOME)
    path = os.path.expanduser(home) if home else _user_data_dir()
    if create and not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _user_data_dir() -> str:
    """The platform's per-user data folder (what platformdirs gives, without importing a
    third-party package into the hook command)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "ccviz")


def data_file(name: str) -> str:
    """A file in the data folder (created on first use, owner-only)."""
    return os.path.join(data_dir_str(), name)


def data_dir(create: bool = True) -> Path:
    from pathlib import Path

    return Path(data_dir_str(create))


def db_path() -> Path:
    return data_dir() / STORE_FILE


def viewer_token_from_env() -> str | None:
    """``$CCVIZ_VIEWER_TOKEN``, read by every host (not only the command line)."""
    return os.environ.get(ENV_VIEWER_TOKEN) or None


def os_user(fallback: str = "python") -> str:
    """The account this process runs as: who answers a permission request from Python or
    a widget (the game's log says who decided); ``fallback`` where there is no name to
    have (a container without a passwd entry)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - getpass raises OSError, KeyError or ImportError
        return fallback


def claude_config_dir() -> str:
    """Claude Code's user folder: ``$CLAUDE_CONFIG_DIR`` or ``~/.claude``."""
    config = os.environ.get(ENV_CLAUDE_CONFIG)
    return os.path.expanduser(config) if config else os.path.expanduser("~/.claude")
