"""Take secrets out of text before it is stored or leaves the server.

Hook payloads carry shell commands, file contents and prompts, which often hold API keys
and passwords. Two places redact:

- :func:`redact_payload`, in :meth:`ccviz_kernel.hub.Hub.ingest`, before an event is logged
  and applied: what the store keeps is what a viewer could see (``Hub(keep_raw=True)``,
  ``ccviz serve --keep-raw``, keeps the raw payload for whoever opts in);
- :func:`redact`, on every text the engine puts into a snapshot, delta or effect
  (``engine/speech.py``), which also covers games built without the hub (replays).

**The rule set is detect-secrets'** (Yelp, pinned ``>=1.5,<1.6`` in pyproject.toml): the
compiled ``denylist`` regexes of its regex plugins, read once on first use
(:func:`_scanner_rules`; importing detect_secrets costs ~90 ms, so it is never imported
with this module, and ``ccviz hook`` never imports this module at all). Masking differs
from scanning: a detector only has to notice a secret, a mask has to cover it, so a match
is widened to the whole token it sits in (detect-secrets matches only the first 24
characters of a 99-character Stripe key), boundary characters some patterns include
(Artifactory's whitespace and quotes) and a leading label (``AccountKey=``) are kept,
and a match with groups is masked from its first group on (the name in
``aws_secret = "…"`` stays readable). Left out of its
plugins: ``IPPublicDetector`` (an address is not a credential, and hiding every public
IP would blank ``ping 8.8.8.8``), the high-entropy plugins (they flag every hash and id),
``KeywordDetector``'s regexes (file-type specific, greedy to the end of a line: its
*word list* names secrets in ccviz's own ``name = value`` rule below) and
``PrivateKeyDetector``'s header-only patterns (its key kinds become block rules that mask
the whole key, body included).

**ccviz's own rules, for what detect-secrets lacks:**

- token shapes it has no plugin for: Anthropic ``sk-ant-``, OpenAI project, service and
  admin keys (it knows only the legacy ``T3BlbkFJ`` shape), Stripe test and webhook
  secrets (it has only ``sk_live_``/``rk_live_``), GitHub fine-grained ``github_pat_``,
  Google ``AIza``, Hugging Face ``hf_``, bare ``npm_`` (it has npm tokens only inside an
  ``.npmrc`` line), Slack app and refresh tokens ``xapp-``/``xoxe-``, DigitalOcean
  ``dop_v1_``, HashiCorp Vault ``hvs.``, PKCS#8 ``ENCRYPTED PRIVATE KEY`` blocks, and
  Artifactory ``AKC…`` keys anywhere (its pattern wants whitespace, ``=``, ``:`` or a
  quote around them, so a key in backquotes or a URL path went unseen);
- an AWS secret access key with no label (40 characters of mixed-case base64 standing
  alone; detect-secrets needs ``aws…key…"…"`` around it);
- a URL password with sub-delimiters (``https://bob:hunter2!@host``: its Basic-auth
  pattern stops at ``!$&'()*+,;=`` and so misses the password);
- ``Authorization``-style scheme values (``Bearer …``, ``Basic …``, ``token …``);
- ``name = value``, ``"name": "value"`` and ``--name value`` pairs whose name says
  secret: detect-secrets' keyword list plus token, auth, pass (``SMTP_PASS``), pw,
  credential, cookie and ``*_KEY`` names such as ``SESSION_KEY``;
- command lines: ``mysql -p…``, ``sshpass -p …``, ``curl -u user:pass``;
- prose: "the password is …".

It runs on every text the engine shows, so it stays a guarded fast path: one scan of the
lowered text for every rule's hint words says which keyword rules may apply; token rules
run only on texts holding a 16-character token-like run, again dispatched by their hint
words; texts without any hint (most file paths and captions) cost about a microsecond,
about 2 µs on average over the engine's texts. The guards are exact, not heuristic: a
hint is something every match of its rule holds (case-insensitive rules are scanned in a
text folded as ``re`` folds, ``ſ``→s, ``ı``/``İ``→i), and shapes that can match without a
16-character run (``eyJa.b``, ``xoxb-1-a``) are not behind the run guard;
tests/test_redact.py checks, on seeded random texts, that the result equals every rule
run on the whole text. Results are memoised by text (:data:`_memo`): payloads repeat
their strings from event to event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

MASK = "[REDACTED]"


class _Source(str):
    """A pattern's source: compiled with the rule set on first use, not at import (the
    engine imports this module; ``ccviz hook`` and ``import ccviz_kernel`` must stay
    cheap)."""


class _Compiled:
    """ccviz's own patterns, compiled by :func:`_build` (attribute per ``_NAME`` source)."""

    def __getattr__(self, name: str) -> re.Pattern[str]:
        _build()
        return object.__getattribute__(self, name)


