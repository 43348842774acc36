"""``ccviz export PATH|GAME_ID -o replay.html``: a game as one file anyone can open.

The file plays the whole replay in any browser, offline, from a folder or an e-mail
attachment: the viewer page, its bundle and the game's redacted log are inline
(:mod:`ccviz_kernel.replays.export`). Nothing is served and no server needs to run.
"""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    """Add ``export`` to the ``ccviz`` subcommands."""
    export = sub.add_parser(
        "export",
        help="write a game as one HTML file that plays offline in any browser",
        description="Write a transcript, hook log or stored game as one self-contained HTML "
        "file (the viewer, its bundle and the redacted game log inline) that plays the whole "
        "replay in any browser without Python, a server or a network.",
    )
    export.add_argument("target", metavar="PATH|GAME_ID", help="a file, or the id of a stored game")
    from ..arguments import output_file

    export.add_argument(
        "-o",
        "--output",
        type=output_file,
        default=None,
        help="the file to write, in a folder that exists (default: <game id>.html)",
    )
    export.add_argument("--title", default=None, help="the page's title (default: the game's)")
    export.set_defaults(handler=_cmd_export)


def _cmd_export(ns: Any) -> int:
    from ..errors import CcvizError
    from ..replays.export import load_history, write_export

    history = load_history(ns.target)
    out = ns.output or f"{history.game_id}.html"
    try:
        size = write_export(history, out, title=ns.title)
    except OSError as exc:
        raise CcvizError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"ccviz export: {out} ({size / 1e6:.2f} MB, {history.seq} events)")
    return 0
