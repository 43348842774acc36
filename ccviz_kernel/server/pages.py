"""The HTML shell of the viewer page and where the built front end lives.

Every host serves the same shell: it only tells the bundle where it is mounted (the
``ccviz-base`` meta tag) and how to talk; the bundle draws the lobby or a game itself.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..config import STATIC_DIR
from ..errors import FrontEndMissing

STATIC = Path(STATIC_DIR)
#: Files the front-end build writes; served read-only, nothing else from that folder.
STATIC_FILES = {
    "page.js": "text/javascript",
    "page.css": "text/css",
    "widget.js": "text/javascript",
}


def static_file(name: str) -> tuple[bytes, str]:
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise KeyError(name)
    try:
        return (STATIC / name).read_bytes(), content_type
    except FileNotFoundError:
        raise FrontEndMissing(
            f"the front end is not built ({STATIC / name} is missing): "
            "reinstall from a checkout with npm available (pip install -e .), "
            "or run `npm install && npm run build` in widgets/"
        ) from None


def shell(base: str, *, serializer: str = "msgpack", game_id: str | None = None) -> str:
    """The page for ``base`` (``/`` standalone, ``{base_url}ccviz/`` in Jupyter)."""
    game = f'\n<meta name="ccviz-game" content="{escape(game_id)}">' if game_id else ""
    title = f"ccviz · {escape(game_id)}" if game_id else "ccviz · games"
    css = (
        '\n<link rel="stylesheet" href="{b}static/page.css">'
        if (STATIC / "page.css").exists()
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<meta name="ccviz-base" content="{escape(base)}">
<meta name="ccviz-serializer" content="{escape(serializer)}">{game}{css.format(b=escape(base))}
<script type="module" src="{escape(base)}static/page.js"></script>
</head>
<body></body>
</html>
"""
