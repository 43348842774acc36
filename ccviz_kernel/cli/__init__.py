"""The ``ccviz`` command line.

Errors are one clear line on stderr and a non-zero exit, never a traceback. Every
subcommand imports what it needs when it runs, so ``ccviz hook`` (run by Claude Code on
every event) stays on the standard library.
"""

from __future__ import annotations

import sys

from ..errors import CcvizError, exit_code

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit status (a bad argument exits 2 through argparse)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["hook"] and not _asks_help(args[1:]):
        # The hot path, what Claude Code runs on every event: no argparse, standard library
        # only, and any other argument is ignored (the hook must never fail Claude Code).
        from .hook import main as hook_main

        return hook_main()
    parser = _parser()
    ns = parser.parse_args(args)
    handler: Callable[..., int] | None = getattr(ns, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(ns)
    except CcvizError as exc:
        print(f"ccviz: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _asks_help(args: list[str]) -> bool:
    """``ccviz hook -h``/``--help``: the one way off the hook's hot path (a list scan)."""
    return "-h" in args or "--help" in args


HOOK_HELP = """\
What Claude Code runs on each hook event (`ccviz install-hooks` writes it into Claude
Code's settings). It reads one hook payload (JSON) from stdin and posts it to the running
ccviz server (the one the runtime file names) within 60 ms; when no server answers, it
keeps the event in the spool, which the next server ingests in order. It prints nothing
and always exits 0, whatever happens, so it can never break or slow Claude Code; other
arguments are ignored. `ccviz doctor` says whether events are getting through."""


def _parser():
    import argparse
    from typing import NoReturn

    from .. import arguments as checks
    from .._version import __version__
    from ..config import ANSWER_WAIT

    class Parser(argparse.ArgumentParser):
        """argparse, with a bad argument reported as one line (and the way to the help)."""

        def error(self, message: str) -> NoReturn:
            self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")

    parser = Parser(
        prog="ccviz", description="Claude Code sessions as a live game you can watch and replay."
    )
    parser.add_argument("--version", action="version", version=f"ccviz {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    replay = sub.add_parser(
        "replay", help="replay a transcript or hook log and print what happened"
    )
    replay.add_argument(
        "path", help="a Claude Code transcript (.jsonl) or a hook log (one payload a line)"
    )
    replay.add_argument("--json", action="store_true", help="print the final snapshot as JSON")
    replay.add_argument("--quiet", "-q", action="store_true", help="final state only, no timeline")
    replay.set_defaults(handler=_cmd_replay)

    serve = sub.add_parser(
        "serve", help="run the live server (socket.io, hooks endpoint, viewer page)"
    )
    _add_address(serve)
    serve.add_argument(
        "--json", action="store_true", help="JSON serializer for plain socket.io clients"
    )
    serve.add_argument(
        "--fps",
        type=checks.fps,
        default=30.0,
        help=f"max updates per second per game (default 30, at most {checks.MAX_FPS:g})",
    )
    serve.add_argument(
        "--viewer-token",
        type=checks.token,
        default=None,
        help="token viewers need off loopback (or set CCVIZ_VIEWER_TOKEN)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        type=checks.origin,
        default=[],
        metavar="ORIGIN",
        help="allow this browser origin (repeatable)",
    )
    serve.add_argument(
        "--public-name",
        action="append",
        type=checks.public_name,
        default=[],
        metavar="NAME",
        help="a host name this server answers to besides localhost and --host, e.g. the "
        "machine's name or a proxy's (repeatable; other Host headers get 403)",
    )
    serve.add_argument(
        "--keep-raw",
        action="store_true",
        help="store hook payloads unredacted (viewers still see them redacted)",
    )
    serve.add_argument(
        "--redis",
        type=checks.redis_url,
        default=None,
        metavar="URL",
        help="keep the event log in this Redis (redis://host:port/db) instead of the data "
        "folder's SQLite file; several servers on one Redis serve every game "
        "(or set CCVIZ_REDIS_URL)",
    )
    serve.add_argument(
        "--base-url",
        type=checks.base_url,
        default="/",
        metavar="PATH",
        help="serve everything under this path prefix, e.g. /team/ behind a reverse proxy "
        "that forwards that prefix unchanged (default /)",
    )
    serve.add_argument(
        "--answer-wait",
        type=checks.answer_wait,
        default=ANSWER_WAIT,
        metavar="SECONDS",
        help="how long a permission request waits for an answer from the page, a widget or "
        f"Python before Claude Code asks in its own way (default {ANSWER_WAIT:g}; hooks "
        "installed with install-hooks --answer-permissions)",
    )
    serve.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="what the server logs on stderr (info: one line per request; default warning)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text or as JSON objects, one per line",
    )
    serve.set_defaults(handler=_cmd_serve)

    demo = sub.add_parser(
        "demo", help="serve the viewer with a bundled session replaying in a loop"
    )
    _add_address(demo)
    demo.add_argument(
        "--sample", type=_sample, default="long", help="bundled sample: short, subagents or long"
    )
    demo.add_argument(
        "--speed",
        type=checks.speed,
        default=4.0,
        help="replay speed, times real time (default 4)",
    )
    demo.add_argument("--open", action="store_true", help="open the page in a browser")
    demo.set_defaults(handler=_cmd_demo)

    view = sub.add_parser(
        "view",
        help="open a transcript, hook log or stored game in the browser",
        description="Open any transcript, hook log or stored game in the browser: on the "
        "running server if there is one (the command returns), else on a server started "
        "here (until Ctrl-C). Prints the URL.",
    )
    view.add_argument("target", metavar="PATH|GAME_ID", help="a file, or the id of a stored game")
    _add_address(view, " when serving here")
    view.add_argument("--open", action="store_true", help="open the page in a browser")
    view.set_defaults(handler=_cmd_view)

    hook = sub.add_parser(
        "hook",
        help="(run by Claude Code) forward one hook payload from stdin",
        description=HOOK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hook.set_defaults(handler=_cmd_hook)

    games = sub.add_parser("games", help="list the games in the event store")
    games.add_argument("--json", action="store_true", help="print them as JSON")
    games.set_defaults(handler=_cmd_games)

    from .doctor import add_parser as add_doctor
    from .export import add_parser as add_export
    from .forward import add_parser as add_forward
    from .install import add_parser as add_install

    add_install(sub)
    add_doctor(sub)
    add_export(sub)
    add_forward(sub)
    return parser


def _cmd_replay(ns) -> int:
    from ..claude.sources import SourceError
    from ..replays.load import load_replay
    from ..replays.text import format_event, format_final

    try:
        replay = load_replay(ns.path)
    except SourceError as exc:
        raise CcvizError(str(exc)) from None
    except OSError as exc:
        raise CcvizError(f"cannot read {ns.path}: {exc.strerror or exc}") from None
    if not replay.events:
        raise CcvizError(f"{ns.path}: no usable events ({replay.skipped} lines skipped)")
    out = sys.stdout
    game = None
    for event, applied, game in replay.play():
        if not ns.json and not ns.quiet:
            for line in format_event(game, event, applied):
                out.write(line + "\n")
    assert game is not None
    if ns.json:
        import json

        json.dump(game.snapshot(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write("\n" + format_final(game.snapshot(), replay) + "\n")
    if replay.others:
        print(
            f"ccviz: {ns.path} also holds {len(replay.others)} other session(s), each its own"
            f" game: {', '.join(replay.others[:5])}",
            file=sys.stderr,
        )
    if replay.skipped:
        print(f"ccviz: skipped {replay.skipped} unusable line(s) in {ns.path}", file=sys.stderr)
        for problem in replay.problems[:5]:
            print(f"  {problem}", file=sys.stderr)
    return 0


def _cmd_hook(ns) -> int:
    """Only reached through argparse (``main`` sends ``ccviz hook`` straight to the hook)."""
    from .hook import main as hook_main

    return hook_main()


def _cmd_serve(ns) -> int:
    from ..hosts.standalone import serve
    from ..runtime import read_or_create_token, viewer_token
    from . import logs

    # the tokens this server will hold: scrubbed from every log line, whatever writes it
    logs.setup(
        ns.log_level,
        ns.log_format,
        (read_or_create_token(), ns.viewer_token or viewer_token()),
    )
    options = {}
    url = _redis_url(ns)
    if ns.keep_raw or url:  # else the host makes its own hub, which redacts before the store
        from ..hub import Hub
        from ..store import open_store

        store = open_store(url) if url else None  # a StoreError names it, password redacted
        options["hub"] = Hub(store, keep_raw=ns.keep_raw)
    try:
        return serve(
            ns.host,
            ns.port,
            json_mode=ns.json,
            fps=ns.fps,
            viewer_token=ns.viewer_token,
            cors=ns.cors_origin,
            public_names=ns.public_name,
            base_url=ns.base_url,
            answer_wait=ns.answer_wait,
            **options,
        )
    except ValueError as exc:
        raise CcvizError(str(exc)) from None
    except OSError as exc:
        raise CcvizError(f"cannot serve on {ns.host}:{ns.port}: {exc.strerror or exc}") from None


def _redis_url(ns) -> str | None:
    """``--redis``, else ``$CCVIZ_REDIS_URL`` (checked like the option), else None."""
    import argparse
    import os

    from .. import arguments as checks
    from ..config import ENV_REDIS_URL
    from ..errors import UsageError

    if ns.redis:
        return ns.redis
    text = os.environ.get(ENV_REDIS_URL, "").strip()
    if not text:
        return None
    try:
        return checks.redis_url(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{ENV_REDIS_URL}: {exc}") from None


def _add_address(parser, when: str = "") -> None:
    """``--host`` and ``--port`` of the commands that serve (one check of each for all)."""
    from ..arguments import host, port
    from ..config import DEFAULT_HOST, DEFAULT_PORT

    parser.add_argument(
        "--host", type=host, default=DEFAULT_HOST, help=f"interface{when} (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=port,
        default=DEFAULT_PORT,
        help=f"port{when} (default {DEFAULT_PORT}; 0 picks one)",
    )


def _sample(name: str) -> str:
    """A bundled sample's name, checked while parsing (before the demo serves anything)."""
    import argparse

    from .. import samples

    if name not in samples.NAMES:
        raise argparse.ArgumentTypeError(
            f"no sample {name!r}; choose one of: {', '.join(samples.NAMES)}"
        )
    return name


def _cmd_view(ns) -> int:
    from .view import run_view

    try:
        return run_view(ns.target, ns.host, ns.port, open_browser=ns.open)
    except OSError as exc:
        raise CcvizError(f"cannot serve on {ns.host}:{ns.port}: {exc.strerror or exc}") from None


def _cmd_demo(ns) -> int:
    from .demo import run_demo

    try:
        return run_demo(ns.host, ns.port, sample=ns.sample, speed=ns.speed, open_browser=ns.open)
    except ValueError as exc:
        raise CcvizError(str(exc)) from None
    except OSError as exc:
        raise CcvizError(f"cannot serve on {ns.host}:{ns.port}: {exc.strerror or exc}") from None


def _cmd_games(ns) -> int:
    from ..replays.text import format_time
    from ..store import EventStore, StoreError

    try:
        with EventStore() as store:
            rows = store.games()
    except StoreError as exc:
        raise CcvizError(str(exc)) from None
    if ns.json:
        import json
        from dataclasses import asdict

        print(json.dumps([asdict(row) for row in rows]))
        return 0
    if not rows:
        print("no games yet (start `ccviz serve` and install the hooks, or replay a transcript)")
        return 0
    print(f"{'game':38} {'events':>7}  last event")
    for row in rows:
        print(f"{row.game_id:38} {row.events:>7}  {format_time(row.last_ts)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