_P: Any = _Compiled()

#: A rule finds the spans of ``text`` to mask. Its hints: words one of which any match
#: contains (lowercase: looked for in the lowered text; else in the text as is), and
#: optionally patterns one of which must also be found in the text. A rule without
#: hints runs on every text.
_Find = Callable[[str], Iterator[tuple[int, int]]]
_Rule = tuple[tuple["str | re.Pattern[str]", ...], _Find]

#: Token characters a match is widened over (plus ``.``, ``/``, ``+``, ``=`` when the
#: match itself holds them: a JWT's dots, a base64 key's slashes).
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
#: Characters some scanner patterns match around a secret: kept, never masked.
_EDGE = frozenset(" \t\r\n\"'`=:@")


def _widen(text: str, start: int, end: int, back: bool) -> tuple[int, int]:
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    extra = {c for c in "./+=" if c in text[start:end]}
    n = len(text)
    while end < n and (text[end] in _WORD or text[end] in extra):
        end += 1
    if back:
        while start > 0 and (text[start - 1] in _WORD or text[start - 1] in extra):
            start -= 1
    return start, end


def _pattern_spans(pattern: re.Pattern[str]) -> _Find:
    """Spans of a scanner pattern: from the first group that matched (the value of a
    ``name = value`` pattern) to the end of the match, else the whole match; widened to
    the whole token either way."""
    groups = pattern.groups

    def find(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            first = next((i for i in range(1, groups + 1) if m.group(i)), 0)
            if first:
                yield _widen(text, m.start(first), m.end(), back=False)
            elif m.end() > m.start():
                start = m.start()
                label = _LABEL.match(text, start, m.end())  # AccountKey=…: keep the name
                if label is not None:
                    yield _widen(text, label.end(), m.end(), back=False)
                else:
                    yield _widen(text, start, m.end(), back=True)

    return find


#: A name and ``=`` or ``:`` at the start of a match without groups: shown, not masked.
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*[=:](?!//)(?=.)")


def _simple(pattern: re.Pattern[str], group: int = 0) -> _Find:
    """Spans of one group of ``pattern`` (the whole match by default), as they are."""

    def find(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            if m.group(group):
                yield m.span(group)

    return find


def _any_group(pattern: re.Pattern[str]) -> _Find:
    """Spans of whichever group matched (a quoted or a bare value)."""

    def find(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            first = next((i for i in range(1, pattern.groups + 1) if m.group(i)), 0)
            if first:
                yield m.span(first)

    return find


# -- detect-secrets --------------------------------------------------------------------

#: Plugins whose patterns are not used as they are (see the module docstring).
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector", "PrivateKeyDetector"})

#: Hints of each token-shaped scanner pattern, by its source text. A pattern found neither
#: here nor in the plugin tables below (a new detect-secrets release) still runs, on every
#: text: slower, never leakier.
_TOKEN_HINTS: dict[str, tuple[str, ...]] = {
    r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}": ("A3T", "ABIA", "ACCA", "AKIA", "ASIA"),
    r"[MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}": (".",),
    r"(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36}": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    r"(glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_\-]{20,50}(?!\w)": (
        "glpat-",
        "gldt-",
        "glft-",
        "glsoat-",
        "glrt-",
    ),
    r"GR1348941[A-Za-z0-9_\-]{20,50}(?!\w)": ("GR1348941",),
    r"glcbt-([0-9a-fA-F]{2}_)?[A-Za-z0-9_\-]{20,50}(?!\w)": ("glcbt-",),
    r"glimt-[A-Za-z0-9_\-]{25}(?!\w)": ("glimt-",),
    r"glptt-[A-Za-z0-9_\-]{40}(?!\w)": ("glptt-",),
    r"glagent-[A-Za-z0-9_\-]{50,1024}(?!\w)": ("glagent-",),
    r"gloas-[A-Za-z0-9_\-]{64}(?!\w)": ("gloas-",),
    r"eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*?": ("eyJ",),
    r"[0-9a-z]{32}-us[0-9]{1,2}": ("-us",),
    r"sk-[A-Za-z0-9-_]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}": ("T3BlbkFJ",),
    r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9-_]{70,}": ("pypi-AgEIcHlwaS5vcmc",),
    r"pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9-_]{70,}": ("pypi-AgENdGVzdC5weXBpLm9yZw",),
    r"SG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}": ("SG.",),
    r"xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+": ("xox",),
    r"https://hooks\.slack\.com/services/T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+": (
        "hooks.slack.com",
    ),
    r"sq0csp-[0-9A-Za-z\\\-_]{43}": ("sq0csp-",),
    r"(?:r|s)k_live_[0-9a-zA-Z]{24}": ("k_live_",),
    r"\d{8,10}:[0-9A-Za-z_-]{35}": (":",),
    r"AC[a-z0-9]{32}": ("AC",),
    r"SK[a-z0-9]{32}": ("SK",),
}
#: Every token-shaped secret holds a run at least this long of these characters: texts
#: without one skip the token rules.
_TOKEN_RUN = _Source(r"[A-Za-z0-9_\-]{16,}")
#: Token shapes that may match without such a run (``eyJa.b``, ``xoxb-1-a``, a 15-character
#: ``sk-ant-…``, a Unicode digit in ``xapp-١-…``, Slack's case-insensitive webhook): they go
#: with the keyword rules, gated by their hint words alone.
_SHORT_TOKENS = frozenset(
    {
        r"eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*?",
        r"xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+",
        r"https://hooks\.slack\.com/services/T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+",
        r"sk-ant-[A-Za-z0-9_\-]{8,}",
        r"xapp-\d-[A-Za-z0-9\-]{10,}|xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9\-]{10,}",
        r"(?<![A-Za-z0-9])AKC[a-zA-Z0-9]{10,}",
    }
)

#: Plugins whose other patterns are name-based or may be cut short by punctuation, and
#: what any of their matches holds: one of the words (looked for in the lowered text)
#: and, if given, one of the cheap patterns (searched in the text).
_KEYWORD_HINTS: dict[str, tuple[str | re.Pattern[str], ...]] = {
    "AWSKeyDetector": ("aws",),  # aws…key…"…" (its key id pattern is a token one)
    "AzureStorageKeyDetector": ("accountkey=",),  # the key's runs may be cut by / and +
    "BasicAuthDetector": ("://",),
    "CloudantDetector": (
        "key",
        "pw",
        "pass",
        "token",
        "cloudant",
        _Source(r"(?i)cl(?:ou(?:dant)?)?[_-]?(?:api)?(?:key|pw|pass|token)|cloudant\.com"),
    ),
    "IbmCloudIamDetector": ("key", "pw", "pass", "token", _Source(r"(?i)[a-zA-Z0-9_\-]{44}")),
    "IbmCosHmacDetector": ("secret", _Source(r"(?i)[a-f0-9]{48}")),
    "NpmDetector": ("_authtoken",),
    "SoftlayerDetector": (
        "key",
        "pw",
        "pass",
        "token",
        "softlayer",
        # (its name pattern has a separator on both sides of "api"; its URL one no key word)
        _Source(r"(?i)s(?:oftlayer|l)[_-]?(?:api)?[_-]?(?:key|pw|pass|token)|softlayer\.com"),
    ),
}
#: Short tokens (fewer than 16 characters in a run), tried on every text that holds one
#: of their (case-sensitive) hints.
_PLAIN_HINTS: dict[str, tuple[str | re.Pattern[str], ...]] = {
    "ArtifactoryDetector": ("AKC", "AP", _Source(r"A(?:KC|P[\dA-F])[a-zA-Z0-9]{8}")),
}


def _scanner_plugins() -> list[type]:
    """detect-secrets' regex plugin classes (those with a ``denylist``), sorted by name."""
    import importlib
    import pkgutil

    import detect_secrets.plugins as package
    from detect_secrets.plugins.base import RegexBasedDetector

    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, RegexBasedDetector)
                and value is not RegexBasedDetector
                and value.__module__ == module.__name__
            ):
                found[value.__name__] = value
    return [found[name] for name in sorted(found)]


