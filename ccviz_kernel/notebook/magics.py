"""``%load_ext ccviz_kernel`` and the ``%ccviz`` line magic.

Each command's options are declared with IPython's ``magic_arguments``, so ``%ccviz?``
shows all of them the way IPython shows its own magics' help. A bad command or option, or
``%ccviz help [COMMAND]``, prints one short message and the usage, never a traceback: a
notebook user mistyping a magic needs the right spelling, not a stack.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic_arguments import argument, magic_arguments

from .. import arguments as checks  # the command line's checks: one message for both
from ..errors import CcvizError
from ..errors import UsageError as MagicError

SUMMARY = """\
%ccviz status                      where games live, and what the hooks point at
%ccviz serve [--port N]            the in-kernel host (kernels without the extension;
                                   --redis URL: a team's Redis, default $CCVIZ_REDIS_URL)
%ccviz games                       the games, as a table
%ccviz view [GAME]                 a game inline (default: the newest)
%ccviz replay PATH [--speed N]     replay a transcript or hook log here, and show it
%ccviz install-hooks [--scope S]   point Claude Code's hooks at ccviz (as `ccviz install-hooks`:
                                   --per-call, --command, --dry-run, --project-dir, --settings)
%ccviz help [COMMAND]              this, or one command's options (%ccviz? shows them all)"""

#: Kept under its old name: the short usage, as printed after a mistake.
USAGE = SUMMARY

_Command = Callable[..., Any]


def _named(name: str) -> Callable[[_Command], _Command]:
    """Name a parser ``ccviz <name>`` (magic_arguments takes the function's name), so its
    usage reads ``%ccviz <name> ...``. Goes below ``@magic_arguments()``."""

    def name_it(func: _Command) -> _Command:
        func.argcmd_name = f"ccviz {name}".rstrip()  # type: ignore[attr-defined]
        return func

    return name_it


@magic_arguments()
@_named("status")
def _status_args() -> None:
    """Where this notebook's games live (the in-kernel host, this kernel's Jupyter server,
    the runtime file), and how many there are."""


@magic_arguments()
@argument(
    "--port",
    type=checks.port,
    default=0,
    metavar="N",
    help="the port on 127.0.0.1 (default: a free one)",
)
@argument(
    "--redis",
    default=None,
    metavar="URL",
    help="keep the event log in this Redis (redis://host:port/db) and serve every game on it, "
    "as `ccviz serve --redis` does (default: $CCVIZ_REDIS_URL, else the data folder's SQLite)",
)
@_named("serve")
def _serve_args() -> None:
    """Serve from this kernel: the in-kernel host, for kernels whose Jupyter server has no
    ccviz (VS Code, Colab, a console). Claude Code's hooks then reach it."""


@magic_arguments()
@_named("games")
def _games_args() -> None:
    """The games right now, as a table (the newest first)."""


@magic_arguments()
@argument("game", nargs="?", metavar="GAME", help="the game's id (default: the newest game)")
@_named("view")
def _view_args() -> None:
    """Show a game inline, live."""


@magic_arguments()
@argument(
    "path",
    metavar="PATH",
    help="a Claude Code transcript (.jsonl) or a hook log (one payload a line)",
)
@argument(
    "--speed", type=checks.speed, default=4.0, metavar="N", help="times real time (default: 4)"
)
@_named("replay")
def _replay_args() -> None:
    """Replay a recorded session in this kernel and show it; the controller is the cell's
    result (``_``): ``_.pause()``, ``_.seek(0)``, ``_.speed = 8``."""


@magic_arguments()
@_named("install-hooks")
def _install_args() -> None:
    """Point Claude Code's hooks at ccviz: the same options and defaults as the
    ``ccviz install-hooks`` command."""


@magic_arguments()
@argument("topic", nargs="?", metavar="COMMAND", help="a command to explain")
@_named("help")
def _help_args() -> None:
    """The short usage, or one command's options."""


def _share_install_options() -> None:
    """``install-hooks`` takes its options from the command line's own definition (one set
    of defaults, whoever changes them there), then its help is made again with them."""
    from ..claude.install_options import add_install_options

    parser = _install_args.parser  # type: ignore[attr-defined]
    add_install_options(parser)
    _install_args.__doc__ = parser.format_help()


_share_install_options()

COMMANDS: dict[str, _Command] = {
    "status": _status_args,
    "serve": _serve_args,
    "games": _games_args,
    "view": _view_args,
    "replay": _replay_args,
    "install-hooks": _install_args,
    "help": _help_args,
}


def _parser(command: str) -> argparse.ArgumentParser:
    return COMMANDS[command].parser  # type: ignore[attr-defined]


def _usage(command: str) -> str:
    """One command's usage line (magic_arguments formats it as an RST code block)."""
    return " ".join(_parser(command).format_usage().replace("::", " ").split())


def _full_help() -> str:
    """``%ccviz?``: the magic's own usage, then every command's."""
    parts = [ccviz_magic.parser.format_help().rstrip()]  # type: ignore[attr-defined]
    for command in COMMANDS:
        parts.append(_parser(command).format_help().rstrip())
    return "\n\n".join(parts) + "\n"


