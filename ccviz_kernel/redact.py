"""Take secrets out of text before it leaves the server.

Hook payloads carry shell commands, file contents and prompts, which often hold API keys
and passwords. Everything the engine puts into a snapshot, delta or effect goes through
:func:`redact`, so views, logs and notebooks never see them.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

_TOKEN_PATTERNS = [
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

_SECRET_WORDS = (
    r"(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|pwd|passphrase|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|auth)"
)

_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
        ),
        MASK,
    ),
    (re.compile("|".join(_TOKEN_PATTERNS)), MASK),
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{8,}"), rf"\1\2{MASK}"),
    # scheme://user:password@host
    (re.compile(r"(?i)([a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\1{MASK}@"),
    # NAME_TOKEN=value, "password": "value", --password value, api_key: value
    (
        re.compile(
            rf"(?i)(\b[\w.\-]*{_SECRET_WORDS}[\w.\-]*[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&|]{{3,}})"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(rf"(?i)(--{_SECRET_WORDS}[\w\-]*[ =])([^\s\"']{{3,}})"), rf"\1{MASK}"),
    (re.compile(r"(?i)(\bmysql\b[^\n]*?\s-p)([^\s]{3,})"), rf"\1{MASK}"),
]


#: Cheap substring checks: text with none of these cannot match any rule above, and most
#: texts (file paths, test commands) have none, so they skip the regexes entirely.
_HINTS = (
    "sk-",
    "gh",
    "github_pat",
    "glpat-",
    "xox",
    "akia",
    "aiza",
    "hf_",
    "npm_",
    "eyj",
    "bearer",
    "basic",
    "token",
    "key",
    "secret",
    "pass",
    "pwd",
    "auth",
    "://",
    "-----begin",
    "mysql",
)


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[REDACTED]``."""
    if not text:
        return text
    lowered = text.lower()
    for hint in _HINTS:
        if hint in lowered:
            break
    else:
        return text
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text