def _denylist(plugin: type) -> list[re.Pattern[str]]:
    """A plugin's compiled patterns: the (undocumented) ``denylist`` class attribute, the
    one shape of detect-secrets this module relies on (tests/test_redact.py checks it)."""
    patterns = list(plugin.denylist)  # type: ignore[attr-defined]
    for pattern in patterns:
        if not isinstance(pattern, re.Pattern):
            raise TypeError(f"{plugin.__name__}.denylist holds {type(pattern).__name__}")
    return patterns


def _private_key_kinds() -> list[str]:
    """The key kinds of ``PrivateKeyDetector`` (``RSA PRIVATE KEY``, ``PGP PRIVATE KEY
    BLOCK``, …), plus PKCS#8's encrypted kind, which it lacks."""
    from detect_secrets.plugins.private_key import PrivateKeyDetector

    kinds = ["ENCRYPTED PRIVATE KEY"]
    for pattern in _denylist(PrivateKeyDetector):
        if pattern.pattern.startswith("BEGIN "):
            kinds.append(pattern.pattern[len("BEGIN ") :])
    return kinds


_Groups = tuple[list[_Rule], list[_Rule], list[_Rule]]


def _scanner_rules() -> _Groups:
    """(keyword, token, plain) rules made from detect-secrets' plugins."""
    keyword: list[_Rule] = []
    token: list[_Rule] = []
    plain: list[_Rule] = []
    for plugin in _scanner_plugins():
        name = plugin.__name__
        if name in _SKIPPED_PLUGINS:
            continue
        for pattern in _denylist(plugin):
            find = _pattern_spans(pattern)
            if pattern.pattern in _TOKEN_HINTS:
                group = keyword if pattern.pattern in _SHORT_TOKENS else token
                group.append((_TOKEN_HINTS[pattern.pattern], find))
            elif name in _KEYWORD_HINTS:
                keyword.append((_KEYWORD_HINTS[name], find))
            else:
                plain.append((_PLAIN_HINTS.get(name, ()), find))
    kinds = "|".join(re.escape(kind) for kind in _private_key_kinds())
    block = re.compile(
        rf"-{{3,5}} ?BEGIN (?:{kinds}) ?-{{3,5}}.*?(?:-{{3,5}} ?END [A-Z0-9 ]+?-{{3,5}}|\Z)", re.S
    )
    keyword.append((("begin",), _simple(block)))
    putty = re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC: *[0-9a-fA-F]+|\Z)", re.S)
    keyword.append((("putty-user-key-file",), _simple(putty)))
    return keyword, token, plain


