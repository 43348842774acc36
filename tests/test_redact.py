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
