"""Take secrets out of text before it leaves the server.

Hook payloads carry shell commands, file contents and prompts, which often hold API keys
and passwords. Everything the engine puts into a snapshot, delta or effect goes through
:func:`redact`, so views, logs and notebooks never see them.

It runs on every event, so each rule is guarded by cheap substring checks and written to
match from a literal anchor: texts without any hint (most file paths and commands) cost
a few hundred nanoseconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MASK = "[REDACTED]"

_TOKENS = re.compile(
    "|".join(
        [
            r"sk-ant-[A-Za-z0-9_\-]{8,}",  # Anthropic
            r"sk-(?:proj-|live_|test_)?[A-Za-z0-9_\-]{16,}",  # OpenAI, Stripe
            r"gh[pousr]_[A-Za-z0-9]{16,}",  # GitHub
            r"github_pat_[A-Za-z0-9_]{20,}",
            r"glpat-[A-Za-z0-9_\-]{16,}",  # GitLab
            r"xox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
            r"AKIA[0-9A-Z]{16}",  # AWS access key id
            r"AIza[0-9A-Za-z_\-]{30,}",  # Google API key
            r"hf_[A-Za-z0-9]{20,}",  # Hugging Face
            r"npm_[A-Za-z0-9]{30,}",
            r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
        ]
    )
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
)
_SCHEMES = re.compile(r"(?i)\b(bearer|basic|token)(\s+)(?!\[REDACTED)[A-Za-z0-9._~+/=\-]{8,}")
_URL_PASSWORD = re.compile(r"(://[^\s:/@]+:)[^\s@/]+@")
#: ``name = value`` / ``"name": "value"``, tried only at the start of a word.
_ASSIGNMENT = re.compile(
    r"(?<![\w.\-])([\w.\-]+)([\"']?\s*[:=]\s*)(\"[^\"\n]{3,}\"|'[^'\n]{3,}'|[^\s\"',;&|]{3,})"
)
_FLAG = re.compile(r"(?<![\w\-])(--[\w\-]+)([ =])([^\s\"']{3,})")
_MYSQL = re.compile(r"(?i)(\bmysql\b[^\n]*?\s-p)(\S{3,})")
_SECRET_NAME = re.compile(
    r"api_?key|apikey|secret|token|passw(?:or)?d|pwd|passphrase|access_?key|private_?key|auth"
)
_NOT_SECRETS = frozenset({"bearer", "basic", MASK.lower()})


def _secret_value(match: re.Match[str]) -> str:
    name, sep, value = match.groups()
    quote = value[0] if value[0] in "\"'" else ""
    bare = value.strip(quote) if quote else value
    if _SECRET_NAME.search(name.lower().replace("-", "_")) and bare.lower() not in _NOT_SECRETS:
        return f"{name}{sep}{quote}{MASK}{quote}"
    return match.group(0)


_Rule = tuple[tuple[str, ...], re.Pattern[str], "str | Callable[[re.Match[str]], str]"]
_RULES: list[_Rule] = [
    (("-----begin",), _PRIVATE_KEY, MASK),
    (("sk-", "gh", "glpat-", "xox", "akia", "aiza", "hf_", "npm_", "eyj"), _TOKENS, MASK),
    (("bearer", "basic", "token"), _SCHEMES, rf"\1\2{MASK}"),
    (("://",), _URL_PASSWORD, rf"\1{MASK}@"),
    (("key", "secret", "token", "pass", "pwd", "auth"), _ASSIGNMENT, _secret_value),
    (("--",), _FLAG, _secret_value),
    (("mysql",), _MYSQL, rf"\1{MASK}"),
]


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[REDACTED]``."""
    if not text:
        return text
    lowered = text.lower()
    for hints, pattern, replacement in _RULES:
        for hint in hints:
            if hint in lowered:
                text = pattern.sub(replacement, text)
                lowered = text.lower()
                break
    return text
