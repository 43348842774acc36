"""A corpus of planted secrets: formats × places in real hook payloads.

Every secret is fake, made here from a seeded generator in the shape of its format (the
prefix, alphabet and length a scanner keys on), never a real credential. Each one
carries the *value* that must not reach a viewer; :func:`fragments` cuts it into pieces a
leak check looks for, so a secret masked only in part (a prefix hidden, the tail shown)
still counts as leaked.

The places are fields of real payloads: each template is a payload from the bundled
``long`` sample (what Claude Code sent), with one field replaced by a text holding the
secret.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from ccviz_kernel import samples

_B62 = string.ascii_letters + string.digits
_B64 = _B62 + "+/"
_HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Secret:
    """One planted secret: ``snippet`` is how it appears in a text (with its context:
    ``PGPASSWORD=…``, a header, a PEM block), ``value`` what must not be seen, ``url`` a
    way it appears in a fetched URL (``None``: it does not fit in one)."""

    name: str
    snippet: str
    value: str
    url: str | None = None


def fragments(value: str, size: int = 8) -> list[str]:
    """Pieces of ``value`` any of which, seen by a viewer, is a leak."""
    pieces = {value[i : i + size] for i in range(0, max(1, len(value) - size + 1), size)}
    pieces.add(value[-size:])
    return sorted(p for p in pieces if len(p) >= min(size, len(value)))


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _mixed(rng: random.Random, alphabet: str, n: int) -> str:
    """Random, with at least one capital, one small letter and one digit (real keys of
    these lengths practically always have all three)."""
    while True:
        value = _r(rng, alphabet, n)
        if (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


def _password(rng: random.Random) -> str:
    return _mixed(rng, _B62, 10) + rng.choice("-_.!") + _r(rng, _B62, 3)


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _pem(rng: random.Random, kind: str, first: str = "MIIEow") -> tuple[str, str]:
    body = first + _r(rng, _B64, 58)
    lines = [body, _r(rng, _B64, 64), _r(rng, _B64, 40) + "=="]
    block = f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"
    return block, "".join(lines)


@cache
def secrets() -> tuple[Secret, ...]:
    """The corpus: one secret per format (≥ 30 formats)."""
    rng = random.Random(20261202)
    out: list[Secret] = []

    def token(name: str, value: str, snippet: str | None = None, url: str | None = None):
        out.append(
            Secret(name, snippet or value, value, url or f"https://api.example.com/v1/keys/{value}")
        )

    def context(name: str, snippet: str, value: str, url: str | None = None) -> None:
        out.append(Secret(name, snippet, value, url))

    # -- shaped tokens, unlabelled (no "key=" or "token" word near them)
    token("anthropic", "sk-ant-api03-" + _mixed(rng, _B62 + "-_", 93) + "AA")
    token("openai-project", "sk-proj-" + _mixed(rng, _B62 + "-_", 156))
    token("openai-legacy", "sk-" + _mixed(rng, _B62, 20) + "T3BlbkFJ" + _mixed(rng, _B62, 20))
    token("github-classic", "ghp_" + _mixed(rng, _B62, 36))
    token("github-fine-grained", "github_pat_" + _mixed(rng, _B62, 22) + "_" + _r(rng, _B62, 59))
    token("gitlab", "glpat-" + _mixed(rng, _B62 + "-_", 20))
    token(
        "slack-bot",
        f"xoxb-{_r(rng, string.digits, 12)}-{_r(rng, string.digits, 13)}-"
        + _r(rng, string.ascii_lowercase + string.digits, 24),
    )
    hook = f"T{_r(rng, _B62.upper(), 8)}/B{_r(rng, _B62.upper(), 10)}/{_mixed(rng, _B62, 24)}"
    webhook = f"https://hooks.slack.com/services/{hook}"
    context("slack-webhook", f"curl -X POST {webhook} -d @msg.json", hook.split("/")[-1], webhook)
    token("aws-access-key-id", "AKIA" + _r(rng, string.ascii_uppercase + string.digits, 16))
    aws = _mixed(rng, _B64, 40)
    context(
        "aws-secret-labelled",
        f"AWS_SECRET_ACCESS_KEY={aws} aws s3 ls",
        aws,
        f"https://example.com/cfg?aws_secret_access_key={aws}",
    )
    aws_bare = _mixed(rng, _B62, 17) + "/" + _mixed(rng, _B62, 11) + "+" + _mixed(rng, _B62, 10)
    context(
        "aws-secret-bare",
        f"aws configure set aws_access_key_id AKIAEXAMPLE && echo {aws_bare}",
        aws_bare,
        f"https://example.com/check?k={aws_bare}",
    )
    token("google-api-key", "AIza" + _mixed(rng, _B62 + "-_", 35))
    token("stripe-live", "sk_live_" + _mixed(rng, _B62, 99))
    token("stripe-restricted", "rk_live_" + _mixed(rng, _B62, 99))
    token("stripe-test", "sk_test_" + _mixed(rng, _B62, 99))
    token("twilio-api-key", "SK" + _r(rng, _HEX, 32))
    token("sendgrid", "SG." + _mixed(rng, _B62 + "-_", 22) + "." + _mixed(rng, _B62 + "-_", 43))
    token("mailchimp", _r(rng, _HEX, 32) + "-us12")
    token(
        "discord-bot",
        "M" + _mixed(rng, _B62, 23) + "." + _mixed(rng, _B62, 6) + "." + _mixed(rng, _B62, 27),
    )
    token("telegram-bot", _r(rng, string.digits, 10) + ":AA" + _mixed(rng, _B62 + "-_", 33))
    token("npm", "npm_" + _mixed(rng, _B62, 36))
    uuid = "-".join(_r(rng, _HEX, n) for n in (8, 4, 4, 4, 12))
    context("npmrc", f"//registry.npmjs.org/:_authToken={uuid}", uuid)
    token("pypi", "pypi-AgEIcHlwaS5vcmc" + _mixed(rng, _B62 + "-_", 150))
    token("square-oauth", "sq0csp-" + _mixed(rng, _B62 + "-_", 43))
    token("huggingface", "hf_" + _mixed(rng, _B62, 34))
    jwt = (
        _b64url({"alg": "HS256", "typ": "JWT"})
        + "."
        + _b64url({"sub": _r(rng, string.digits, 10), "name": "Dev", "iat": 1_790_000_000})
        + "."
        + _mixed(rng, _B62 + "-_", 43)
    )
    token("jwt", jwt)
    token("digitalocean", "dop_v1_" + _r(rng, _HEX, 64))
    token("vault", "hvs." + _mixed(rng, _B62 + "-_", 90))
    token("artifactory", "AKCp8" + _mixed(rng, _B62, 68))
    azure = _mixed(rng, _B64, 86) + "=="
    context(
        "azure-storage",
        f"DefaultEndpointsProtocol=https;AccountName=devstore;AccountKey={azure};"
        "EndpointSuffix=core.windows.net",
        azure,
    )
    # -- key blocks (the body is the secret)
    for name, kind, first in (
        ("rsa-private-key", "RSA PRIVATE KEY", "MIIEow"),
        ("openssh-private-key", "OPENSSH PRIVATE KEY", "b3BlbnNzaC1rZXktdjEAAAAA"),
        ("pgp-private-key", "PGP PRIVATE KEY BLOCK", "lQOYBG"),
        ("pkcs8-private-key", "PRIVATE KEY", "MIIEvQ"),
    ):
        block, body = _pem(rng, kind, first)
        context(name, block, body)
    block, body = _pem(rng, "PRIVATE KEY", "MIIEvg")
    context(
        "gcp-service-account",
        json.dumps({"type": "service_account", "private_key": block + "\n"}),
        body,
    )
    # -- passwords in context
    pw = _password(rng)
    context("url-password", f"psql postgres://app:{pw}@db.internal:5432/shop", pw,
            f"https://app:{pw}@db.example.com/admin")  # fmt: skip
    basic = base64.b64encode(f"admin:{_password(rng)}".encode()).decode()
    context("basic-auth-header", f"curl -H 'Authorization: Basic {basic}' https://x.example.com",
            basic)  # fmt: skip
    bearer = _mixed(rng, _B62 + "-_.", 48)
    context("bearer-header", f"curl -H 'Authorization: Bearer {bearer}' https://x.example.com",
            bearer)  # fmt: skip
    pw = _password(rng)
    context("pgpassword", f"PGPASSWORD={pw} psql -h db -U app shop", pw,
            f"https://db.example.com/connect?PGPASSWORD={pw}")  # fmt: skip
    pw = _password(rng)
    context("smtp-pass", f"SMTP_HOST=mail.example.com SMTP_PASS={pw} ./notify.sh", pw)
    pw = _r(rng, _HEX, 64)
    context("session-key", f"SESSION_KEY={pw} npm run dev", pw)
    pw = _password(rng)
    context("json-password", json.dumps({"db": {"user": "app", "password": pw}}), pw)
    pw = _password(rng)
    context("flag-password", f"./deploy --user ops --password {pw} --yes", pw)
    pw = _password(rng)
    context("mysql-p", f"mysql -u root -p{pw} shop < dump.sql", pw)
    pw = _password(rng)
    context("sshpass", f"sshpass -p '{pw}' ssh deploy@10.0.0.5 uptime", pw)
    pw = _password(rng)
    context("curl-user", f"curl -u admin:{pw} https://ci.example.com/api/json", pw)
    pw = _password(rng)
    context("password-is", f"the staging password is {pw} if you need it", pw)
    return tuple(out)


# -- places ------------------------------------------------------------------------------


@cache
def _templates() -> dict[tuple[str, str | None], dict[str, Any]]:
    """The first payload of each (event, tool) in the long sample."""
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    for line in samples.path("long", "hooks").read_text().splitlines():
        payload = json.loads(line)
        out.setdefault((payload["hook_event_name"], payload.get("tool_name")), payload)
    return out


def _from(event: str, tool: str | None, change: Callable[[dict[str, Any]], None]):
    def build(secret: Secret, session: str, n: int) -> dict[str, Any] | None:
        payload = copy.deepcopy(_templates()[(event, tool)])
        payload["session_id"] = session
        payload.pop("timestamp", None)
        if "tool_use_id" in payload:
            payload["tool_use_id"] = f"toolu_corpus_{n:03d}"
        if "agent_id" in payload:
            del payload["agent_id"]
            payload.pop("agent_type", None)
        try:
            change(payload)
        except _Skip:
            return None
        return payload

    return build


class _Skip(Exception):
    """This secret does not fit this place."""


_SECRET: Secret | None = None  # the secret being placed (set by place())


def _s() -> Secret:
    assert _SECRET is not None
    return _SECRET


def _url(payload: dict[str, Any]) -> None:
    if _s().url is None:
        raise _Skip
    payload["tool_input"]["url"] = _s().url


#: name → payload builder. Each puts the secret's snippet in one field of a real payload.
PLACES: dict[str, Callable[[Secret, str, int], dict[str, Any] | None]] = {
    # the first prompt names the game (the title): the "word:" case of the finding
    "prompt-title": _from("UserPromptSubmit", None,
                          lambda p: p.update(prompt=f"Please fix it: {_s().snippet}")),
    "prompt-later": _from("UserPromptSubmit", None,
                          lambda p: p.update(prompt=f"Now this one: {_s().snippet}")),
    "bash-command": _from("PreToolUse", "Bash",
                          lambda p: p["tool_input"].update(command=f"{_s().snippet} && npm test")),
    "bash-description": _from("PreToolUse", "Bash",
                              lambda p: p["tool_input"].update(description=_s().snippet)),
    "permission-request": _from("PermissionRequest", "Bash",
                                lambda p: p["tool_input"].update(command=_s().snippet)),
    "bash-stdout": _from("PostToolUse", "Bash",
                         lambda p: p["tool_response"].update(stdout=f"ok\n{_s().snippet}\n")),
    "bash-error": _from("PostToolUseFailure", "Bash",
                        lambda p: p.update(error=f"Exit code 1: {_s().snippet}")),
    "write-content": _from("PreToolUse", "Write",
                           lambda p: p["tool_input"].update(content=f"{_s().snippet}\n")),
    "edit-old": _from("PreToolUse", "Edit",
                      lambda p: p["tool_input"].update(old_string=_s().snippet)),
    "edit-new": _from("PreToolUse", "Edit",
                      lambda p: p["tool_input"].update(new_string=_s().snippet)),
    "webfetch-url": _from("PreToolUse", "WebFetch", _url),
    "webfetch-prompt": _from("PreToolUse", "WebFetch",
                             lambda p: p["tool_input"].update(prompt=_s().snippet)),
    "grep-pattern": _from("PreToolUse", "Grep",
                          lambda p: p["tool_input"].update(pattern=_s().snippet)),
    "websearch-query": _from("PreToolUse", "WebSearch",
                             lambda p: p["tool_input"].update(query=_s().snippet)),
    "notification": _from("Notification", None,
                          lambda p: p.update(message=f"Claude needs you: {_s().snippet}")),
    "task-prompt": _from("PreToolUse", "Agent",
                         lambda p: p["tool_input"].update(description=_s().snippet,
                                                          prompt=_s().snippet)),
    "todo-content": _from("PreToolUse", "TodoWrite",
                          lambda p: p["tool_input"]["todos"][0].update(content=_s().snippet)),
    "stop-message": _from("Stop", None,
                          lambda p: p.update(last_assistant_message=_s().snippet)),
    "cwd": _from("Notification", None, lambda p: p.update(cwd=f"/home/dev/{_s().snippet}")),
    "mcp-input": _from("PreToolUse", "mcp__github__add_issue_comment",
                       lambda p: p["tool_input"].update(body=_s().snippet)),
}  # fmt: skip


def place(secret: Secret, where: str, session: str, n: int = 0) -> dict[str, Any] | None:
    """The payload of place ``where`` holding ``secret`` (``None`` if it does not fit)."""
    global _SECRET
    _SECRET = secret
    try:
        return PLACES[where](secret, session, n)
    finally:
        _SECRET = None


def leaks(text: str, secret: Secret) -> list[str]:
    """The fragments of ``secret`` found in ``text``."""
    return [f for f in fragments(secret.value) if f in text]
