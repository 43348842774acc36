"""Every error ccviz raises on purpose, in one hierarchy.

Each one carries a message written for a person (which field, which file, what to do), so
the command line prints it as one line and exits with :data:`EXIT_CODES`' code for it, the
server answers it with a 4xx and a notebook shows it without a traceback. Anything else is
a bug. The classes also derive from the built-in exception they refine (``ValueError``,
``KeyError``…), so callers that caught those before still do.
"""

from __future__ import annotations


class CcvizError(Exception):
    """Base class: a failure ccviz reports as one clear line."""


class UsageError(CcvizError):
    """The command, magic or call was given something it cannot use (a bad option value)."""


class PayloadError(CcvizError, ValueError):
    """The input is not a usable hook payload; the message says which field and why."""


class SourceError(CcvizError):
    """A transcript or hook log that cannot be read at all (missing, not lines of JSON)."""


class StoreError(CcvizError):
    """The event store cannot be opened or is not ours."""


class UntrustedError(CcvizError):
    """A data folder or file another user could have written: ccviz refuses to use it.

    The message names the path, why, and the command that fixes it.
    """


class ServerBusy(CcvizError, RuntimeError):
    """Another server already owns this data folder's store (it holds the server lock)."""


class SettingsError(CcvizError):
    """A Claude Code settings file we must not touch (unparsable, wrong shape, unwritable)."""


class FrontEndMissing(CcvizError, FileNotFoundError):
    """The JS bundle is not built (a checkout installed without npm)."""


class GameNotFound(CcvizError, KeyError):
    """No game with that id (in the store or on the server)."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else "no such game"


class ServerError(CcvizError, RuntimeError):
    """A ccviz server answered with an error (the message is the server's)."""


class ClientError(CcvizError, RuntimeError):
    """A socket.io mirror could not join or follow its game."""


def json_type(value: object) -> str:
    """How an error message names a JSON value's type: "an array", "an empty string"…

    One wording for every reader of JSON (hook payloads, transcript lines, settings files),
    so a person sees the same words whichever file was wrong.

    >>> json_type([]), json_type(" "), json_type(None), json_type(True)
    ('an array', 'an empty string', 'null', 'a boolean')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string" if value.strip() else "an empty string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


#: Exit codes of the ``ccviz`` command: usage errors 2, every other ccviz error 1.
EXIT_CODES: dict[type[CcvizError], int] = {UsageError: 2, CcvizError: 1}


def exit_code(error: CcvizError) -> int:
    """The ``ccviz`` command's exit code for ``error``: the nearest class in
    :data:`EXIT_CODES` along its method resolution order.

    >>> exit_code(UsageError("--port must be 1-65535")), exit_code(SourceError("no file"))
    (2, 1)
    """
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
