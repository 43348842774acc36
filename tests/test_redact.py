from __future__ import annotations

import pytest

from ccviz_kernel.redact import redact

SECRETS = [
    (
        "export ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnop",
        "export ANTHROPIC_API_KEY=[REDACTED]",
    ),
    (
        'curl -H "Authorization: Bearer ghp_abcdefghijklmnopqrstuvwx" https://api.github.com',
        'curl -H "Authorization: Bearer [REDACTED]" https://api.github.com',
    ),
    (
        "git clone https://bob:hunter2secret@github.com/x/y",
        "git clone https://bob:[REDACTED]@github.com/x/y",
    ),
    ('{"password": "correct horse"}', '{"password": "[REDACTED]"}'),
    ("db_password=p4ssw0rd! npm start", "db_password=[REDACTED] npm start"),
    ("mytool --api-key abcdef123 --verbose", "mytool --api-key [REDACTED] --verbose"),
    ("mytool --token=abcdef123", "mytool --token=[REDACTED]"),
    ("mysql -u root -psecretpw shop", "mysql -u root -p[REDACTED] shop"),
    ("AWS key AKIAABCDEFGHIJKLMNOP here", "AWS key [REDACTED] here"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----", "[REDACTED]"),
    ("token: xoxb-1234567890-abcdef", "token: [REDACTED]"),
    ("SECRET_KEY = 'abc123xyz'", "SECRET_KEY = '[REDACTED]'"),
]

HARMLESS = [
    "Reading src/auth/session_keys.ts",
    "$ npm test -- --watch=false",
    "Editing src/player.ts",
    "Searching for 'password reset'",
    "Fetching docs.python.org/3/library/secrets.html",
    "keyboard: true",
    "$ git push origin main",
]


@pytest.mark.parametrize(("text", "expected"), SECRETS)
def test_secrets_are_masked(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_is_left_alone(text):
    assert redact(text) == text


# -- issue 11, point 4: the findings, each one a test ---------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from redaction.corpus import PLACES, leaks, place, secrets  # noqa: E402

import ccviz_kernel.redact as redact_module  # noqa: E402
from ccviz_kernel.engine.game import Game  # noqa: E402
from ccviz_kernel.engine.speech import tool_speech  # noqa: E402
from ccviz_kernel.events import parse_event  # noqa: E402
from ccviz_kernel.redact import MASK, redact_payload  # noqa: E402

FINDINGS = [
    # a "word:" before NAME=value no longer consumes the match (the game-title case)
    ("Please fix it: PGPASSWORD=Vq7mZ2pL-x9w psql", "Please fix it: PGPASSWORD=[REDACTED] psql"),
    ("note: SMTP_PASS=hunter2-x9 ./send", "note: SMTP_PASS=[REDACTED] ./send"),
    ("deploy --config --password=s3cr3t-pw go", "deploy --config --password=[REDACTED] go"),
    # formats that were missing
    ("pay with sk_live_" + "a1B2c3D4" * 12 + "x", "pay with [REDACTED]"),
    ("rk_live_" + "Zz9Yy8Xx" * 4, "[REDACTED]"),
    ("SMTP_PASS=hunter2-x9", "SMTP_PASS=[REDACTED]"),
    ("SESSION_KEY=0f3c9a1b2c3d4e5f", "SESSION_KEY=[REDACTED]"),
    (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + "Ab3+" * 22 + ";x=y",
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[REDACTED];x=y",
    ),
    ("echo wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "echo [REDACTED]"),
    ("sshpass -p 'Tr0ub4dor&3' ssh me@host", "sshpass -p '[REDACTED]' ssh me@host"),
    ("sshpass -p Tr0ub4dor3 ssh me@host", "sshpass -p [REDACTED] ssh me@host"),
    ("curl -u admin:Tr0ub4dor3 https://ci", "curl -u admin:[REDACTED] https://ci"),
    (
        "curl -X POST https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGHI/abcdEFGHijklMNOPqrstUVWX",
        "curl -X POST [REDACTED]",
    ),
    (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGabc\n-----END PGP PRIVATE KEY BLOCK-----",
        "[REDACTED]",
    ),
    ("the password is Tr0ub4dor3, ok?", "the password is [REDACTED], ok?"),
    ("my password is swordfish", "my password is [REDACTED]"),
    # a password with sub-delimiters, which detect-secrets' Basic-auth pattern misses
    (
        "git clone https://bob:hunter2!@github.com/x",
        "git clone https://bob:[REDACTED]@github.com/x",
    ),
]

MORE_HARMLESS = [
    "$ git push -u origin feat/double-jump-save-slots",
    "Claude is running `npx playwright test e2e/hud.spec.ts --update-snapshots`",
    "the token is expired",
    "the password is required",
    "git commit --author=Bob",
    "max_tokens=1000 temperature=0",
    "Explore #2 is reading src/components/PlayerController.ts",
    "Fix the basic functionality of the token validation",
    "task-notification-handler-for-agents",
    "ping 8.8.8.8",
]


@pytest.mark.parametrize(("text", "expected"), FINDINGS)
def test_findings_are_masked(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", MORE_HARMLESS)
def test_more_harmless_text_is_left_alone(text):
    assert redact(text) == text


def test_webfetch_summary_redacts_the_url_before_dropping_the_scheme():
    text = tool_speech("WebFetch", {"url": "https://app:Vq7mZ2pL-x9w@db.example.com/admin"})
    assert "Vq7mZ2pL" not in text and text == "Fetching db.example.com/admin"
    slack = "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGHI/abcdEFGHijklMNOPqrstUVWX"
    assert "abcdEFGH" not in tool_speech("WebFetch", {"url": slack})


def corpus_texts() -> list[str]:
    """Every string of every corpus payload (all formats in all places)."""
    out: list[str] = []

    def walk(value):
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for secret in secrets():
        for where in PLACES:
            walk(place(secret, where, "s"))
    return out


def test_every_corpus_secret_is_masked_in_every_place_by_the_engine():
    """The engine alone (a replay: no hub, no payload redaction) hides each secret in
    each place: snapshot, deltas and effects."""
    cells = leaked = 0
    for secret in secrets():
        for where in PLACES:
            payload = place(secret, where, "g")
            if payload is None:
                continue
            cells += 1
            game = Game("g")
            applied = game.apply(parse_event(payload))
            seen = json.dumps([applied.deltas, applied.effects, game.snapshot()])
            leaked += bool(leaks(seen, secret))
    assert cells >= 30 * 15 and leaked == 0


def test_payload_redaction_leaves_no_secret_in_what_is_stored():
    for secret in secrets():
        for where in PLACES:
            payload = place(secret, where, "g")
            if payload is not None:
                assert not leaks(json.dumps(redact_payload(payload)), secret), (secret, where)


def test_redaction_is_idempotent():
    for text in corpus_texts():
        once = redact(text)
        assert redact(once) == once


def unguarded(text: str) -> str:
    """The reference: every rule run on the whole text (no hint scans, no token-run or
    length guard, no memo), the spans masked as :func:`redact` masks them."""
    keyword, token, _, _ = redact_module._rules or redact_module._build()
    spans: list[tuple[int, int]] = []
    for group in (keyword, token):
        for find in group.always:
            spans.extend(find(text))
        for _, _, find in group.exact:
            spans.extend(find(text))
        for _, find in group.rules:
            spans.extend(find(text))
    spans.extend(redact_module._aws_secret(text))
    if not spans:
        return text
    spans.sort()
    out, last = [], 0
    for start, end in spans:
        if end <= last:
            continue
        if start >= last:
            out.append(text[last:start])
        if not out or out[-1] != MASK or start > last:
            out.append(MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


def test_hints_never_skip_a_rule_that_would_mask():
    """The cheap guards are only shortcuts: with every rule run on every text, corpus and
    harmless texts come out the same."""
    texts = corpus_texts() + [t for t, _ in SECRETS + FINDINGS] + HARMLESS + MORE_HARMLESS
    for text in texts:
        assert redact(text) == unguarded(text), text


#: Texts the guards once skipped although a rule matched (a short Slack or JWT token, a
#: 15-character Anthropic key, Softlayer's URL, a capitalised Cloudant name, "is" after
#: a tab or capitalised, a Unicode digit): each now masked, as every rule run would.
GUARD_GAPS = [
    "xoxb-1-a",
    "eyJa.b",
    "sk-ant-abcdefgh",
    "https://api.softlayer.com/soap/v3/" + "a1" * 32,
    "CLKEY=" + "a" * 24,
    "password\tis hunter22",
    "Password Is hunter22",
    "xapp-\u0661-aaaaaaaaaaaa",
]


@pytest.mark.parametrize("text", GUARD_GAPS)
def test_guard_gaps_are_closed(text):
    assert MASK in unguarded(text) and redact(text) == unguarded(text)


# Pieces random texts are made of: the corpus snippets (whole, cut, and glued to their
# neighbours), the hint words of every rule, separators, and characters whose case
# folding differs from str.lower (the guards must fold the way re folds).
_HINT_WORDS = sorted(
    {
        w
        for g in (redact_module._build()[0], redact_module._build()[1])
        for w in [*g.expand, *(w for ws, _, _ in g.exact for w in ws)]
    }
)
_PIECES = st.one_of(
    st.sampled_from([s.snippet for s in secrets()] + [s.value for s in secrets()]),
    st.sampled_from(_HINT_WORDS),
    st.sampled_from([t for t, _ in SECRETS + FINDINGS] + HARMLESS + MORE_HARMLESS),
    st.sampled_from([" ", "\n", "\t", "=", ":", '"', "'", "`", "/", "@", "--", " is ", "-p"]),
    st.text(alphabet="abcXYZ019_-.+/=:@ \nſıİK\u0661", max_size=12),
)


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(st.lists(_PIECES, max_size=12), st.data())
def test_fast_path_equals_every_rule_on_random_texts(pieces, data):
    """Seeded: on random texts built of corpus secrets, hint words and separators, the
    guarded, memoised :func:`redact` gives exactly what running every rule gives."""
    text = "".join(pieces)
    if text and data.draw(st.booleans()):  # cut at a random place: half a secret
        cut = data.draw(st.integers(0, len(text)))
        text = text[cut:] if data.draw(st.booleans()) else text[:cut]
    expected = unguarded(text)
    assert redact(text) == expected
    assert redact(text) == expected  # the second time from the memo
    assert redact_module._redact(text) == expected


def test_redact_payload_copies_on_write_and_keeps_routing_fields():
    clean = {"hook_event_name": "Stop", "session_id": "s", "cwd": "/p", "n": [1, {"a": "b"}]}
    assert redact_payload(clean) is clean
    secret = "sk_live_" + "a1B2c3D4" * 4
    payload = {
        "hook_event_name": "PreToolUse",
        "session_id": "s",
        "tool_use_id": "toolu_01",
        "transcript_path": "/tmp/t.jsonl",
        "tool_input": {"command": f"pay {secret}", "env": {secret: 1}},
        "list": ["x", f"{secret}"],
    }
    before = json.dumps(payload)
    out = redact_payload(payload)
    assert json.dumps(payload) == before  # the input is untouched
    assert secret not in json.dumps(out)
    assert out["tool_input"]["command"] == f"pay {MASK}" and out["list"] == ["x", MASK]
    assert out["tool_input"]["env"] == {MASK: 1}  # a key can be a secret too
    assert {k: out[k] for k in ("session_id", "tool_use_id", "transcript_path")} == {
        k: payload[k] for k in ("session_id", "tool_use_id", "transcript_path")
    }


def test_the_rule_set_is_detect_secrets_and_its_shape_is_what_we_read():
    """detect-secrets' plugin ``denylist`` attribute is not a documented API: if a release
    changes its shape, this says so clearly (and pyproject pins >=1.5,<1.6)."""
    from importlib.metadata import version

    assert version("detect-secrets").startswith("1.5.")
    plugins = {p.__name__: p for p in redact_module._scanner_plugins()}
    expected = {
        "AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector",
        "BasicAuthDetector", "CloudantDetector", "DiscordBotTokenDetector",
        "GitHubTokenDetector", "GitLabTokenDetector", "IPPublicDetector",
        "IbmCloudIamDetector", "IbmCosHmacDetector", "JwtTokenDetector",
        "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector",
        "PypiTokenDetector", "SendGridDetector", "SlackDetector", "SoftlayerDetector",
        "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector",
        "TwilioKeyDetector",
    }  # fmt: skip
    assert expected <= set(plugins), f"detect-secrets lost plugins: {expected - set(plugins)}"
    for name, plugin in plugins.items():
        patterns = redact_module._denylist(plugin)  # raises TypeError on another shape
        assert patterns, name
        for pattern in patterns:
            # each pattern has its hints: none falls back to running on every text
            placed = (
                pattern.pattern in redact_module._TOKEN_HINTS
                or name in redact_module._KEYWORD_HINTS
                or name in redact_module._PLAIN_HINTS
                or name in redact_module._SKIPPED_PLUGINS
            )
            assert placed, f"{name}: pattern {pattern.pattern!r} has no hints (new release?)"
    keyword, token, _, _ = redact_module._rules or redact_module._build()
    assert not keyword.always and not token.always
    assert "ENCRYPTED PRIVATE KEY" in redact_module._private_key_kinds()
    assert "PGP PRIVATE KEY BLOCK" in redact_module._private_key_kinds()


def test_importing_stays_cheap():
    """``import ccviz_kernel.redact`` compiles and imports nothing heavy (detect-secrets
    comes on first use); ``ccviz hook`` never imports the redaction module at all."""
    code = (
        "import sys, ccviz_kernel.redact, ccviz_kernel.cli.hook;"
        "print(sorted(m for m in sys.modules if m.startswith(('detect_secrets', 'requests'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import sys, ccviz_kernel.cli.hook; print('ccviz_kernel.redact' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- windows: long texts try each rule only where a match can start -------------------------

from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

from ccviz_kernel import samples  # noqa: E402


@contextmanager
def windowed(gated: bool):
    """Every text redacted with windows, however short: with the hint scan first
    (``gated``, as texts from 128 characters are) or without it (as from 16,384)."""
    saved = redact_module._WINDOWED_MIN, redact_module._UNHINTED_MIN
    redact_module._WINDOWED_MIN = 0
    redact_module._UNHINTED_MIN = 10**12 if gated else 0
    try:
        yield
    finally:
        redact_module._WINDOWED_MIN, redact_module._UNHINTED_MIN = saved


def every_finder():
    keyword, token, _, _ = redact_module._rules or redact_module._build()
    return keyword.finders + token.finders


def assert_windows_exact(text: str) -> None:
    """Each rule's windowed spans are its whole-text spans, in order (with the rules that
    start with a literal windowed too, as in a long text); the redacted text is the
    reference, in both windowed modes."""
    expected = unguarded(text)
    saved = redact_module._UNHINTED_MIN
    redact_module._UNHINTED_MIN = 0  # a "long" hay: every rule uses its anchors
    try:
        hay = redact_module._Hay(text)
    finally:
        redact_module._UNHINTED_MIN = saved
    for find in every_finder():
        assert list(find.windowed(text, hay)) == list(find(text)), find.pattern.pattern
    assert list(redact_module._aws_secret_windowed(text)) == list(redact_module._aws_secret(text))
    for gated in (True, False):
        with windowed(gated):
            assert redact_module._redact(text) == expected, (gated, text)


#: Pieces that stress windows: anchors that overlap themselves (``xoxox``, ``sshpasshpass``,
#: dash runs before BEGIN or a flag), names longer than the first look back (64), the
#: characters re folds unlike str.lower, dense anchors (the whole-text fallback), quotes
#: and separators of the name rules, and Unicode digits and word characters.
_WINDOW_PIECES = st.one_of(
    _PIECES,
    st.sampled_from(
        [
            "xoxox",
            "xoxoxb-12-ab34",
            "sshpasshpass -p 'pw123x'",
            "-------BEGIN RSA PRIVATE KEY-----\nMIIab\n-----END RSA PRIVATE KEY-----",
            "------",
            "---api-key=abcdef12",
            "a" * 70 + "_password=Hunter2x",
            "x." * 40 + "token: 'Tr0ub4dor3'",
            "key" * 30,
            "AKCAKC",
            "APAP9",
            "ghghp_",
            "glglpat-",
            "sk-sk-",
            "k_k_live_",
            "::",
            "https://",
            "'cloudant_api_key': '" + "a" * 24 + "'",
            '["ibm_cloud_iam_api_key"] = ' + "A1-_" * 11,
            "cos_hmac_secret_access_key=" + "ab12" * 12,
            "softlayer_api_key  ::  " + "a1" * 32,
            "ſecret_KEY=İıK1234",
            "K",
            "İ",
            "١٢٣٤٥٦٧٨٩:" + "A" * 35,
            "Mxxxxxxxxxxxxxxxxxxxxxxxxx.xxxxxx." + "x" * 27,
            "abcdefghij0123456789abcdefghij01-us12",
            "Zz9" * 13 + "Q",
            "+/" * 20,
            "\u00e9" * 3,
        ]
    ),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(_WINDOW_PIECES, max_size=40), st.data())
def test_windows_equal_every_rule_on_random_texts(pieces, data):
    """Seeded: on random texts up to a few thousand characters, cut anywhere (a window
    at the edge of the text, an anchor at its very start or end, half a secret), every
    rule windowed finds exactly its whole-text spans, and both windowed modes of
    :func:`redact` give what running every rule gives."""
    text = "".join(pieces)
    if text and data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(text)))
        text = text[cut:] if data.draw(st.booleans()) else text[:cut]
    assert_windows_exact(text)


def test_windows_at_the_edges_of_the_text():
    """Each corpus snippet and value alone, at the very start, at the very end, with one
    character of context, and glued to itself (overlapping and adjacent matches)."""
    for secret in secrets():
        for body in (secret.snippet, secret.value):
            for text in (body, body + " x", "x " + body, "=" + body + '"', body + body):
                assert_windows_exact(text)


def test_windows_on_long_texts():
    """Texts of the sizes that take the windowed paths unforced: the long sample, twice
    over as one 1 MB Write; this repo's own Python; each with corpus secrets planted at
    the start, the end and all through."""
    sample = samples.path("long", "hooks").read_text()
    root = Path(redact_module.__file__).parents[1]
    source = "".join(p.read_text() for p in sorted((root / "ccviz_kernel").rglob("*.py")))
    snippets = [s.snippet for s in secrets()]
    planted = sample[:150_000]
    step = len(planted) // len(snippets)
    planted = snippets[0] + "".join(
        planted[i * step : (i + 1) * step] + snippet for i, snippet in enumerate(snippets)
    )
    for text in ((sample * 2)[:1_000_000], source[:300_000], planted, planted[:5000]):
        expected = unguarded(text)
        assert redact_module._redact(text) == expected
        for gated in (True, False):
            with windowed(gated):
                assert redact_module._redact(text) == expected
    assert MASK in redact_module._redact(planted)


def test_dense_anchors_fall_back_to_the_whole_text():
    """A text made of anchors is scanned whole (no faster windowed), with the same result."""
    text = "key " * 5000 + " password=Hunter2x"
    hay = redact_module._Hay(text)
    name_rules = [f for f in every_finder() if f.anchors and any(t for _, _, t in f.anchors)]
    assert name_rules and hay.starts(name_rules[0].anchors) is None
    assert_windows_exact(text)


def test_every_window_belongs_to_a_pattern():
    """Each anchored source is a pattern of the rule set (a typo would leave the pattern
    scanning the whole text, silently); what still scans whole in long texts is a short
    list of patterns that start with a rare literal."""
    sources = {
        pattern.pattern
        for plugin in redact_module._scanner_plugins()
        for pattern in redact_module._denylist(plugin)
    }
    assert set(redact_module._WINDOWS) <= sources
    own = {source for _, source in redact_module._OWN_TOKENS}
    assert set(redact_module._OWN_WINDOWS) <= own
    whole = sorted(
        f.pattern.pattern[:24]
        for f in every_finder()
        if f.anchors is None and not isinstance(f, redact_module._Pairs)  # (keywords)
    )
    assert whole == sorted(
        [
            "eyJ[A-Za-z0-9-_=]+\\.[A-Z",  # JWT
            "GR1348941[A-Za-z0-9_\\-]{",  # GitLab runner
            "\\/\\/.+\\/:_authToken=\\s*(",  # .npmrc
            "sq0csp-[0-9A-Za-z\\\\\\-_]{",  # Square
            "PuTTY-User-Key-File-\\d+:",
            "whsec_[0-9A-Za-z]{24,}",
            "xapp-\\d-[A-Za-z0-9\\-]{10",
            "do[por]_v1_[0-9a-f]{40,}",
            "hv[sb]\\.[A-Za-z0-9_\\-]{2",
        ]
    )


#: Texts that once cost quadratic (or worse) time: a name rule backtracking prefix ×
#: suffix over a run of keywords, a flag rule tried at every ``--`` of a run, a value
#: scanned again for pairs to its end at every pair, a lazy command-line run read to the
#: line's end from every ``curl``, a JWT or OpenAI key tried from every ``eyJ``/``sk-`` of
#: a run, adjacent token matches each widened to the end of the same run. Their timings
#: are in bench/engine_bench.py (``redact_worst_1mb_ms``); here, their results.
PATHOLOGICAL = [
    ("api_key", ":"),
    ("secret-", "=v"),
    ("--key", " abc"),
    ("--keyxxxx", "=v"),
    ("api_keyxx", "="),
    ("keyboard=", ""),
    ("aws_key=", " x"),
    ("key=[REDACTED]", ""),
    ("pwpw", ":"),
    ("eyJa.", ""),
    ("eyJ", ""),
    ("xoxb-1-", ""),
    ("AKIA", ""),
    ("curl ", "-u a:b"),
    ("mysql ", ""),
    ("sshpass ", ""),
    ("sk-", ""),
    ("sk-ant-", ""),
    ("//a/:_authToken=", ""),
    ("key ", "= 'value'"),
]


@pytest.mark.parametrize(("unit", "tail"), PATHOLOGICAL)
def test_pathological_runs_equal_every_rule(unit, tail):
    for size in (200, 14_000, 20_000):  # windowed with hints, and without
        text = (unit * (size // len(unit) + 1))[:size] + tail
        expected = unguarded(text)
        redact_module.clear_memo()
        assert redact(text) == expected, (unit, size)
        for mixed in (text + " password=Hunter2x", "api_key=Tr0ub4dor3 " + text):
            assert redact_module._redact(mixed) == unguarded(mixed)
    assert_windows_exact((unit * (3000 // len(unit) + 1))[:3000] + tail)


def test_names_are_bounded():
    """A keyword within 128 characters of the name's start, a name of at most 256: longer
    ones are not recognised (every part of a pair rule is bounded, for linear time)."""
    assert redact("a" * 120 + "_password=Hunter2x") == "a" * 120 + "_password=" + MASK
    assert redact("a" * 130 + "_password=Hunter2x") == "a" * 130 + "_password=Hunter2x"
    assert redact("--" + "a" * 120 + "-password Hunter2x") == "--" + "a" * 120 + "-password " + MASK
    long_value = "Zz9" * 50
    assert redact(f"password={long_value} ok") == f"password={MASK} ok"
    assert redact(f"x --token {long_value} ok") == f"x --token {MASK} ok"


def test_command_rules_skip_only_lines_that_fail():
    """A command word inside a word (``xcurl``) fails for want of its boundary: the line
    is still searched on."""
    for text in (
        "xcurl -u a:b curl -u c:dddd",
        "mysqlx mysql -u r -psecretpw",
        "curl x\ncurl -u a:bbb",
    ):
        assert redact(text) == unguarded(text) and MASK in redact(text)
        assert_windows_exact(text)


def test_loading_the_rule_set_leaves_warnings_alone():
    """detect-secrets' loggers call logging.captureWarnings(True) when imported, which hid
    every warning of the process (a clamped seek's among them)."""
    import subprocess
    import sys

    code = (
        "import warnings, ccviz_kernel.redact as r\n"
        "r.redact('password=hunter2 x')\n"
        "r._name_pattern()\n"
        "warnings.warn('still here')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "UserWarning: still here" in out.stderr, out.stderr
