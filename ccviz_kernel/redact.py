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

**Texts of 128 characters and more are redacted with windows** (:class:`_Hay`): a rule
tries its pattern only where one of its matches can start, a fixed distance before an
anchor (``AKIA``, ``://``, a name rule's keyword when the rule's rest matches after it)
found by one literal scan that every rule using it shares, with ``pattern.match(text,
start)``: it sees the text before ``start`` (look-behinds and ``\\b`` answer alike) and
nothing cuts the text short, so the spans are exactly the whole-text scan's (``name =
value`` pairs start at the run of name characters around their keyword; the bare AWS
secret is found by ``bytes.find`` in the text mapped to runs). From 16,384 characters the
hint scan is skipped too. A 1 MB keyword-dense Write went from ~0.5 s to ~35 ms; rules
whose pattern starts with a rare literal still scan the whole text (``re`` finds a
literal as fast), and so does a rule whose anchors are denser than one in eight
characters. tests/test_redact.py checks each rule windowed against its whole-text scan.

**No text costs more than linear time** (redaction runs on the server's event loop: a
quadratic rule is a denial of service). The pair rules are bounded per start: a name is
recognised only if a keyword starts within its first 128 characters and it is at most 256
long (``"a" * 130 + "_password=x"`` is not masked), and a bare value is read to its end
only when masked (:class:`_Pairs`); a command-line rule, a JWT or an OpenAI key that fails
at one start skips the starts that would fail the same way (:class:`_Skipping`); widening
adjacent token matches walks a run once (:func:`_widen`). ``"api_key" * 2000 + ":"`` cost
~0.5 s, ``"--key" * 800`` ~8 s, a megabyte of either minutes; a megabyte of any of the
texts of tests/test_redact.py's ``PATHOLOGICAL`` now costs well under a second (measured
in bench/engine_bench.py, ``redact_worst_1mb_ms``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

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

#: A rule finds the spans of ``text`` to mask (a :class:`_Finder`). Its hints: words one
#: of which any match contains (lowercase: looked for in the lowered text; else in the
#: text as is), and optionally patterns one of which must also be found in the text. A
#: rule without hints runs on every text.
_Span = tuple[int, int]
_Rule = tuple[tuple["str | re.Pattern[str]", ...], "_Finder"]

#: Token characters a match is widened over (plus ``.``, ``/``, ``+``, ``=`` when the
#: match itself holds them: a JWT's dots, a base64 key's slashes).
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
#: Characters some scanner patterns match around a secret: kept, never masked.
_EDGE = frozenset(" \t\r\n\"'`=:@")


def _widen(
    text: str, start: int, end: int, back: bool, seen: dict[Any, tuple[int, int]] | None = None
) -> tuple[int, int]:
    """The token around a match. With ``seen`` (one dict per text, matches given in
    order), a run of widening characters already walked is not walked again: a text of
    10,000 adjacent ``AKIA…`` or ``xoxb-1-`` matches, each widened to the end of the same
    run, would cost quadratic time."""
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    extra = frozenset(c for c in "./+=" if c in text[start:end])
    n = len(text)
    walked = seen.get((extra, True)) if seen is not None else None
    if walked is not None and walked[0] <= end <= walked[1]:
        end = walked[1]  # (every character between is a widening one)
    else:
        first = end
        while end < n and (text[end] in _WORD or text[end] in extra):
            end += 1
        if seen is not None:
            seen[extra, True] = (first, end)
    if back:
        walked = seen.get((extra, False)) if seen is not None else None
        last, stop = start, -1 if walked is None or walked[1] > start else walked[1]
        while start > 0 and start > stop and (text[start - 1] in _WORD or text[start - 1] in extra):
            start -= 1
        if start == stop:  # into the run walked last time: it goes on to where that one did
            start = min(start, walked[0])
        if seen is not None:
            seen[extra, False] = (start, last)
    return start, end


class _Finder:
    """How a rule finds its spans. Called with a text, it runs its pattern over the whole
    text (the reference); :meth:`windowed` gives the very same spans trying the pattern
    only where one of its matches can start: at its anchors (:class:`_At`), found in one
    literal scan each by :class:`_Hay`. A rule without anchors scans the whole text
    either way (its pattern starts with a literal, which ``re`` finds as fast)."""

    __slots__ = ("anchors", "guard", "pattern", "prefixed", "spans")

    def __init__(
        self,
        pattern: re.Pattern[str],
        spans: Callable[[str, Iterator[re.Match[str]]], Iterator[_Span]],
        guard: re.Pattern[str] | None = None,
    ) -> None:
        self.pattern = pattern
        #: the spans of the matches, given as they are found
        self.spans = spans
        #: where matches start (set by :meth:`window`)
        self.anchors: tuple[_Anchor, ...] | None = None
        #: the pattern starts with a literal: windowed in long texts only
        self.prefixed = False
        #: what any match holds, checked first on the whole-text path
        self.guard = guard

    def __call__(self, text: str) -> Iterator[_Span]:
        if self.guard is not None and self.guard.search(text) is None:
            return iter(())
        return self.spans(text, self.pattern.finditer(text))

    def window(self, spec: tuple[_At, ...]) -> None:
        """Give the rule its anchors (from :data:`_WINDOWS`, say)."""
        self.anchors = _anchors(spec, self.pattern)
        self.prefixed = _LITERAL_FIRST in spec

    def windowed(self, text: str, hay: _Hay) -> Iterator[_Span]:
        if self.anchors is None or (self.prefixed and not hay.long):
            return self(text)
        starts = hay.starts(self.anchors)
        if starts is None:
            return self(text)
        return self.spans(text, _each(self.pattern, text, starts))


