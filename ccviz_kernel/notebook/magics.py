"""``%load_ext ccviz_kernel`` and the ``%ccviz`` line magic.

%ccviz status                      where games live, and what the hooks point at
%ccviz serve [--port N]            the in-kernel host (kernels without the extension)
%ccviz games                       the games, as a table
%ccviz view [GAME]                 a game inline (default: the newest)
%ccviz replay PATH [--speed N]     replay a transcript or hook log here, and show it
%ccviz install-hooks [--scope S]   point Claude Code's hooks at ccviz (as `ccviz install-hooks`:
                                   --per-call, --command, --dry-run, --project-dir, --settings)
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from ..errors import UsageError as MagicError

USAGE = __doc__.split("\n\n", 1)[1]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # no SystemExit inside a kernel
        raise MagicError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="%ccviz", add_help=False)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("status")
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, default=0)
    sub.add_parser("games")
    view = sub.add_parser("view")
    view.add_argument("game", nargs="?")
    replay = sub.add_parser("replay")
    replay.add_argument("path")
    replay.add_argument("--speed", type=float, default=4.0)
    from ..claude.install_options import add_install_options

    add_install_options(sub.add_parser("install-hooks"))
    return parser


def ccviz_magic(line: str) -> Any:
    from IPython.display import display

    try:
        ns = _parser().parse_args(shlex.split(line, comments=True))
    except MagicError as exc:
        print(f"%ccviz: {exc}\n\n{USAGE}")
        return None
    try:
        return _run(ns, display)
    except (MagicError, KeyError, ValueError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"%ccviz: {message}")
        return None


def _run(ns: argparse.Namespace, display: Any) -> Any:
    from .connect import connect

    if ns.command in (None, "status"):
        return _status()
    if ns.command == "serve":
        from ..hosts import kernel

        host = kernel.serve(ns.port)
        print(f"ccviz serving from this kernel at {host.url} (hooks will reach it)")
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
    if ns.command == "install-hooks":
        from ..claude.install_options import cmd_install

        cmd_install(ns)  # the same options and defaults as `ccviz install-hooks`
        return None
    raise MagicError(f"unknown command {ns.command!r}")


def _newest(hub: Any) -> str:
    rows = hub.summaries()
    if not rows:
        raise MagicError("no games yet: run Claude Code with the hooks installed, or %ccviz replay")
    return rows[0]["gameId"]


def _status() -> None:
    from ..hosts import kernel
    from ..runtime import read_runtime

    host = kernel.current()
    info = read_runtime()
    if host is not None:
        if host.task.done() and host.task.exception() is not None:
            print(f"in-kernel host: failed to start: {host.task.exception()}")
        elif host.running is None:
            print(f"in-kernel host: starting at {host.url} (ready once this cell ends)")
        else:
            print(f"in-kernel host: serving at {host.url}")
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
