"""What the game needs to know about Claude models: how big a context window each has.

Claude Code names a model like ``claude-opus-4-5-20251101``; a ``[1m]`` suffix (or a
``-1m`` one) asks for the one-million-token context. Everything else has 200,000 tokens.
"""

from __future__ import annotations

DEFAULT_CONTEXT_WINDOW = 200_000
LONG_CONTEXT_WINDOW = 1_000_000


def context_window(model: str | None) -> int:
    """The context window of ``model`` in tokens (the default when it is unknown)."""
    if isinstance(model, str) and (model.endswith("[1m]") or model.endswith("-1m")):
        return LONG_CONTEXT_WINDOW
    return DEFAULT_CONTEXT_WINDOW