# -- ccviz's own rules -------------------------------------------------------------------

#: Token shapes detect-secrets lacks, each with its hint words.
_OWN_TOKENS: list[tuple[tuple[str, ...], str]] = [
    (("sk-ant-",), r"sk-ant-[A-Za-z0-9_\-]{8,}"),  # Anthropic
    (("sk-",), r"(?<![\w\-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI
    (("k_test_",), r"(?<![\w\-])[rs]k_test_[0-9A-Za-z]{16,}"),  # Stripe test keys
    (("whsec_",), r"whsec_[0-9A-Za-z]{24,}"),  # Stripe webhook secret
    (("github_pat_",), r"github_pat_[A-Za-z0-9_]{20,}"),  # GitHub fine-grained
    (("AIza",), r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API key
    (("hf_",), r"(?<![\w\-])hf_[A-Za-z0-9]{20,}"),  # Hugging Face
    (("npm_",), r"(?<![\w\-])npm_[A-Za-z0-9]{30,}"),  # npm
    (("xapp-", "xoxe"), r"xapp-\d-[A-Za-z0-9\-]{10,}|xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9\-]{10,}"),
    (("_v1_",), r"do[por]_v1_[0-9a-f]{40,}"),  # DigitalOcean
    (("hvs.", "hvb."), r"hv[sb]\.[A-Za-z0-9_\-]{20,}"),  # HashiCorp Vault
    # Artifactory API keys wherever they stand (detect-secrets wants whitespace, =, : or "
    # around them: a key in backquotes or in a path goes unseen)
    (("AKC",), r"(?<![A-Za-z0-9])AKC[a-zA-Z0-9]{10,}"),
]

#: A bare AWS secret access key: exactly 40 base64 characters, mixed case and digits.
_AWS_SECRET = _Source(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")


def _aws_secret(text: str) -> Iterator[tuple[int, int]]:
    for m in _P.aws_secret.finditer(text):
        value = m.group(0)
        if (
            any(c.isdigit() for c in value)
            and any(c.isupper() for c in value)
            and any(c.islower() for c in value)
        ):
            yield m.span()


_SCHEMES = _Source(r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/=\-]{8,})")


def _looks_random(value: str) -> bool:
    """A credential, not a word: a digit, a symbol of base64/JWT, or a capital inside."""
    return (
        any(c.isdigit() or c in "._~+/=" for c in value) or any(c.isupper() for c in value[1:])
    ) and not value.startswith(MASK)


def _schemes(text: str) -> Iterator[tuple[int, int]]:
    for m in _P.schemes.finditer(text):
        if _looks_random(m.group(1)):
            yield m.span(1)


_URL_PASSWORD = _Source(r"://[^\s:/@]+:([^\s@/]+)@")

#: ``name = value`` / ``"name": "value"``, tried only at the start of a word.
#: Only names holding one of :data:`_NAME_WORDS` are candidates (most ``x = y`` in code
#: are not: cheaper than checking each one); :func:`_secret_named` decides.
_ASSIGNMENT = _Source(
    r"(?i)(?<![\w.\-])([\w.\-]*?(?:key|secret|token|pass|pw|auth|cred|cookie|contras)[\w.\-]*)"
    r"([\"']?\s*[:=]\s*)(\"[^\"\n]{3,}\"|'[^'\n]{3,}'|[^\s\"',;&|]{3,})"
)
#: ``--name value``: the literal first (fast to find); the start of a word checked after.
_FLAG = _Source(
    r"(?i)(--[\w\-]*?(?:key|secret|token|pass|pw|auth|cred|cookie|contras)[\w\-]*)([ =])"
    r"(\"[^\"\n]{3,}\"|'[^'\n]{3,}'|[^\s\"']{3,})"
)
_WORDISH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_CAMEL = _Source(r"([a-z0-9])([A-Z])")
_NOT_SECRETS = frozenset({"bearer", "basic", "token", "true", "false", "null", "none"})
_NAME_WORDS = ("key", "secret", "token", "pass", "pwd", "pw", "auth", "cred", "cookie", "contras")

_secret_name: re.Pattern[str] | None = None


def _name_pattern() -> re.Pattern[str]:
    """Names that say secret: detect-secrets' keyword list, and ccviz's additions."""
    global _secret_name
    if _secret_name is None:
        from detect_secrets.plugins.keyword import DENYLIST

        words = "|".join(DENYLIST)  # substrings, as detect-secrets matches them
        own = (
            r"[a-z]*token|auth|authorization|pass|pw|passphrase|passcode|credentials?"
            r"|cookie|(?:session|signing|encryption|master|license|access|secret|app|hmac"
            r"|jwt|webhook|crypt)_?key"
        )
        _secret_name = re.compile(rf"{words}|(?:^|_)(?:{own})(?:$|_)")
    return _secret_name


def _secret_named(name: str) -> bool:
    """Whether a variable, key or flag name says secret (``PGPASSWORD``, ``apiKey``)."""
    normal = _P.camel.sub(r"\1_\2", name).lower().replace("-", "_").replace(".", "_")
    return _name_pattern().search(normal.lstrip("_")) is not None


def _secret_value(value: str) -> bool:
    """Whether the value of a secret-named field is worth masking (not ``true``, not a
    scheme word, not masked already)."""
    return value.lower() not in _NOT_SECRETS and not value.startswith(MASK)


def _pairs(pattern: re.Pattern[str]) -> _Find:
    def find(text: str) -> Iterator[tuple[int, int]]:
        if "=" not in text and ":" not in text and pattern is _P.assignment:
            return
        pos = 0
        while (m := pattern.search(text, pos)) is not None:
            if pattern is _P.flag and m.start() and text[m.start() - 1] in _WORDISH:
                pos = m.start() + 2  # inside a word: not a flag
                continue
            name, value = m.group(1), m.group(3)
            quote = value[0] if value[0] in "\"'" else ""
            bare = value[1:-1] if quote else value
            if _secret_named(name) and _secret_value(bare):
                start = m.start(3) + len(quote)
                yield start, start + len(bare)
                pos = m.end()
            else:  # the value may itself be a pair ("fix it: PGPASSWORD=…")
                pos = m.start(3)

    return find


_MYSQL = _Source(r"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?\s-p([^\s\"']{3,})")
_SSHPASS = _Source(r"\bsshpass\b[^\n]*?\s-p\s*(?:\"([^\"\n]+)\"|'([^'\n]+)'|([^\s\"']+))")
_CURL_USER = _Source(r"\bcurl\b[^\n]*?\s(?:-u\s*|--user[= ]\s*)[\"']?[^\s:\"']*:([^\s\"']+)")
_PROSE = _Source(
    r"(?i)\b(?:(password|passwd|passphrase|passcode|pin)|secret|(?:api|access|secret) key"
    r"|token)\s+(?:is|was)\s*:?\s*[\"'`]?([^\s\"'`]{4,})"
)


def _prose(text: str) -> Iterator[tuple[int, int]]:
    """ "The password is …": a password whatever it looks like; a token or key only when
    it looks random ("the token is expired" stays)."""
    if _P.is_was.search(text) is None:  # what every match holds, cheaper to find
        return
    for m in _P.prose.finditer(text):
        value = m.group(2).rstrip(".,;:!?)")
        if value.lower() in _PROSE_WORDS or value.startswith(MASK):
            continue
        if m.group(1) or _looks_random(value):
            yield m.start(2), m.start(2) + len(value)


#: What every :data:`_PROSE` match holds (a tab or newline before "is", any case).
_IS_WAS = _Source(r"(?i)\s(?:is|was)")

#: Words after "the password is" that are not the password.
_PROSE_WORDS = frozenset(
    {"correct", "wrong", "incorrect", "invalid", "valid", "required", "missing", "empty",
     "expired", "stored", "saved", "hashed", "encrypted", "checked", "set", "not", "never",
     "still", "already", "being", "used", "needed", "too", "very", "the", "now", "also"}
)  # fmt: skip


# -- putting it together ---------------------------------------------------------------


class _Group:
    """Rules dispatched by their hint words: one scan of the lowered text says which
    words are in it, and only the rules hinted by those words run. Rules hinted only by
    case-sensitive words (``AKIA``, ``SG.``) are checked word by word in the text as is
    (common letters such as Artifactory's ``AP`` would make the scan find them
    everywhere); rules without hints always run."""

    def __init__(self, rules: list[_Rule]) -> None:
        self.always: list[_Find] = []
        #: rules hinted only by case-sensitive words: (words, patterns, finder)
        self.exact: list[tuple[tuple[str, ...], tuple[re.Pattern[str], ...], _Find]] = []
        #: rules hinted by a lowercase word: (patterns, finder)
        self.rules: list[tuple[tuple[re.Pattern[str], ...], _Find]] = []
        by_word: dict[str, list[int]] = {}
        for hints, find in rules:
            words = tuple(h for h in hints if isinstance(h, str))
            patterns = tuple(h for h in hints if not isinstance(h, str))
            if not words:
                if patterns:
                    raise ValueError("a rule hinted by patterns needs words too")
                self.always.append(find)
            elif all(word != word.lower() for word in words):
                self.exact.append((words, patterns, find))
            else:
                for word in words:
                    by_word.setdefault(word.lower(), []).append(len(self.rules))
                self.rules.append((patterns, find))
        words = sorted(by_word)
        # One scan reports words that do not overlap, the longest at each place: a word
        # found may hide the words inside it, and those starting within it (a suffix of
        # it is their prefix): their rules run too.
        self.expand = {
            w: sorted({i for u in words if _may_hide(w, u) for i in by_word[u]}) for w in words
        }
        self.gate = re.compile(_alternatives(set(words)))

    def run(self, text: str, lowered: str, spans: list[tuple[int, int]]) -> None:
        """Add the spans of the rules whose hints are in ``text`` to ``spans``."""
        for find in self.always:
            spans.extend(find(text))
        for words, patterns, find in self.exact:
            for word in words:
                if word in text:
                    if _any_found(patterns, text):
                        spans.extend(find(text))
                    break
        first = self.gate.search(lowered)
        if first is None:
            return
        expand = self.expand
        more = self.gate.findall(lowered, first.end())
        chosen = (
            expand[first.group()]
            if not more
            else sorted({i for word in {first.group(), *more} for i in expand[word]})
        )
        for i in chosen:
            patterns, find = self.rules[i]
            if _any_found(patterns, text):
                spans.extend(find(text))


def _any_found(patterns: tuple[re.Pattern[str], ...], text: str) -> bool:
    """No patterns, or one of them is in ``text``."""
    if not patterns:
        return True
    return any(pattern.search(text) is not None for pattern in patterns)


def _may_hide(found: str, word: str) -> bool:
    """Whether ``word`` may be in a text in which a scan found ``found`` instead."""
    return word in found or any(word.startswith(found[i:]) for i in range(1, len(found)))


def _alternatives(words: set[str]) -> str:
    """``words`` as one pattern, factored on the first character (``re`` then tries one
    branch per position, not one per word: a third faster), longest first."""
    by_first: dict[str, list[str]] = {}
    for word in sorted(words, key=len, reverse=True):
        by_first.setdefault(word[0], []).append(word[1:])
    parts = []
    for first, rests in sorted(by_first.items()):
        if len(rests) == 1:
            parts.append(re.escape(first + rests[0]))
        else:
            parts.append(re.escape(first) + "(?:" + "|".join(map(re.escape, rests)) + ")")
    return "|".join(parts)


_Ruleset = tuple[_Group, _Group, re.Pattern[str], re.Pattern[str]]
_rules: _Ruleset | None = None


def _build() -> _Ruleset:
    """Compile the rule set, once, on first use."""
    global _rules
    for name, value in list(globals().items()):
        if isinstance(value, _Source):  # _TOKEN_RUN → _P.token_run
            setattr(_P, name[1:].lower(), re.compile(value))
    keyword, token, plain = _scanner_rules()
    keyword += [
        (("://",), _simple(_P.url_password, 1)),
        (("bearer", "basic", "token"), _schemes),
        (_NAME_WORDS, _pairs(_P.assignment)),
        (("--",), _pairs(_P.flag)),
        (("mysql", "mariadb"), _simple(_P.mysql, 1)),
        (("sshpass",), _any_group(_P.sshpass)),
        (("curl",), _simple(_P.curl_user, 1)),
        (("pass", "pin", "secret", "key", "token"), _prose),
    ]
    for hints, source in _OWN_TOKENS:
        (keyword if source in _SHORT_TOKENS else token).append((hints, _simple(re.compile(source))))
    _name_pattern()
    # Plain rules (short tokens) go with the keyword rules: they need no long run.
    _rules = (
        _Group(_compiled(keyword + plain)),
        _Group(_compiled(token)),
        _P.token_run,
        _P.aws_secret,
    )
    return _rules


def _compiled(rules: list[_Rule]) -> list[_Rule]:
    """``rules`` with their hint patterns compiled."""
    return [
        (tuple(re.compile(h) if isinstance(h, _Source) else h for h in hints), find)
        for hints, find in rules
    ]


#: Characters a case-insensitive pattern matches to an ASCII letter that ``str.lower``
#: does not lower to it (``re`` folds ``ſ`` to ``s``, ``ı`` and ``İ`` to ``i``; ``İ`` lowers
#: to two characters): mapped first, so a hint word is in the lowered text whenever a
#: ``(?i)`` rule could match.
_FOLD = {ord("ſ"): "s", ord("ı"): "i", ord("İ"): "i"}


def _lowered(text: str) -> str:
    """``text`` lowered for the hint scans, folded as ``re`` folds (see :data:`_FOLD`)."""
    if not text.isascii() and ("ſ" in text or "ı" in text or "İ" in text):
        text = text.translate(_FOLD)
    return text.lower()


#: Results of :func:`redact` by text. Payloads repeat their strings (the cwd of every
#: event, a file's content in a Pre- and a PostToolUse, an Edit's strings in its
#: response), and the engine shows the same captions again: ~85 % of the strings of the
#: long sample were seen before. FIFO-bounded by entries and by characters held.
_memo: dict[str, str] = {}
_memo_chars = 0
_MEMO_ENTRIES = 4096
_MEMO_CHARS = 4_000_000
#: Texts shorter than this are looked up without being kept (cheaper to redact again
#: than to hold), longer than the second never kept (one would crowd out the rest).
_MEMO_MIN, _MEMO_MAX = 12, 1_000_000


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``[REDACTED]``."""
    global _memo_chars
    n = len(text)
    if n < _MIN_SECRET:
        return text
    if n < _MEMO_MIN or n > _MEMO_MAX:
        return _redact(text)
    done = _memo.get(text)
    if done is not None:
        return done
    done = _redact(text)
    if len(_memo) >= _MEMO_ENTRIES or _memo_chars + n > _MEMO_CHARS:
        while _memo and (len(_memo) >= _MEMO_ENTRIES or _memo_chars + n > _MEMO_CHARS):
            _memo_chars -= len(_memo.pop(next(iter(_memo))))
    _memo[text] = done
    _memo_chars += n
    return done


def clear_memo() -> None:
    """Forget remembered results (benchmarks measuring the cold path)."""
    global _memo_chars
    _memo.clear()
    _memo_chars = 0


#: No rule matches fewer characters (``pw=abc``: a secret name, ``=``, three characters).
_MIN_SECRET = 6


def _redact(text: str) -> str:
    """:func:`redact` without the memo."""
    keyword, token, run, aws = _rules or _build()
    lowered = _lowered(text)
    spans: list[tuple[int, int]] = []
    keyword.run(text, lowered, spans)
    if run.search(text) is not None:
        token.run(text, lowered, spans)
    if len(text) >= 40 and aws.search(text) is not None:
        spans.extend(_aws_secret(text))
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    last = 0  # the end of what is written (masked or copied) so far
    for start, end in spans:
        if end <= last:
            continue  # inside a span already masked
        if start >= last:
            out.append(text[last:start])
        if not out or out[-1] != MASK or start > last:
            out.append(MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


#: Top-level fields that name and route an event (already parsed into the HookEvent, used
#: to find transcripts): kept as they are, or a game rebuilt from the log would differ.
_ROUTING = frozenset(
    {
        "hook_event_name",
        "session_id",
        "agent_id",
        "agent_type",
        "tool_name",
        "tool_use_id",
        "transcript_path",
        "agent_transcript_path",
        "timestamp",
        "prompt_id",
    }
)


def redact_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with :func:`redact` applied to every string in it, keys included (a key
    can be a secret: an environment mapping's, a JSON object keyed by token), except the
    top-level fields that name and route the event.

    Copy on write: the very same object comes back when nothing changed (the hub's fast
    path tests ``is``), and the caller's dicts are never modified. Recursion is bounded by
    the payload's depth, which :meth:`HookEvent.to_json` has checked (≤ 255). When two keys
    redact to the same text, the later one's value is kept.
    """
    return _redact_dict(payload, _ROUTING)


def _redact_value(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        new = redact(value)
        return value if new == value else new
    if kind is dict:
        return _redact_dict(value, frozenset())
    if kind is list:
        out: list[Any] | None = None
        for i, item in enumerate(value):
            new = _redact_value(item)
            if new is not item:
                if out is None:
                    out = list(value)
                out[i] = new
        return value if out is None else out
    return value


def _maybe_secret_key(key: str) -> bool:
    """Keys worth redacting: a short identifier (``tool_input``, ``file_path``) can hold no
    secret any rule masks (tokens are 16 characters or more, pairs need ``=`` or ``:``)."""
    return len(key) > 12 or not key.replace("_", "").isalnum()


_NAMED = re.compile(r"(?i)key|secret|token|pass|pw|auth|cred|cookie|contras")


def _redact_dict(value: dict[Any, Any], keep: frozenset[str]) -> dict[Any, Any]:
    out: dict[Any, Any] | None = None
    renamed = False
    for key, item in value.items():
        if key in keep:
            continue
        if (
            type(item) is str
            and type(key) is str
            and len(item) >= 3
            and _NAMED.search(key) is not None
            and _secret_named(key)
            and _secret_value(item)
        ):  # {"password": "hunter2"}: the structured form of password=hunter2
            new: Any = MASK
        else:
            new = _redact_value(item)
        if new is not item:
            if out is None:
                out = dict(value)
            out[key] = new
        if not renamed and type(key) is str and _maybe_secret_key(key) and redact(key) != key:
            renamed = True
    if renamed:
        base = out if out is not None else value
        out = {
            (redact(k) if type(k) is str and k not in keep and _maybe_secret_key(k) else k): v
            for k, v in base.items()
        }
    return value if out is None else out
