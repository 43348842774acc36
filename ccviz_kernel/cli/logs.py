"""``ccviz serve --log-level/--log-format``: the server's log on stderr, as text or as JSON
lines, with every token it knows scrubbed from every record.

The loggers are ``ccviz.*`` (``ccviz.server``, ``ccviz.http``, ``ccviz.access``: one line per
request, path without its query string, written by hosts/standalone.py). Tokens never reach a
log line on purpose; the filter here is the second line of defence (a token pasted into a
message, an exception text): the ingest and viewer tokens' values become ``[token]``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable

from ..server.logscrub import ScrubTokens

#: ``--log-level`` choices.
LEVELS = ("debug", "info", "warning", "error")
#: ``--log-format`` choices.
FORMATS = ("text", "json")


class JsonLines(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message (and the
    exception's text, if any). Hand-written: the standard library has the pieces and a log
    shipper needs nothing more."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:  # the scrubbed text when a filter made one
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def setup(level: str = "warning", fmt: str = "text", tokens: Iterable[str | None] = ()) -> None:
    """Send the ``ccviz`` loggers to stderr at ``level``, as ``fmt``, tokens scrubbed."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubTokens(tokens))
    root = logging.getLogger("ccviz")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
