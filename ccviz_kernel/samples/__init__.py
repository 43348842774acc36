"""Bundled sample sessions: invented Claude Code sessions for demos, tests and replays.

Each sample comes as a hook log (``<name>.hooks.jsonl``) and as a transcript tree
(``<name>/<session-id>.jsonl`` plus ``<session-id>/subagents/``), frozen data checked by
``SHA256SUMS``; see README.md in this folder for what each sample shows and where it came from.
"""

from __future__ import annotations

import pathlib

NAMES: tuple[str, ...] = ("short", "subagents", "long")
KINDS: tuple[str, ...] = ("transcript", "hooks")

_HERE = pathlib.Path(__file__).resolve().parent


def _check(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown sample {name!r}; valid names: {', '.join(NAMES)}")


def hooklog_path(name: str) -> pathlib.Path:
    """The hook log of a sample: one hook payload (plus ``timestamp``) per line."""
    _check(name)
    return _HERE / f"{name}.hooks.jsonl"


def transcript_path(name: str) -> pathlib.Path:
    """The main ``<session-id>.jsonl`` transcript of a sample (subagents sit beside it)."""
    _check(name)
    found = sorted((_HERE / name).glob("*.jsonl"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one transcript in {_HERE / name}, found {len(found)}")
    return found[0]


def path(name: str, kind: str = "transcript") -> pathlib.Path:
    """The file of a sample: kind ``"transcript"`` (main transcript) or ``"hooks"``."""
    if kind == "transcript":
        return transcript_path(name)
    if kind == "hooks":
        return hooklog_path(name)
    raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