@magic_arguments()
@argument(
    "command",
    nargs="?",
    default="status",
    metavar="COMMAND",
    choices=list(COMMANDS),
    help="status (the default), serve, games, view, replay, install-hooks or help",
)
@argument("args", nargs=argparse.REMAINDER, help="the command's own arguments (below)")
@_named("")
def ccviz_magic(line: str) -> Any:
    """Claude Code sessions as a live game, in this notebook.

    ::

      %ccviz status | serve | games | view [GAME] | replay PATH | install-hooks | help
    """
    from IPython.display import display

    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:  # an unclosed quote
        print(f"%ccviz: {exc}\n\n{SUMMARY}")
        return None
    if tokens[:1] in (["-h"], ["--help"]):
        tokens = ["help", *tokens[1:]]
    if tokens and not tokens[0].startswith("-") and tokens[0] not in COMMANDS:
        print(f"%ccviz: no command {tokens[0]!r}\n\n{SUMMARY}")
        return None
    try:
        top = ccviz_magic.parser.parse_args(tokens)  # type: ignore[attr-defined]
    except IPythonUsageError as exc:
        print(f"%ccviz: {_plain(exc)}\n\n{SUMMARY}")
        return None
    try:
        ns = _parser(top.command).parse_args(top.args)
    except IPythonUsageError as exc:
        print(f"%ccviz {top.command}: {_plain(exc)}\n{_usage(top.command)}")
        return None
    ns.command = top.command
    try:
        return _run(ns, display)
    except (CcvizError, KeyError, ValueError, OSError) as exc:
        print(f"%ccviz {top.command}: {_one_line(exc)}")
        return None


ccviz_magic.__doc__ = _full_help()


def _one_line(error: Exception) -> str:
    """A failed command's message as one line: a KeyError's text without its quotes, an
    OSError's reason and file, whatever line breaks the message had folded."""
    if isinstance(error, KeyError) and not isinstance(error, CcvizError) and error.args:
        text = str(error.args[0])
    elif isinstance(error, OSError) and not isinstance(error, CcvizError) and error.strerror:
        text = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _plain(error: Exception) -> str:
    """argparse's message, with its list of choices on one line."""
    return " ".join(str(error).split())


def _run(ns: argparse.Namespace, display: Any) -> Any:
    from .connect import connect

    if ns.command == "status":
        return _status()
    if ns.command == "help":
        return _help(ns.topic)
    if ns.command == "serve":
        from ..hosts import kernel

        try:
            host = kernel.serve(ns.port, redis=ns.redis)
        except RuntimeError as exc:  # no running event loop: not in a kernel
            raise MagicError(str(exc)) from None
        from ..store import EventStore

        store = host.hub.store  # only its path (a Redis URL's password redacted) is shown
        shared = "" if isinstance(store, EventStore) else f"; event log {store.path}"
        print(f"ccviz serving from this kernel at {host.url} (hooks will reach it){shared}")
        return None
    if ns.command == "install-hooks":
        from ..claude.install_options import cmd_install

        cmd_install(ns)  # the same options and defaults as `ccviz install-hooks`
        return None
    hub = connect()
    if ns.command == "games":
        return hub.games
    if ns.command == "view":
        game_id = ns.game or _newest(hub)
        return hub.view(game_id)
    if ns.command == "replay":
        replay = hub.replay(ns.path, speed=ns.speed)
        print(
            f"replaying {replay.total} events as {replay.game.id!r} at {replay.speed:g}x "
            "(the controller is in `_`: _.pause(), _.seek(0), _.speed = 8)"
        )
        display(replay.view())
        return replay
    raise MagicError(f"unknown command {ns.command!r}")


def _help(topic: str | None) -> None:
    if topic is None:
        print(f"{SUMMARY}\n\n%ccviz? shows every option.")
    elif topic in COMMANDS:
        print(_parser(topic).format_help().replace("::\n\n  ", "").rstrip())
    else:
        print(f"%ccviz help: no command {topic!r}\n\n{SUMMARY}")


def _newest(hub: Any) -> str:
    rows = hub.summaries()
    if not rows:
        raise MagicError("no games yet: run Claude Code with the hooks installed, or %ccviz replay")
    return rows[0]["gameId"]


def _status() -> None:
    from ..hosts import kernel
    from ..runtime import read_runtime
    from ..store import EventStore
    from .discovery import discover

    host = kernel.current()
    info = read_runtime()
    if host is not None:
        if host.task.done() and host.task.exception() is not None:
            print(f"in-kernel host: failed to start: {host.task.exception()}")
        elif host.running is None:
            print(f"in-kernel host: starting at {host.url} (ready once this cell ends)")
        else:
            store = host.hub.store  # a Redis log by its redacted path only
            shared = "" if isinstance(store, EventStore) else f"; event log {store.path}"
            print(f"in-kernel host: serving at {host.url}{shared}")
    found = discover()
    if found.server is not None:
        ccviz_there = f"ccviz at {found.ccviz_url}" if found.ccviz_url else found.note
        where = f"{found.server.url} (pid {found.server.pid})"
        print(f"this kernel's Jupyter server: {where}; {ccviz_there}")
    elif found.in_kernel:
        print(f"this kernel's Jupyter server: none ({found.note})")
    if info is not None:
        print(f"runtime file: {info.get('kind')} server at {info['url']} (pid {info.get('pid')})")
    else:
        print("runtime file: none (no server running; `%ccviz serve` starts one here)")
    from .connect import connect

    hub = connect(serve=False)
    print(
        f"this notebook uses: {hub.kind} ({hub.url or 'this kernel only'}); "
        f"{len(hub.summaries())} game(s)"
    )
