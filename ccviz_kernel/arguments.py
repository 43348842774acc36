"""Argument checks for the ``ccviz`` subcommands and the ``%ccviz`` magics: each bad value
is one line, at parse time, with the same words in a terminal and in a cell.

They run as argparse ``type=`` functions, so a bad value stops the command before it
starts a server, opens the store or writes a file (a server started and then refused would
leave its runtime file behind for the hooks to find). Each raises
``argparse.ArgumentTypeError`` with a message naming what a good value looks like.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re

#: One label of a host name (RFC 1123): letters, digits and inner hyphens, 1–63 long.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
#: One segment of a ``--base-url`` path: URL-safe characters only (no escapes to get wrong).
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]{1,100}")
#: Updates per second a game may send a viewer: more is not smoother, just busier.
MAX_FPS = 240.0


def port(text: str) -> int:
    """A TCP port, 0 (pick a free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return value


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what} is a number, not {text!r}")
    return value


def speed(text: str) -> float:
    """A replay speed the replay clock accepts (its bounds, so the check cannot drift)."""
    from .engine.town import MAX_SPEED, MIN_SPEED

    value = _number(text, "a speed")
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(
            f"a speed is from {MIN_SPEED:g} to {MAX_SPEED:g} (times real time), not {text!r}"
        )
    return value


def fps(text: str) -> float:
    """Updates per second: above 0, at most :data:`MAX_FPS`."""
    value = _number(text, "an update rate")
    if not 0 < value <= MAX_FPS:
        raise argparse.ArgumentTypeError(
            f"an update rate is above 0 and at most {MAX_FPS:g} per second, not {text!r}"
        )
    return value


def host(text: str) -> str:
    """An interface to bind: an IP address (``[::1]`` too) or a host name."""
    name = text.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if _is_ip(name) or _is_host_name(name):
        return name
    raise argparse.ArgumentTypeError(
        f"a host is an IP address or a host name (e.g. 127.0.0.1, ::1, localhost), not {text!r}"
    )


def public_name(text: str) -> str:
    """A name the server answers to (``--public-name``): a host name or IP, no port."""
    name = text.strip()
    if _is_ip(name.strip("[]")) or _is_host_name(name):
        return name
    raise argparse.ArgumentTypeError(
        f"a public name is a host name or IP address without a port or scheme, not {text!r}"
    )


def origin(text: str) -> str:
    """A browser origin (``--cors-origin``): ``http(s)://host[:port]``, nothing after."""
    match = re.fullmatch(r"(https?)://(\[[0-9A-Fa-f:.]+\]|[^/:\[\]]+)(?::(\d{1,5}))?", text)
    if match is not None and (match.group(3) is None or int(match.group(3)) <= 65535):
        name = match.group(2)
        if _is_ip(name.strip("[]")) or _is_host_name(name):
            return text
    raise argparse.ArgumentTypeError(
        f"an origin is scheme://host[:port], e.g. http://localhost:3000, not {text!r}"
    )


def token(text: str) -> str:
    """A viewer token: not empty, no spaces (it travels in a header and a URL)."""
    if not text or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError("a viewer token is a non-empty string without spaces")
    return text


#: What a ``--redis`` URL starts with (redis-py's schemes).
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_url(text: str) -> str:
    """A Redis URL for the shared event log. Never echoed: it may carry a password."""
    if not text.startswith(REDIS_SCHEMES) or len(text) <= len(text.partition("//")[0]) + 2:
        raise argparse.ArgumentTypeError(
            "a Redis URL starts with redis://, rediss:// or unix://, e.g. redis://127.0.0.1:6379/0"
        )
    return text


def answer_wait(text: str) -> float:
    """Seconds a permission request may wait: more than 0, at most the answer hook's own
    timeout less its margin (Claude Code must never give up before the server answers)."""
    from .config import ANSWER_WAIT

    value = _number(text, "an answer wait")
    if not 0 < value <= ANSWER_WAIT:
        raise argparse.ArgumentTypeError(
            f"an answer wait is more than 0 and at most {ANSWER_WAIT:g} seconds, not {text!r}"
        )
    return value


def base_url(text: str) -> str:
    """A path prefix such as ``/team/`` (what a reverse proxy puts in front): ``/``-separated
    segments of letters, digits and ``-._~``; returned with one leading and one trailing ``/``."""
    parts = [p for p in text.strip().split("/") if p]
    if not all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts):
        raise argparse.ArgumentTypeError(
            f"a base URL is a path such as /team/ (letters, digits, - . _ ~), not {text!r}"
        )
    return "/" + "".join(p + "/" for p in parts)


def output_file(text: str) -> str:
    """A file to write: its folder must exist already (a typo must not make a new tree)."""
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text} is a folder; name the file to write")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"no folder {folder} to write {os.path.basename(path)} in")
    return path


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_host_name(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))
