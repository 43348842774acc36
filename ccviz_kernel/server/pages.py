"""The HTML shell of the viewer page and where the built front end lives.

Every host serves the same shell: it only tells the bundle where it is mounted (the
``ccviz-base`` meta tag) and how to talk; the bundle draws the lobby or a game itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
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


#: A hashed copy of a bundle (widgets/build.mjs): ``page.<16 hex>.js``, its ``.gz``, ``.br``.
_HASHED = re.compile(r"(page|widget)\.[0-9a-f]{16}\.(js|css)")
#: The content encodings build.mjs writes beside a hashed copy, best first.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
#: A hashed name never changes content: browsers keep it a year without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class StaticAnswer:
    """A file of the front end as the route sends it."""

    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    #: 304: the caller's copy (``If-None-Match``) is current; ``body`` is empty.
    not_modified: bool = False


def manifest(static: Path | None = None) -> dict[str, str]:
    """``static/manifest.json`` {logical name → hashed name} (widgets/build.mjs), keeping only
    the entries whose hashed file exists; ``{}`` without a build that wrote one. Read once per
    version of the file (a stat per call: a rebuild under a running server is picked up)."""
    path = (STATIC if static is None else static) / "manifest.json"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read_manifest(path, mtime)


@lru_cache(maxsize=4)
def _read_manifest(path: Path, mtime: int) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        name: hashed
        for name, hashed in data.items()
        if name in STATIC_FILES
        and isinstance(hashed, str)
        and _HASHED.fullmatch(hashed)
        and hashed.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]
        and (path.parent / hashed).is_file()
    }


def accepted_encodings(header: str | None) -> set[str]:
    """The codings an ``Accept-Encoding`` header accepts (``q=0`` refuses; ``*`` is not
    taken to mean br or gzip: a client that wants them names them)."""
    accepted: set[str] = set()
    for part in (header or "").split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding and q > 0:
            accepted.add(coding)
    return accepted


@lru_cache(maxsize=16)
def _immutable_bytes(path: Path) -> bytes:
    # a hashed name's content is fixed by its name: read once, kept (a few hundred KB each)
    return path.read_bytes()


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def static_file(
    name: str, headers: Mapping[str, str] | None = None, static: Path | None = None
) -> StaticAnswer:
    """The front-end file ``name`` for a request with ``headers``.

    A hashed name of the manifest is sent as the best precompressed copy the caller accepts
    (``Content-Encoding``, ``Vary: Accept-Encoding``) and cached for good; the plain names
    (``page.js``, ``widget.js``, ``page.css``) are sent as they are with ``no-cache`` and an
    ETag (a matching ``If-None-Match`` gets a 304). Raises ``KeyError`` for any other name,
    :class:`FrontEndMissing` when the build is absent.
    """
    folder = STATIC if static is None else static
    headers = headers or {}
    hashed = {h: n for n, h in manifest(folder).items()}
    if name in hashed:
        return _hashed_file(folder, name, STATIC_FILES[hashed[name]], headers)
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise KeyError(name)
    path = folder / name
    try:
        stat = path.stat()
        etag = f'W/"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        answer_headers = {"Cache-Control": "no-cache", "ETag": etag}
        if _etag_matches(headers.get("If-None-Match"), etag):
            return StaticAnswer(b"", content_type, answer_headers, not_modified=True)
        return StaticAnswer(path.read_bytes(), content_type, answer_headers)
    except FileNotFoundError:
        raise FrontEndMissing(
            f"the front end is not built ({path} is missing): "
            "reinstall from a checkout with npm available (pip install -e .), "
            "or run `npm install && npm run build` in widgets/"
        ) from None


def _hashed_file(
    folder: Path, name: str, content_type: str, headers: Mapping[str, str]
) -> StaticAnswer:
    accepted = accepted_encodings(headers.get("Accept-Encoding"))
    out = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    for coding, suffix in ENCODINGS:
        if coding in accepted:
            try:
                body = _immutable_bytes(folder / (name + suffix))
            except OSError:
                continue
            etag = f'"{name}-{coding}"'
            return StaticAnswer(
                body, content_type, {**out, "Content-Encoding": coding, "ETag": etag}
            )
    try:
        body = _immutable_bytes(folder / name)
    except OSError:  # listed when the manifest was read, gone since: a rebuild under way
        raise KeyError(name) from None
    return StaticAnswer(body, content_type, {**out, "ETag": f'"{name}"'})


def asset_url(base: str, name: str) -> str:
    """Where the page loads the bundle ``name`` from: its hashed copy when built, else the
    plain name."""
    return f"{base}static/{manifest().get(name, name)}"


def shell(base: str, *, serializer: str = "msgpack", game_id: str | None = None) -> str:
    """The page mounted at ``base`` (``/`` standalone, ``{base_url}ccviz/`` in Jupyter).

    Every address in it is relative to the page (``./`` for the lobby at the mount, ``../``
    for ``view/<id>``): behind a reverse proxy that serves the mount under a prefix of its
    own (``/team/``, jupyter-server-proxy's ``/user/x/proxy/8765/``) the page still finds its
    bundle and socket.io, which an absolute ``/static/…`` would miss. The page resolves its
    base the same way (``new URL(base, location.href)``)."""
    base = "../" if game_id else "./"
    game = f'\n<meta name="ccviz-game" content="{escape(game_id)}">' if game_id else ""
    title = f"ccviz · {escape(game_id)}" if game_id else "ccviz · games"
    css = (
        f'\n<link rel="stylesheet" href="{escape(asset_url(base, "page.css"))}">'
        if (STATIC / "page.css").exists() or "page.css" in manifest()
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
<meta name="ccviz-serializer" content="{escape(serializer)}">{game}{css}
<script type="module" src="{escape(asset_url(base, "page.js"))}"></script>
</head>
<body></body>
</html>
"""
