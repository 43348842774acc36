"""A log filter that takes the tokens a server holds out of every record: the second line
of defence (a token pasted into a message, an exception's text) behind never logging one.
Used by ``ccviz serve``'s log (cli/logs.py) and by the Jupyter extension's bridge to
Jupyter's log (hosts/jupyter/app.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable


class ScrubTokens(logging.Filter):
    """Replace each of ``tokens`` in a record's message and exception with ``[token]``."""

    def __init__(self, tokens: Iterable[str | None]) -> None:
        super().__init__()
        self.tokens = [t for t in tokens if t]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = record.exc_text or ""
        if record.exc_info and not text:
            text = record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean, clean_text = message, text
        for token in self.tokens:
            clean = clean.replace(token, "[token]")
            clean_text = clean_text.replace(token, "[token]")
        if clean != message:
            record.msg, record.args = clean, None
        if clean_text != text:
            record.exc_text = clean_text
        return True