def _each(pattern: re.Pattern[str], text: str, starts: list[int]) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, given (sorted) every place where a match can start:
    the first match at or after the end of the last one. ``match(text, start)`` sees the
    text before ``start``, so look-behinds and ``\\b`` answer as in the whole-text scan,
    and nothing cuts the text short, so a match is as long as it is there (none of the
    rule patterns matches the empty string)."""
    pos = 0
    match = pattern.match
    for start in starts:
        if start >= pos and (m := match(text, start)) is not None:
            yield m
            pos = m.end()


def _pattern_spans(pattern: re.Pattern[str]) -> _Finder:
    """Spans of a scanner pattern: from the first group that matched (the value of a
    ``name = value`` pattern) to the end of the match, else the whole match; widened to
    the whole token either way."""
    groups = pattern.groups

    def spans(text: str, matches: Iterator[re.Match[str]]) -> Iterator[_Span]:
        seen: dict[Any, tuple[int, int]] = {}
        for m in matches:
            first = next((i for i in range(1, groups + 1) if m.group(i)), 0)
            if first:
                yield _widen(text, m.start(first), m.end(), False, seen)
            elif m.end() > m.start():
                start = m.start()
                label = _LABEL.match(text, start, m.end())  # AccountKey=…: keep the name
                if label is not None:
                    yield _widen(text, label.end(), m.end(), False, seen)
                else:
                    yield _widen(text, start, m.end(), True, seen)

    return _Finder(pattern, spans)


#: A name and ``=`` or ``:`` at the start of a match without groups: shown, not masked.
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*[=:](?!//)(?=.)")


def _simple(pattern: re.Pattern[str], group: int = 0) -> _Finder:
    """Spans of one group of ``pattern`` (the whole match by default), as they are."""

    def spans(text: str, matches: Iterator[re.Match[str]]) -> Iterator[_Span]:
        for m in matches:
            if m.group(group):
                yield m.span(group)

    return _Finder(pattern, spans)


def _any_group(pattern: re.Pattern[str]) -> _Finder:
    """Spans of whichever group matched (a quoted or a bare value)."""

    def spans(text: str, matches: Iterator[re.Match[str]]) -> Iterator[_Span]:
        for m in matches:
            first = next((i for i in range(1, pattern.groups + 1) if m.group(i)), 0)
            if first:
                yield m.span(first)

    return _Finder(pattern, spans)


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


# -- windows: where a rule's matches can start ------------------------------------------


class _At(NamedTuple):
    """Where a rule's matches start: ``delta`` characters before a place where ``what``
    (a literal; with ``regex``, a pattern consuming one character, its condition in a
    look-ahead) is found, in the folded text (:func:`_lowered`) with ``lowered``. With
    ``then``, a part of the rule's own source from which the rest of it must match at the
    anchor (a name rule's keyword and what follows it): anchors where it does not are
    not tried. Every match of the rule must start at one of these places: that is what
    makes a windowed scan give exactly what the whole-text scan gives."""

    what: str
    deltas: tuple[int, ...] = (0,)
    lowered: bool = False
    regex: bool = False
    then: str | None = None


#: Marks a rule whose pattern starts with a literal: ``re`` finds it as fast as one anchor
#: scan, so the rule uses its anchors only in long texts, where they are shared.
_LITERAL_FIRST = _At("")

#: The four words one of which starts the keyword of detect-secrets' name rules (``pwd``
#: and ``password`` start with ``pw`` and ``pass``).
_KEY_WORDS = ("key", "pw", "pass", "token")


def _names(before: int, then: str, words: tuple[str, ...] = _KEY_WORDS) -> tuple[_At, ...]:
    """A detect-secrets name rule (``[ " cl _ api key = "…"``, after a non-word character):
    at most ``before`` characters from its start to its keyword, the keyword starting with
    one of ``words``, and the rule from its keyword on (``then``) matching there."""
    return tuple(_At(word, tuple(range(before + 1)), True, False, then) for word in words)


#: Anchors shared by token rules of both rule sets, so that one scan serves them all
#: (each rule is tried at every place found: a few more tries, far fewer scans).
_A = _At("A(?=3T|BIA|C|KIA|SIA|KC|P|Iza)", regex=True)  # AWS, Twilio, Artifactory, Google
_A_EDGE = _At(_A.what, (0, 1), regex=True)  # Artifactory: a boundary character before
_S = _At(r"S(?=G\.|K)", regex=True)  # SendGrid, Twilio
_GH = _At("gh(?=[pousr]_)", regex=True)  # GitHub classic tokens
_GL = _At("gl(?=pat-|dt-|ft-|soat-|rt-|cbt-|imt-|ptt-|agent-|oas-)", regex=True)  # GitLab
_K = _At("k_(?=live_|test_)", (1,), regex=True)  # Stripe's [rs]k_
_SK = _At("sk-")  # OpenAI, Anthropic
_URL = _At("://")

#: Anchors of the detect-secrets patterns, by source. A pattern not found here (one that
#: starts with a rare literal, which ``re`` scans for as fast as :class:`_Hay` would, or
#: one of a new release) scans the whole text: slower, never leakier.
_WINDOWS: dict[str, tuple[_At, ...]] = {
    "(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}": (_A,),
    # the quote before its 40 characters: 5 (aws, pw) to 51 (aws, 20, password, 20) after
    # its start ("aws" itself is in every other word of some texts: each try cost ~300 steps)
    "aws.{0,20}?(?:key|pwd|pw|password|pass|token).{0,20}?[\\'\\\"]([0-9a-zA-Z/+]{40})[\\'\\\"]": (
        _At("['\"](?=[0-9a-zA-Z/+]{40}['\"])", tuple(range(5, 52)), regex=True),
    ),
    '(?:\\s|=|:|"|^)AKC[a-zA-Z0-9]{10,}(?:\\s|"|$)': (_A_EDGE,),
    '(?:\\s|=|:|"|^)AP[\\dABCDEF][a-zA-Z0-9]{8,}(?:\\s|"|$)': (_A_EDGE,),
    "AccountKey=[a-zA-Z0-9+\\/=]{88}": (_At("key", (7,), lowered=True), _LITERAL_FIRST),
    "://[^:/\\?\\#\\[\\]@!\\$\\&'\\(\\)\\*\\+,;=\\s]+:"
    "([^:/\\?\\#\\[\\]@!\\$\\&'\\(\\)\\*\\+,;=\\s]+)@": (_URL, _LITERAL_FIRST),
    # (?<=\W|^) [ " cloudant|cl|clou _ api : 2 + 8 + 1 + 3 characters before the keyword
    "(?:(?<=\\W)|(?<=^))(?:\\[|)(?:\"|\\'|)(?:cloudant|cl|clou)(?:_|-|)(?:api|)(?:key|pwd|pw|"
    "password|pass|token)(?:\"|\\'|)(?:\\]|)(?: *)(?:=|:|:=|=>| +|::)(?: *)(?:\"|\\'|)"
    "([0-9a-f]{64})(?:\"|\\'|)": _names(14, "(?:key|pwd|pw|password|pass|token)"),
    "(?:(?<=\\W)|(?<=^))(?:\\[|)(?:\"|\\'|)(?:cloudant|cl|clou)(?:_|-|)(?:api|)(?:key|pwd|pw|"
    "password|pass|token)(?:\"|\\'|)(?:\\]|)(?: *)(?:=|:|:=|=>| +|::)(?: *)(?:\"|\\'|)"
    "([a-z]{24})(?:\"|\\'|)": _names(14, "(?:key|pwd|pw|password|pass|token)"),
    # https?:// : 4 or 5 characters before ://
    "(?:https?\\:\\/\\/)[\\w\\-]+\\:([0-9a-f]{64})\\@[\\w\\-]+\\.cloudant\\.com": (
        _At("://", (4, 5)),
    ),
    "(?:https?\\:\\/\\/)[\\w\\-]+\\:([a-z]{24})\\@[\\w\\-]+\\.cloudant\\.com": (
        _At("://", (4, 5)),
    ),
    # the first dot of a Discord token is 24 to 26 characters into it
    "[MNO][a-zA-Z\\d_-]{23,25}\\.[a-zA-Z\\d_-]{6}\\.[a-zA-Z\\d_-]{27}": (
        _At(r"\.(?=[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27})", (24, 25, 26), regex=True),
    ),
    "(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36}": (_GH, _LITERAL_FIRST),
    "(glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_\\-]{20,50}(?!\\w)": (_GL, _LITERAL_FIRST),
    "glcbt-([0-9a-fA-F]{2}_)?[A-Za-z0-9_\\-]{20,50}(?!\\w)": (_GL, _LITERAL_FIRST),
    "glimt-[A-Za-z0-9_\\-]{25}(?!\\w)": (_GL, _LITERAL_FIRST),
    "glptt-[A-Za-z0-9_\\-]{40}(?!\\w)": (_GL, _LITERAL_FIRST),
    "glagent-[A-Za-z0-9_\\-]{50,1024}(?!\\w)": (_GL, _LITERAL_FIRST),
    "gloas-[A-Za-z0-9_\\-]{64}(?!\\w)": (_GL, _LITERAL_FIRST),
    # [ " ibm_cloud_iam _ api _ : 2 + 13 + 1 + 3 + 1 characters before the keyword
    "(?:(?<=\\W)|(?<=^))(?:\\[|)(?:\"|\\'|)(?:ibm(?:_|-|)cloud(?:_|-|)iam|cloud(?:_|-|)iam|"
    "ibm(?:_|-|)cloud|ibm(?:_|-|)iam|ibm|iam|cloud|)(?:_|-|)(?:api|)(?:_|-|)(?:key|pwd|"
    "password|pass|token)(?:\"|\\'|)(?:\\]|)(?: *)(?:=|:|:=|=>| +|::)(?: *)(?:\"|\\'|)"
    "([a-zA-Z0-9_\\-]{44}(?![a-zA-Z0-9_\\-]))(?:\"|\\'|)": _names(
        20, "(?:key|pwd|password|pass|token)"
    ),
    # [ " ibm_cos_hmac _ : 2 + 12 + 1 characters before "secret"
    "(?:(?<=\\W)|(?<=^))(?:\\[|)(?:\"|\\'|)(?:(?:ibm)?[-_]?cos[-_]?(?:hmac)?|)(?:_|-|)"
    "(?:secret[-_]?(?:access)?[-_]?key)(?:\"|\\'|)(?:\\]|)(?: *)(?:=|:|:=|=>| +|::)(?: *)"
    "(?:\"|\\'|)([a-f0-9]{48}(?![a-f0-9]))(?:\"|\\'|)": _names(
        15, "(?:secret[-_]?(?:access)?[-_]?key)", ("secret",)
    ),
    "[0-9a-z]{32}-us[0-9]{1,2}": (_At("-us", (32,)),),
    "sk-[A-Za-z0-9-_]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}": (_SK, _LITERAL_FIRST),
    "pypi-AgEIcHlwaS5vcmc[A-Za-z0-9-_]{70,}": (_At("pypi-AgE"), _LITERAL_FIRST),
    "pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9-_]{70,}": (_At("pypi-AgE"), _LITERAL_FIRST),
    "SG\\.[a-zA-Z0-9_-]{22}\\.[a-zA-Z0-9_-]{43}": (_S, _LITERAL_FIRST),
    "xox(?:a|b|p|o|s|r)-(?:\\d+-)+[a-z0-9]+": (_At("xox", lowered=True),),
    "https://hooks\\.slack\\.com/services/T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+": (
        _At("://", (5,)),
    ),
    # [ " softlayer _ api _ : 2 + 9 + 1 + 3 + 1 characters before the keyword
    "(?:(?<=\\W)|(?<=^))(?:\\[|)(?:\"|\\'|)(?:softlayer|sl)(?:_|-|)(?:api|)(?:_|-|)(?:key|pwd|"
    "password|pass|token)(?:\"|\\'|)(?:\\]|)(?: *)(?:=|:|:=|=>| +|::)(?: *)(?:\"|\\'|)"
    "([a-z0-9]{64})(?:\"|\\'|)": _names(16, "(?:key|pwd|password|pass|token)"),
    "(?:http|https)://api.softlayer.com/soap/(?:v3|v3.1)/([a-z0-9]{64})": (_At("://", (4, 5)),),
    "(?:r|s)k_live_[0-9a-zA-Z]{24}": (_K,),
    "\\d{8,10}:[0-9A-Za-z_-]{35}": (_At(":(?=[0-9A-Za-z_-]{35})", (8, 9, 10), regex=True),),
    "AC[a-z0-9]{32}": (_A, _LITERAL_FIRST),
    "SK[a-z0-9]{32}": (_S, _LITERAL_FIRST),
}


class _Scan:
    """One anchor pattern, looked for in the text or in the folded text: what
    :class:`_Hay` scans for once per text, whichever rules share it."""

    __slots__ = ("literal", "lowered", "pattern")

    def __init__(self, pattern: re.Pattern[str], lowered: bool, literal: str | None) -> None:
        self.pattern = pattern
        self.lowered = lowered
        #: the literal the pattern finds (checked for first in a short text)
        self.literal = literal


#: A compiled :class:`_At`: (scan, deltas, the rule's pattern from its keyword on).
_Anchor = tuple[_Scan, tuple[int, ...], "re.Pattern[str] | None"]

_scans: dict[tuple[str, bool], _Scan] = {}
_compiled_anchors: dict[tuple[tuple[_At, ...], str | None], tuple[_Anchor, ...]] = {}


def _anchors(spec: tuple[_At, ...], rule: re.Pattern[str]) -> tuple[_Anchor, ...]:
    """``spec`` compiled for ``rule`` (the same object for the same spec, so that rules
    sharing anchors share the starts found). A literal that can overlap itself (``xox``
    in ``xoxox``) is looked for as its first character and a look-ahead, so that a scan
    finds every place it starts, not only those after the previous one."""
    key = (spec, rule.pattern if any(at.then for at in spec) else None)
    if key in _compiled_anchors:
        return _compiled_anchors[key]
    out = []
    for at in spec:
        if at is _LITERAL_FIRST:
            continue
        what, literal = at.what, None
        if not at.regex:
            literal = what
            borders = any(what[:i] == what[-i:] for i in range(1, len(what)))
            escaped = re.escape(what)
            what = f"{re.escape(what[0])}(?={re.escape(what[1:])})" if borders else escaped
        if (what, at.lowered) not in _scans:
            _scans[what, at.lowered] = _Scan(re.compile(what), at.lowered, literal)
        then = None
        if at.then is not None:
            source = rule.pattern
            then = re.compile(source[source.index(at.then) :], rule.flags)
        out.append((_scans[what, at.lowered], at.deltas, then))
    _compiled_anchors[key] = anchors = tuple(out)
    return anchors


#: Windowed scans give up, and scan the whole text, when a rule would be tried at more
#: places than one in this many characters (a text made of anchors: no faster windowed).
_DENSE = 8
#: In texts shorter than this, a literal anchor is looked for with ``in`` first.
_SHORT = 4096


class _Hay:
    """A text being redacted with windows: the places of each anchor, found once (rules
    share anchors: ``key``, ``://``), and the starts computed from them. In a text
    shorter than :data:`_UNHINTED_MIN`, rules whose pattern starts with a literal scan
    the whole text (as cheap as one scan, and no bookkeeping); in a longer one they use
    their anchors too, which they share with other rules (``sk-``, ``gl…-``, ``A…``)."""

    __slots__ = ("_lowered", "_places", "_starts", "limit", "long", "text")

    def __init__(self, text: str, lowered: str | None = None) -> None:
        self.text = text
        self._lowered = lowered
        self._places: dict[_Scan, list[int] | None] = {}
        self._starts: dict[int, list[int] | None] = {}
        self.limit = len(text) // _DENSE + 16
        self.long = len(text) >= _UNHINTED_MIN

    def lowered(self) -> str | None:
        """The folded text, when it is aligned with the text (always, but for what
        ``str.lower`` might do in a future Unicode: then no windows)."""
        if self._lowered is None:
            self._lowered = _lowered(self.text)
        return self._lowered if len(self._lowered) == len(self.text) else None

    def places(self, scan: _Scan) -> list[int] | None:
        """Where ``scan`` finds its anchor (None: no folded text to look in)."""
        if scan in self._places:
            return self._places[scan]
        hay = self.lowered() if scan.lowered else self.text
        if hay is None:
            found = None
        elif scan.literal is not None and len(hay) < _SHORT and scan.literal not in hay:
            found = []
        else:
            found = [m.start() for m in scan.pattern.finditer(hay)]
        self._places[scan] = found
        return found

    def starts(self, anchors: tuple[_Anchor, ...]) -> list[int] | None:
        """Every place where a match of the rule with ``anchors`` can start, sorted; None
        when a whole-text scan is better (too many, or no folded text)."""
        key = id(anchors)  # (compiled once, kept by the rules: the id is theirs)
        if key in self._starts:
            return self._starts[key]
        text, out, limit = self.text, set(), self.limit
        for scan, deltas, then in anchors:
            found = self.places(scan)
            if found is None or len(found) > limit:
                out = None
                break
            for place in found:
                if then is None or then.match(text, place) is not None:
                    out.update(place - d for d in deltas if place >= d)
        starts = None if out is None or len(out) > limit else sorted(out)
        self._starts[key] = starts
        return starts


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
            if pattern.pattern in _SKIPS:
                find = _Skipping(find, *_SKIPS[pattern.pattern])
            if pattern.pattern in _WINDOWS:
                find.window(_WINDOWS[pattern.pattern])
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
    find = _simple(block)
    find.window((_At("BEGIN ", (3, 4, 5, 6)),))  # -{3,5} ?BEGIN
    keyword.append((("begin",), find))
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
#: Anchors of the own token patterns that start with a look-behind or a class.
_OWN_WINDOWS: dict[str, tuple[_At, ...]] = {
    r"sk-ant-[A-Za-z0-9_\-]{8,}": (_SK, _LITERAL_FIRST),
    r"(?<![\w\-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}": (_SK,),
    r"(?<![\w\-])[rs]k_test_[0-9A-Za-z]{16,}": (_K,),
    r"github_pat_[A-Za-z0-9_]{20,}": (_At("github_pat_"), _LITERAL_FIRST),
    r"AIza[0-9A-Za-z_\-]{30,}": (_A, _LITERAL_FIRST),
    r"(?<![\w\-])hf_[A-Za-z0-9]{20,}": (_At("hf_"),),
    r"(?<![\w\-])npm_[A-Za-z0-9]{30,}": (_At("npm_"),),
    r"(?<![A-Za-z0-9])AKC[a-zA-Z0-9]{10,}": (_A,),
}

#: A bare AWS secret access key: exactly 40 base64 characters, mixed case and digits.
_AWS_SECRET = _Source(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")


def _aws_secret(text: str) -> Iterator[_Span]:
    for m in _P.aws_secret.finditer(text):
        if _mixed(m.group(0)):
            yield m.span()


def _mixed(value: str) -> bool:
    return (
        any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    )


#: Bytes of the characters of :data:`_AWS_SECRET` to ``a``, all others to a space.
_BASE64_RUNS = bytes.maketrans(
    bytes(range(256)),
    bytes(
        ord("a") if c < 128 and (chr(c).isalnum() or chr(c) in "+/") else ord(" ")
        for c in range(256)
    ),
)


def _aws_secret_windowed(text: str) -> Iterator[_Span]:
    """:func:`_aws_secret` by runs: its pattern matches exactly the runs of 40 base64
    characters (ASCII) standing alone and not followed by ``=``. The text encoded to ASCII
    with one ``?`` for each other character keeps every place; mapped to ``a`` and spaces,
    ``bytes.find`` finds the runs (a class scan costs ~14 ms per MB, this ~1)."""
    data = text.encode("ascii", "replace").translate(_BASE64_RUNS)
    n, pos = len(data), 0
    while (start := data.find(b"a" * 40, pos)) >= 0:
        end = data.find(b" ", start + 40)
        end = n if end < 0 else end
        if end - start == 40 and (end == n or text[end] != "=") and _mixed(text[start:end]):
            yield start, end
        pos = end


_SCHEMES = _Source(r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/=\-]{8,})")


def _looks_random(value: str) -> bool:
    """A credential, not a word: a digit, a symbol of base64/JWT, or a capital inside."""
    return (
        any(c.isdigit() or c in "._~+/=" for c in value) or any(c.isupper() for c in value[1:])
    ) and not value.startswith(MASK)


def _scheme_spans(text: str, matches: Iterator[re.Match[str]]) -> Iterator[_Span]:
    for m in matches:
        if _looks_random(m.group(1)):
            yield m.span(1)


_URL_PASSWORD = _Source(r"://[^\s:/@]+:([^\s@/]+)@")

#: ``name = value`` / ``"name": "value"``, tried only at the start of a word.
#: Only names holding one of :data:`_NAME_WORDS` are candidates (most ``x = y`` in code
#: are not: cheaper than checking each one); :func:`_secret_named` decides.
#:
#: Every part is bounded per start, so that a scan costs linear time whatever the text
#: (the hub runs it on its event loop): the name is the whole run of name characters
#: after the start, at most :data:`_NAME_MAX` of them, with a keyword starting in its
#: first :data:`_KEYWORD_REACH` (a longer name is not recognised: ``a`` * 300 +
#: ``_password=x`` stays); the value's first :data:`_VALUE_HEAD` characters, when bare,
#: which :class:`_Pairs` extends to the whole value only for a pair it masks (a value
#: that is itself scanned again for pairs, ``keyboard=keyboard=…``, is never read to its
#: end more than once). Unbounded, ``"api_key" * 2000 + ":"`` cost ~0.5 s (prefix ×
#: suffix backtracking), a megabyte minutes.
_NAME_MAX = 256
_KEYWORD_REACH = 128
_VALUE_HEAD = 16
_KEYWORDS = "(?:key|secret|token|pass|pw|auth|cred|cookie|contras)"
_ASSIGNMENT = _Source(
    rf"(?i)(?<![\w.\-])((?=[\w.\-]{{0,{_KEYWORD_REACH}}}?{_KEYWORDS})[\w.\-]{{2,{_NAME_MAX}}})"
    rf"([\"']?\s*[:=]\s*)(\"[^\"\n]{{3,}}\"|'[^'\n]{{3,}}'|[^\s\"',;&|]{{3,{_VALUE_HEAD}}})"
)
#: ``--name value``: the literal first (fast to find), then the start of a word (no
#: letter, digit, ``_``, ``.`` or ``-`` before the dashes), bounded as :data:`_ASSIGNMENT`.
_FLAG = _Source(
    rf"(?i)(--(?<![A-Za-z0-9_.\-]--)(?=[\w\-]{{0,{_KEYWORD_REACH}}}?{_KEYWORDS})"
    rf"[\w\-]{{2,{_NAME_MAX}}})([ =])(\"[^\"\n]{{3,}}\"|'[^'\n]{{3,}}'|[^\s\"']{{3,{_VALUE_HEAD}}})"
)
#: The rest of a bare value (of a pair or of a flag) after its head.
_VALUE_REST = _Source(r"[^\s\"',;&|]*")
_FLAG_VALUE_REST = _Source(r"[^\s\"']*")
_CAMEL = _Source(r"([a-z0-9])([A-Z])")
_NOT_SECRETS = frozenset({"bearer", "basic", "token", "true", "false", "null", "none"})
_NAME_WORDS = ("key", "secret", "token", "pass", "pwd", "pw", "auth", "cred", "cookie", "contras")

_secret_name: re.Pattern[str] | None = None


@contextmanager
def _warnings_kept() -> Iterator[None]:
    """Import detect-secrets without its side effect on warnings: its loggers call
    ``logging.captureWarnings(True)`` at import, which sends every warning of the process
    to the logging module (where nobody sees one: a clamped seek's warning vanished)."""
    showwarning = warnings.showwarning
    try:
        yield
    finally:
        warnings.showwarning = showwarning


def _name_pattern() -> re.Pattern[str]:
    """Names that say secret: detect-secrets' keyword list, and ccviz's additions."""
    global _secret_name
    if _secret_name is None:
        with _warnings_kept():
            from detect_secrets.plugins.keyword import DENYLIST

        words = "|".join(DENYLIST)  # substrings, as detect-secrets matches them
        own = (
            r"[a-z]*token|auth|authorization|pass|pw|passphrase|passcode|credentials?"
            r"|cookie|(?:session|signing|encryption|master|license|access|secret|app|hmac"
            r"|jwt|webhook|crypt)_?key"
        )
        _secret_name = re.compile(rf"{words}|(?:^|_)(?:{own})(?:$|_)")
    return _secret_name


#: What :func:`_secret_named` said, by name (a text of thousands of pairs, ``keyboard=`` *
#: 100,000, repeats its names). Emptied when full.
_named: dict[str, bool] = {}


def _secret_named(name: str) -> bool:
    """Whether a variable, key or flag name says secret (``PGPASSWORD``, ``apiKey``)."""
    said = _named.get(name)
    if said is None:
        if len(_named) >= 4096:
            _named.clear()
        normal = _P.camel.sub(r"\1_\2", name).lower().replace("-", "_").replace(".", "_")
        said = _named[name] = _name_pattern().search(normal.lstrip("_")) is not None
    return said


def _secret_value(value: str) -> bool:
    """Whether the value of a secret-named field is worth masking (not ``true``, not a
    scheme word, not masked already)."""
    return value.lower() not in _NOT_SECRETS and not value.startswith(MASK)


#: From a keyword on: the rest of its run of name characters; then what must follow the
#: run in a pair (``=`` or ``:``, after an optional quote and spaces).
_NAME_TAIL = _Source(r"[\w.\-]*")
_NAME_SEPARATOR = _Source(r"[\"']?\s*[:=]")
#: Where the name of a pair starts: the run of name characters that ends at the keyword
#: found (searched back from it, the text cut there, at most a keyword's reach away).
_NAME_RUN = _Source(r"(?<![\w.\-])[\w.\-]*\Z")


#: A pair rule scans the whole text when its keywords are denser than one in this many
#: characters (each costs a few µs of bookkeeping; a whole-text scan ~0.1 µs a character).
_PAIRS_DENSE = 64


class _Pairs(_Finder):
    """``name = value`` (``flag=False``) or ``--name value`` pairs. The pattern is searched
    again from inside a match (its value may be a pair itself: "fix it: PGPASSWORD=…"), so
    matches are found one search at a time. Windowed, a pair search tries only the places
    where a name holding a keyword starts: the start of the run of name characters around
    the keyword (the look-behind says no name character comes before it), when it is
    within the keyword's reach; a keyword inside a run already looked at (``api_key_key``)
    adds nothing: a run is read once, however many keywords it holds. Keywords denser than
    one in :data:`_PAIRS_DENSE` characters, and flags always (their literal ``--`` first
    and their look-behind make the whole-text scan ~0.5 ms a MB), scan the whole text."""

    __slots__ = ("flag", "keywords", "rest")

    def __init__(self, pattern: re.Pattern[str], flag: bool) -> None:
        super().__init__(pattern, _no_spans)
        self.flag = flag
        self.keywords = _anchors(
            tuple(_At(w, lowered=True) for w in _NAME_WORDS if w != "pwd"), pattern
        )
        #: the rest of a bare value after its head
        self.rest = _P.flag_value_rest if flag else _P.value_rest

    def __call__(self, text: str) -> Iterator[_Span]:
        return self._pairs(text, lambda pos: self.pattern.search(text, pos))

    def windowed(self, text: str, hay: _Hay) -> Iterator[_Span]:
        if self.flag:  # its literal first and its look-behind: a whole-text scan is cheaper
            return self(text)
        places: list[int] = []
        limit = len(text) // _PAIRS_DENSE
        for scan, _, _ in self.keywords:
            found = hay.places(scan)
            if found is None or len(found) + len(places) > limit:
                return self(text)
            places.extend(found)
        places.sort()
        starts: set[int] = set()
        tail, separator, run = _P.name_tail.match, _P.name_separator.match, _P.name_run.search
        reach = _KEYWORD_REACH
        run_end = -1  # the end of the run of the last keyword looked at
        for place in places:
            if place < run_end:
                continue  # a later keyword of the same run: the same start
            run_end = tail(text, place).end()  # a new run: read to its end, once
            if separator(text, run_end) is not None:  # its one start: the first keyword's
                m = run(text, max(0, place - reach), place)
                if m is not None and run_end - m.start() <= _NAME_MAX:
                    starts.add(m.start())
        return self._pairs(text, _searcher(self.pattern, text, sorted(starts)))

    def _pairs(self, text: str, search: Callable[[int], re.Match[str] | None]) -> Iterator[_Span]:
        if "=" not in text and ":" not in text and not self.flag:
            return
        pos = 0
        while (m := search(pos)) is not None:
            name, value = m.group(1), m.group(3)
            quote = value[0] if value[0] in "\"'" else ""
            bare = value[1:-1] if quote else value
            if _secret_named(name) and _secret_value(bare):
                start = m.start(3) + len(quote)
                end = m.end() - len(quote)
                if not quote and len(bare) == _VALUE_HEAD:  # its head: read it to the end
                    end = self.rest.match(text, end).end()
                yield start, end
                pos = end + len(quote)
            else:  # the value may itself be a pair ("fix it: PGPASSWORD=…")
                pos = m.start(3)


def _no_spans(text: str, matches: Iterator[re.Match[str]]) -> Iterator[_Span]:
    return iter(())


def _searcher(
    pattern: re.Pattern[str], text: str, starts: list[int]
) -> Callable[[int], re.Match[str] | None]:
    """``pattern.search(text, pos)`` for calls with growing ``pos`` (each past the start
    of the last match), given (sorted) every place where a match can start."""
    i = 0

    def search(pos: int) -> re.Match[str] | None:
        nonlocal i
        while i < len(starts):
            start = starts[i]
            if start >= pos and (m := pattern.match(text, start)) is not None:
                return m
            i += 1
        return None

    return search


_MYSQL = _Source(r"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?\s-p([^\s\"']{3,})")
_SSHPASS = _Source(r"\bsshpass\b[^\n]*?\s-p\s*(?:\"([^\"\n]+)\"|'([^'\n]+)'|([^\s\"']+))")
_CURL_USER = _Source(r"\bcurl\b[^\n]*?\s(?:-u\s*|--user[= ]\s*)[\"']?[^\s:\"']*:([^\s\"']+)")
_PROSE = _Source(
    r"(?i)\b(?:(password|passwd|passphrase|passcode|pin)|secret|(?:api|access|secret) key"
    r"|token)\s+(?:is|was)\s*:?\s*[\"'`]?([^\s\"'`]{4,})"
)


class _Skipping(_Finder):
    """A rule tried at each place where ``word`` (what every match starts with) is found,
    and, where it fails, not again until the end of what ``skip`` matches there: a
    stretch in which every later start fails too. Exactly ``finditer``'s matches, in
    linear time. A command line (``\\bcurl\\b[^\\n]*?\\s-u…``) skips the rest of its line
    (its lazy run reads to the line's end whatever the start: ``"curl " * 200_000`` tried
    each start to the end); a JWT (``eyJ[…]+\\.``) the run of its characters."""

    __slots__ = ("head", "skip", "word")

    def __init__(
        self, find: _Finder, word: str, skip: str = r"[^\n]*\n?", head: str | None = None
    ) -> None:
        super().__init__(find.pattern, find.spans)
        self.anchors = find.anchors
        self.word = re.compile(word, find.pattern.flags)
        self.skip = re.compile(skip, find.pattern.flags)
        #: what must hold at a start for a failure there to skip (``\\bcurl\\b``: "curl"
        #: inside "xcurl" fails for want of its boundary, and says nothing of what follows)
        self.head = re.compile(head, find.pattern.flags) if head is not None else None

    def __call__(self, text: str) -> Iterator[_Span]:
        return self.spans(text, self._matches(text))

    def windowed(self, text: str, hay: _Hay) -> Iterator[_Span]:
        return self(text)

    def _matches(self, text: str) -> Iterator[re.Match[str]]:
        pos, match, skip = 0, self.pattern.match, self.skip.match
        for w in self.word.finditer(text):
            start = w.start()
            if start < pos:
                continue
            m = match(text, start)
            if m is not None:
                yield m
                pos = m.end()
            elif self.head is None or self.head.match(text, start) is not None:
                pos = skip(text, start).end()


def _lines(find: _Finder) -> _Skipping:
    """A command-line rule, skipping the rest of the line where it fails."""
    source = find.pattern.pattern  # \bcurl\b[^\n]*?…: found by "curl\b" (a literal scan)
    head = source[: source.index("[^\\n]*?")]
    return _Skipping(find, head[2:], head=head)


#: detect-secrets patterns whose failed tries would each read to the end of a run or a
#: line: (what a match starts with, what a later start on which fails too).
_SKIPS: dict[str, tuple[str, str]] = {
    r"eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*?": ("eyJ", r"eyJ[A-Za-z0-9-_=]*"),
    r"\/\/.+\/:_authToken=\s*((npm_.+)|([A-Fa-f0-9-]{36})).*": ("//", r"[^\n]*\n?"),
    r"sk-[A-Za-z0-9-_]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}": ("sk-", r"sk-[A-Za-z0-9-_]*"),
}


def _prose(text: str, matches: Iterator[re.Match[str]]) -> Iterator[_Span]:
    """ "The password is …": a password whatever it looks like; a token or key only when
    it looks random ("the token is expired" stays)."""
    for m in matches:
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
    everywhere); rules without hints always run, and so do rules hinted by one of
    ``always_words`` (characters in almost every text: scanning for them costs more)."""

    def __init__(self, rules: list[_Rule], always_words: frozenset[str] = frozenset()) -> None:
        self.always: list[_Finder] = []
        #: rules hinted only by case-sensitive words: (words, patterns, finder)
        self.exact: list[tuple[tuple[str, ...], tuple[re.Pattern[str], ...], _Finder]] = []
        #: rules hinted by a lowercase word: (patterns, finder)
        self.rules: list[tuple[tuple[re.Pattern[str], ...], _Finder]] = []
        self.finders = [find for _, find in rules]
        by_word: dict[str, list[int]] = {}
        for hints, find in rules:
            words = tuple(h for h in hints if isinstance(h, str))
            patterns = tuple(h for h in hints if not isinstance(h, str))
            if not words or always_words.intersection(words):
                if patterns and not words:
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
        # The case-sensitive words as one scan too, for windowed texts (their hundreds
        # of characters make twenty ``in`` tests cost more than one scan).
        by_exact: dict[str, list[int]] = {}
        for j, (exact_words, _, _) in enumerate(self.exact):
            for word in exact_words:
                by_exact.setdefault(word, []).append(j)
        self.exact_expand = {
            w: sorted({j for u in by_exact if _may_hide(w, u) for j in by_exact[u]})
            for w in by_exact
        }
        self.exact_gate = re.compile(_alternatives(set(by_exact))) if by_exact else None

    def run(self, text: str, lowered: str, spans: list[_Span], hay: _Hay | None = None) -> None:
        """Add the spans of the rules whose hints are in ``text`` to ``spans``. With
        ``hay``, the rules run windowed, and their hint patterns are not searched (a
        windowed rule costs less than the search)."""
        for find in self.always:
            spans.extend(find(text) if hay is None else find.windowed(text, hay))
        if hay is not None:
            found = self.exact_gate.findall(text) if self.exact_gate is not None else ()
            if found:
                expand = self.exact_expand
                for j in sorted({j for word in set(found) for j in expand[word]}):
                    spans.extend(self.exact[j][2].windowed(text, hay))
        else:
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
            if hay is not None:
                spans.extend(find.windowed(text, hay))
            elif _any_found(patterns, text):
                spans.extend(find(text))

    def run_all(self, text: str, hay: _Hay, spans: list[_Span]) -> None:
        """Add the spans of every rule, windowed, to ``spans`` (a long text: its hint scan
        would cost more than the literal scans of the windows)."""
        for find in self.finders:
            spans.extend(find.windowed(text, hay))


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
#: Both rule sets as one, for texts redacted with windows (set by :func:`_build`).
_windowed_group: _Group


def _build() -> _Ruleset:
    """Compile the rule set, once, on first use."""
    global _rules
    for name, value in list(globals().items()):
        if isinstance(value, _Source):  # _TOKEN_RUN → _P.token_run
            setattr(_P, name[1:].lower(), re.compile(value))
    with _warnings_kept():
        keyword, token, plain = _scanner_rules()
    schemes = _Finder(_P.schemes, _scheme_spans)
    schemes.window(tuple(_At(w, lowered=True) for w in ("bearer", "basic", "token")))
    mysql = _lines(_simple(_P.mysql, 1))
    mysql.window((_At("mysql"), _At("mariadb")))
    sshpass = _lines(_any_group(_P.sshpass))
    sshpass.window((_At("sshpass"),))
    curl = _lines(_simple(_P.curl_user, 1))
    curl.window((_At("curl"),))
    prose = _Finder(_P.prose, _prose, guard=_P.is_was)  # what every match holds, cheaper
    prose.window(  # "api key", "access key", "secret key": 4 or 7 before "key"
        (
            *(_At(w, lowered=True) for w in ("pass", "pin", "secret", "token")),
            _At("key", (4, 7), lowered=True),
        ),
    )
    url_password = _simple(_P.url_password, 1)
    url_password.window((_URL, _LITERAL_FIRST))
    keyword += [
        (("://",), url_password),
        (("bearer", "basic", "token"), schemes),
        (_NAME_WORDS, _Pairs(_P.assignment, flag=False)),
        (("--",), _Pairs(_P.flag, flag=True)),
        (("mysql", "mariadb"), mysql),
        (("sshpass",), sshpass),
        (("curl",), curl),
        (("pass", "pin", "secret", "key", "token"), prose),
    ]
    for hints, source in _OWN_TOKENS:
        find = _simple(re.compile(source))
        if source in _OWN_WINDOWS:
            find.window(_OWN_WINDOWS[source])
        (keyword if source in _SHORT_TOKENS else token).append((hints, find))
    _name_pattern()
    # Plain rules (short tokens) go with the keyword rules: they need no long run.
    keyword, token = _compiled(keyword + plain), _compiled(token)
    _rules = (_Group(keyword), _Group(token), _P.token_run, _P.aws_secret)
    # Windowed, both sets are one, dispatched by one scan: the token rules need no run
    # guard, and the rules hinted by "." and ":" (Discord, Telegram) always run.
    global _windowed_group
    _windowed_group = _Group(keyword + token, frozenset({".", ":"}))
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
    """``text`` lowered for the hint scans, folded as ``re`` folds (see :data:`_FOLD`).
    Place for place the text: no other character lowers to two."""
    if not text.isascii():
        for odd, folded in _FOLD.items():  # (str.translate is ~20 times slower)
            text = text.replace(chr(odd), folded)
    return text.lower()


#: Results of :func:`redact` by text. Payloads repeat their strings (the cwd of every
#: event, a file's content in a Pre- and a PostToolUse, an Edit's strings in its
#: response), and the engine shows the same captions again: ~85 % of the strings of the
#: long sample were seen before. FIFO-bounded by entries and by characters held.
_memo: dict[str, str] = {}
_memo_chars = 0
_MEMO_ENTRIES = 4096
_MEMO_CHARS = 4_000_000
#: Texts shorter than the first are not kept (no rule masks them: they come back as they
#: are), longer than the second never kept (one would crowd out the rest). A short text
#: is kept too: a lookup costs a twentieth of redacting it again (its scans and dispatch).
_MEMO_MIN, _MEMO_MAX = 6, 1_000_000


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
    _keys.clear()
    _memo_chars = 0


#: No rule matches fewer characters (``pw=abc``: a secret name, ``=``, three characters).
_MIN_SECRET = 6


#: Texts at least this long are redacted with windows (:class:`_Hay`): the rules their
#: hints call for try their patterns only where a match can start. At least the second,
#: every rule runs windowed and no hint scan is made (~11 ms per MB, in a text that
#: holds most hint words anyway).
_WINDOWED_MIN = 128
_UNHINTED_MIN = 16_384


def _redact(text: str) -> str:
    """:func:`redact` without the memo."""
    keyword, token, run, aws = _rules or _build()
    n = len(text)
    spans: list[_Span] = []
    if n >= _UNHINTED_MIN:
        hay = _Hay(text)
        keyword.run_all(text, hay, spans)
        token.run_all(text, hay, spans)
        spans.extend(_aws_secret_windowed(text))
    else:
        lowered = _lowered(text)
        if n >= _WINDOWED_MIN:  # (no token-run guard: a class scan, ~16 steps a character)
            _windowed_group.run(text, lowered, spans, _Hay(text, lowered))
            spans.extend(_aws_secret_windowed(text))
        else:
            keyword.run(text, lowered, spans)
            if run.search(text) is not None:
                token.run(text, lowered, spans)
            if n >= 40 and aws.search(text) is not None:
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

#: What :func:`_key_facts` found, by key: payloads use the same few dozen keys again and
#: again. Emptied when full (and by :func:`clear_memo`).
_keys: dict[str, tuple[bool, bool]] = {}
_KEYS_MAX = 4096


def _key_facts(key: str) -> tuple[bool, bool]:
    """Whether ``key`` names a secret (its string value is masked whole), and whether
    redacting it changes it (the dict's keys are redacted)."""
    facts = _keys.get(key)
    if facts is None:
        if len(_keys) >= _KEYS_MAX:
            _keys.clear()
        facts = _keys[key] = (
            _NAMED.search(key) is not None and _secret_named(key),
            _maybe_secret_key(key) and redact(key) != key,
        )
    return facts


def _redact_dict(value: dict[Any, Any], keep: frozenset[str]) -> dict[Any, Any]:
    out: dict[Any, Any] | None = None
    renamed = False
    known, memo = _keys, _memo
    for key, item in value.items():
        if key in keep:
            continue
        if type(key) is str:
            named, renames = known.get(key) or _key_facts(key)
        else:
            named = renames = False
        kind = type(item)  # (_redact_value inlined: this loop is the hub's hot path)
        if kind is str:
            if named and len(item) >= 3 and _secret_value(item):
                new: Any = MASK  # {"password": "hunter2"}: the form of password=hunter2
            else:
                new = memo.get(item) or redact(item)  # (redact's lookup inlined)
                if new == item:
                    new = item
        elif kind is dict or kind is list:
            new = _redact_value(item)
        else:
            new = item
        if new is not item:
            if out is None:
                out = dict(value)
            out[key] = new
        renamed = renamed or renames
    if renamed:
        base = out if out is not None else value
        out = {
            (redact(k) if type(k) is str and k not in keep and _maybe_secret_key(k) else k): v
            for k, v in base.items()
        }
    return value if out is None else out
