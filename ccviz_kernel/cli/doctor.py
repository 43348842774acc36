"""``ccviz doctor``: why don't I see my sessions? One line per link in the chain.

Claude Code → settings hooks → ``ccviz hook`` (or an http hook) → runtime file → server →
token. Each of these fails silently by design (the hook must never disturb Claude Code),
so this command is where the failures become visible. It reads, never writes: no token
or data folder is created, and tokens are never printed. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

#: Seconds for each request to the local server: it answers in milliseconds when healthy.
HTTP_TIMEOUT = 1.0
#: Seconds for ``claude --version`` (a cold start of the native binary can take a while).
CLAUDE_TIMEOUT = 5.0
#: Claude Code gained http hooks in this version (docs/claude-code.md §2.3).
HTTP_HOOKS_SINCE = (2, 1, 63)


class Check:
    """One line of the report. ``status``: ok, fail, warn (worth knowing), info, skip.

    A plain class, not a dataclass: ``dataclasses`` imports ``inspect``, some 60 ms.
    """

    __slots__ = ("name", "status", "detail", "essential")

    def __init__(self, name: str, status: str, detail: str, essential: bool = False) -> None:
        self.name, self.status, self.detail, self.essential = name, status, detail, essential

    def __repr__(self) -> str:
        return f"Check({self.name!r}, {self.status!r}, {self.detail!r}, {self.essential!r})"

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @property
    def failed(self) -> bool:
        return self.essential and self.status == "fail"


# -- the checks ------------------------------------------------------------------------


def run_checks(cwd: str | None = None) -> list[Check]:
    """All checks, in the order data flows (the first failure is usually the cause)."""
    from ..claude.settings import handler_urls

    cwd = cwd or os.getcwd()
    checks: list[Check] = []
    hooks, handlers = _check_hooks(cwd)
    checks += hooks
    http_urls = {h.get("url") for h in handlers if h.get("type") == "http"}
    checks.append(_check_claude(bool(http_urls)))
    server, url = _check_server()
    checks.append(server)
    if url is not None and http_urls - handler_urls(url):
        # http hooks carry a fixed URL; a server on another port never hears from them
        shown = ", ".join(sorted(str(u) for u in http_urls))
        checks.append(
            Check(
                "http hooks",
                "fail",
                f"post to {shown} but the server is at {url}: run `ccviz install-hooks` "
                "again (or serve on that port)",
                essential=True,
            )
        )
    checks.append(_check_token(url, bool(http_urls)))
    checks.append(_check_data())
    checks += _check_trust()
    checks += _check_leftovers(url is not None)
    return checks


def _check_hooks(cwd: str) -> tuple[list[Check], list[dict[str, Any]]]:
    from ..claude.hooks import PER_CALL_EVENTS
    from ..claude.settings import (
        ANSWERED_EVENTS,
        answering_events,
        events_for,
        find_ours,
        install_mode,
        read_settings,
        settings_path,
    )
    from ..errors import SettingsError

    checks: list[Check] = []
    everything: list[dict[str, Any]] = []
    installed: list[str] = []
    for scope in ("user", "project", "local"):
        path = settings_path(scope, cwd)
        name = f"hooks ({scope})"
        try:
            settings, text = read_settings(path)
        except SettingsError as exc:
            checks.append(Check(name, "fail", str(exc), essential=True))
            continue
        if settings.get("disableAllHooks") is True:
            checks.append(
                Check(name, "fail", f'{path} sets "disableAllHooks": true', essential=True)
            )
        ours = find_ours(settings)
        if not ours:
            where = path if text is not None else f"{path} (no file)"
            checks.append(Check(name, "info", f"none in {where}"))
            continue
        installed.append(scope)
        handlers = [h for found in ours.values() for h in found]
        scope_kinds = {h.get("type") for h in handlers}
        everything += handlers
        missing = sorted({c for h in handlers if (c := _missing_program(h)) is not None})
        # lean (the default) hooks no per-call event: the server reads those from the
        # transcript it follows; --per-call and --command hook every event
        mode = install_mode(settings) or "lean"
        events = events_for(per_call=mode != "lean")
        covered = sum(1 for e in events if e in ours)
        how = "+".join(sorted(k for k in scope_kinds if isinstance(k, str)))
        detail = f"{mode}: {covered}/{len(events)} events ({how}) in {path}"
        if mode == "lean":
            detail += (
                f"; {', '.join(sorted(PER_CALL_EVENTS))} come from the transcript the server "
                "follows (`ccviz install-hooks --per-call` hooks them too)"
            )
        answering = answering_events(settings)
        if answering:
            detail += f"; {' and '.join(answering)} wait at the server for an answer"
            left = [e for e in ANSWERED_EVENTS if e not in answering]
            if left and not missing and covered == len(events):
                detail += (
                    f"; {', '.join(left)} does not (installed before it could be answered: run "
                    "`ccviz install-hooks --answer-permissions` again)"
                )
                checks.append(Check(name, "warn", detail))
                continue
        if missing:
            on_path = [m for m in missing if os.sep not in m]
            gone = [m for m in missing if os.sep in m]
            if gone:  # e.g. the venv it named was removed (`make clean`)
                detail += f"; the hook command points at a missing program: {', '.join(gone)}"
                detail += " (run `ccviz install-hooks` again)"
            if on_path:  # the portable command of a project file: ccviz from PATH
                detail += (
                    f"; the hooks run `{on_path[0]}` from PATH and this PATH has none, so they "
                    "do nothing (they exit 0): put ccviz on PATH (pipx/uv tool install, or "
                    "activate its venv before `claude`)"
                )
            checks.append(Check(name, "fail", detail, essential=True))
        elif covered < len(events):
            detail += "; some events missing (run `ccviz install-hooks` again)"
            checks.append(Check(name, "warn", detail))
        else:
            checks.append(Check(name, "ok", detail, essential=True))
    plugin_checks, plugin_active = _check_plugin(cwd)
    checks += plugin_checks
    if plugin_active and installed:
        checks.append(
            Check(
                "hooks (both)",
                "warn",
                f"the ccviz plugin and install-hooks' handlers ({', '.join(installed)} scope) "
                "both run, so each event is sent twice: keep one (`ccviz uninstall-hooks "
                "--scope …`, or `claude plugin disable ccviz@…`)",
            )
        )
    if not installed and not plugin_active:
        checks.append(
            Check(
                "hooks",
                "fail",
                "not installed in any scope seen from here: run `claude plugin install "
                "ccviz@ccviz` (docs/claude-code.md §2.8) or `ccviz install-hooks`",
                essential=True,
            )
        )
    return checks, everything


def _check_plugin(cwd: str) -> tuple[list[Check], bool]:
    """The ccviz Claude Code plugin, where Claude Code recorded it installed; whether one
    is enabled (then no settings hooks are needed).

    Its hooks run the launcher, which finds ``ccviz`` on PATH and exits 0 quietly when
    there is none (a removed venv, ``make clean``): the one failure nobody would notice,
    so it is asked what it would run, under this shell's PATH (Claude Code's, usually).
    """
    from ..claude.hooks import ANSWERED_EVENTS, PER_CALL_EVENTS
    from ..claude.plugin import installed, launcher_target, plugin_events, plugins_file

    checks: list[Check] = []
    any_active = False
    expected = frozenset(plugin_events())
    for plugin in installed(cwd):
        where = f"{plugin.id} {plugin.version or '?'} ({plugin.scope} scope"
        where += f", {plugin.project})" if plugin.project else ")"
        if not plugin.enabled:
            state = "disabled" if plugin.enabled is False else "not enabled in any settings"
            checks.append(
                Check(
                    "hooks (plugin)",
                    "info",
                    f"{where} installed but {state}: `claude plugin enable {plugin.id}`",
                )
            )
            continue
        any_active = True
        target = launcher_target(plugin.path)
        launcher = f"{plugin.path}/hooks/ccviz-hook"
        if target is None:
            checks.append(
                Check(
                    "hooks (plugin)",
                    "fail",
                    f"{where}: its hooks find no ccviz on this PATH (nor a python3 that "
                    f"imports ccviz_kernel), so they deliver nothing and exit 0 quietly "
                    f"({launcher}): put ccviz on PATH (pipx/uv tool install, or activate "
                    "its venv before `claude`), or set CCVIZ_HOOK_BIN to it in the "
                    'settings "env"',
                    essential=True,
                )
            )
            continue
        detail = (
            f"{where}: lean, {len(plugin.events & expected)}/{len(expected)} events via "
            f"{launcher}, which runs `{target}`; {', '.join(sorted(PER_CALL_EVENTS))} come "
            "from the transcript the server follows"
        )
        if plugin.answers:
            detail += (
                f"; {' and '.join(ANSWERED_EVENTS)} wait at the server for an answer (its "
                "answer_permissions option)"
            )
        if plugin.events != expected:
            detail += (
                f"; this plugin version hooks other events than ccviz expects: `claude plugin "
                f"update {plugin.id}`"
            )
            checks.append(Check("hooks (plugin)", "warn", detail))
        else:
            checks.append(Check("hooks (plugin)", "ok", detail, essential=True))
    if not checks:
        checks.append(Check("hooks (plugin)", "info", f"none recorded in {plugins_file()}"))
    return checks, any_active


def _missing_program(handler: dict[str, Any]) -> str | None:
    """The program a command handler runs, if it does not exist (else ``None``)."""
    if handler.get("type") != "command" or not isinstance(handler.get("command"), str):
        return None
    import shlex
    import shutil

    try:
        words = shlex.split(handler["command"])
    except ValueError:
        return handler["command"]
    if not words:
        return handler["command"]
    program = os.path.expanduser(words[0])
    if os.sep in program:
        return None if os.path.isfile(program) and os.access(program, os.X_OK) else program
    return None if shutil.which(program) else program


def _check_claude(http_hooks: bool) -> Check:
    import shutil
    import subprocess

    program = shutil.which("claude")
    if program is None:
        return Check("claude", "info", "`claude` is not on PATH here (fine if it runs elsewhere)")
    try:
        done = subprocess.run(
            [program, "--version"],
            capture_output=True,
            text=True,
            timeout=CLAUDE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return Check("claude", "warn", f"`{program} --version` took over {CLAUDE_TIMEOUT:g} s")
    except OSError as exc:
        return Check("claude", "warn", f"cannot run {program}: {exc.strerror or exc}")
    text = (done.stdout or done.stderr).strip().splitlines()
    shown = text[0] if text else f"exit {done.returncode}"
    version = _version(shown)
    if http_hooks and version is not None and version < HTTP_HOOKS_SINCE:
        since = ".".join(map(str, HTTP_HOOKS_SINCE))
        return Check("claude", "warn", f"{shown}: http hooks need {since} or later ({program})")
    return Check("claude", "ok" if done.returncode == 0 else "warn", f"{shown} ({program})")


def _version(text: str) -> tuple[int, ...] | None:
    import re

    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(n) for n in match.groups()) if match else None


def _check_server() -> tuple[Check, str | None]:
    from ..runtime import folder_problem, path_problem, read_runtime, runtime_path

    path = runtime_path(create=False)
    info = read_runtime(create=False)  # the doctor only looks: no data folder is made
    problem = folder_problem(os.path.dirname(path)) or path_problem(path)
    if problem is not None:  # the hook ignores such a runtime file: it may not be ours
        return Check("server", "fail", f"runtime file not trusted: {problem}", True), None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        return (
            Check(
                "server",
                "fail",
                f"not reachable: no runtime file at {path}, so no server is running "
                "(start `ccviz serve`); hooks spool their events meanwhile",
                essential=True,
            ),
            None,
        )
    url = info["url"].rstrip("/") + "/"
    status, body, error = _request(url + "healthz")
    where = f"{url} ({info.get('kind', '?')}, pid {info.get('pid', '?')})"
    if status == 200:
        try:
            health = json.loads(body)
            games = f", {health.get('games', '?')} live game(s)"
        except ValueError:
            games = ""
        return Check("server", "ok", f"answering at {where}{games}", essential=True), url
    if status == 403 and info.get("kind") == "jupyter":  # healthz needs Jupyter auth there
        return Check(
            "server", "ok", f"answering at {where} (details need Jupyter auth)", essential=True
        ), url
    reason = error or f"HTTP {status} from GET healthz"
    if not _alive(info.get("pid")):
        reason += "; that process is gone (a stale runtime file: start `ccviz serve`)"
    return Check("server", "fail", f"not reachable at {where}: {reason}", essential=True), None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: don't claim it is gone
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: let the request tell
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _check_token(url: str | None, http_hooks: bool) -> Check:
    """Does the server take the token the hook would send?

    We POST an empty body with the token: the server checks the token before the body, so
    400 (malformed payload) proves the token was accepted without ingesting anything,
    while 401 (no token) or 403 (wrong token) means hooks would be refused. With http
    hooks, the token is the hook-only one Claude Code gets from the user settings' ``env``.
    """
    from ..runtime import find_token

    if http_hooks:
        token, source = _hook_token_for_claude()
        if token is None:
            return Check(
                "token",
                "fail",
                f"http hooks are installed but {source}: run `ccviz install-hooks` again",
                essential=True,
            )
    else:
        from ..runtime import UntrustedError

        try:
            token, source = find_token()
        except UntrustedError as exc:  # the hook sends nothing from such a folder
            return Check("token", "fail", f"not used: {exc}", essential=True)
    if url is None:
        return Check("token", "skip", f"not checked (no server); the hook would use {source}")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, error = _request(url + "api/hooks", method="POST", data=b"", headers=headers)
    if status == 400:
        return Check("token", "ok", f"accepted ({source})", True)
    if status in (401, 403):
        if not token:
            why = "no token here (CCVIZ_TOKEN unset and no token file): hooks would be refused"
        elif http_hooks:
            why = (
                f"the server refused the hook token from {source}: run `ccviz install-hooks` "
                "again with the server's CCVIZ_HOME"
            )
        else:
            why = (
                f"the server refused the token from {source}: make CCVIZ_TOKEN the same for "
                "the server and Claude Code, or unset it in both to share the token file"
            )
        return Check("token", "fail", f"mismatch: {why}", essential=True)
    shown = error or f"unexpected HTTP {status}"
    return Check("token", "warn", f"could not check ({shown}); the hook would use {source}")


def _hook_token_for_claude() -> tuple[str | None, str]:
    """The token Claude Code's http hooks send, and where it comes from (never the value)."""
    from ..claude.settings import HOOK_TOKEN_ENV, read_settings, settings_path
    from ..errors import SettingsError

    value = (os.environ.get(HOOK_TOKEN_ENV) or "").strip()
    if value:
        return value, f"${HOOK_TOKEN_ENV}"
    path = settings_path("user")
    try:
        settings, _ = read_settings(path)
    except SettingsError:
        settings = {}
    env = settings.get("env")
    value = env.get(HOOK_TOKEN_ENV) if isinstance(env, dict) else None
    if isinstance(value, str) and value.strip():
        return value.strip(), f'{path} "env"'
    return None, f'{path} has no "env" → {HOOK_TOKEN_ENV}'


def _check_data() -> Check:
    from ..config import SPOOL_FILE, data_dir_str
    from ..runtime import spool_files

    folder = data_dir_str(create=False)
    if not os.path.isdir(folder):
        return Check("data", "info", f"{folder} (not created yet)")
    waiting = 0
    names = spool_files(create=False)
    for name in names:
        if name != SPOOL_FILE and not name.endswith(".work"):
            continue
        try:
            with open(os.path.join(folder, name), "rb") as f:
                waiting += sum(1 for line in f if line.strip())
        except OSError:
            continue
    if waiting:
        return Check(
            "data",
            "warn",
            f"{folder}; {waiting} event(s) waiting in the spool (the server takes them "
            "when it starts)",
        )
    return Check("data", "ok", f"{folder}; spool empty")


def _check_trust() -> list[Check]:
    """Could another user have written the data folder or what the hook reads from it?

    The hook checks the folder and each file as it opens it (owner and mode, one ``stat``
    each) and, when one fails, sends and keeps nothing: this says which and the fix. The
    folders above it are checked here too (the hook has no time for that): one writable by
    others without the sticky bit lets them swap the whole data folder.
    """
    from ..config import (
        HOOK_TOKEN_FILE,
        RUNTIME_FILE,
        SPOOL_FILE,
        TOKEN_FILE,
        VIEWER_TOKEN_FILE,
        data_dir_str,
    )
    from ..runtime import folder_problem, path_problem

    folder = data_dir_str(create=False)
    problems = []
    problem = folder_problem(folder)
    if problem is not None:
        problems.append(problem)
    problems += _parent_problems(folder)
    for name in (TOKEN_FILE, HOOK_TOKEN_FILE, VIEWER_TOKEN_FILE, RUNTIME_FILE, SPOOL_FILE):
        problem = path_problem(os.path.join(folder, name))
        if problem is not None:
            problems.append(problem)
    if problems:
        detail = "; ".join(problems) + " (until fixed, hooks send and keep nothing)"
        return [Check("trust", "fail", detail, essential=True)]
    return [Check("trust", "ok", f"{folder} and its files are yours alone to write")]


def _parent_problems(folder: str) -> list[str]:
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return []
    me = geteuid()
    found = []
    parent = os.path.dirname(os.path.abspath(folder))
    while True:
        try:
            st = os.stat(parent)
        except OSError:
            break
        sticky = st.st_mode & 0o1000
        if st.st_uid not in (me, 0):
            found.append(
                f"{parent} (above the data folder) belongs to uid {st.st_uid}: its owner could "
                "replace the data folder; fix: point CCVIZ_HOME at a folder under your own home"
            )
        elif st.st_mode & 0o022 and not sticky:
            found.append(
                f"{parent} (above the data folder) is writable by others without the sticky "
                f"bit (mode {st.st_mode & 0o7777:04o}): they could replace the data folder; "
                f"fix: `chmod go-w {parent}` or `chmod +t {parent}`"
            )
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    return found


def _check_leftovers(server_up: bool) -> list[Check]:
    """What the spool path left for a person to look at: dead letters, spools moved aside
    unread, events a full disk cost, and the disk itself."""
    from ..config import (
        DEAD_LETTER_FILE,
        DISK_FULL_FILE,
        RESERVE_BYTES,
        RESERVE_FILE,
        UNTRUSTED_SUFFIX,
        data_dir_str,
    )
    from ..runtime import dead_letters, disk_full_log, spool_files

    folder = data_dir_str(create=False)
    if not os.path.isdir(folder):
        return []
    checks: list[Check] = []
    letters = dead_letters()
    if letters:
        last = letters[-1]
        checks.append(
            Check(
                "dead letters",
                "warn",
                f"{len(letters)} spooled line(s) could not be ingested and were kept in "
                f"{os.path.join(folder, DEAD_LETTER_FILE)} (last: {last.get('reason', '?')}); "
                "look at them, then delete the file",
            )
        )
    aside = [n for n in spool_files(create=False) if n.endswith(UNTRUSTED_SUFFIX)]
    if aside:
        checks.append(
            Check(
                "untrusted spool",
                "fail",
                f"{len(aside)} spool file(s) another user could write were moved aside unread "
                f"({', '.join(sorted(aside)[:3])} in {folder}); nothing in them was ingested. "
                "If you did not expect them, someone tried to inject events: delete them",
            )
        )
    saved, lost, when = disk_full_log()
    if saved or lost:
        import time

        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if when else "?"
        detail = (
            f"hooks met a full disk (last at {stamp}): {saved} event(s) kept in the spool by "
            f"freeing the reserve, {lost} lost; free some space, then delete "
            f"{os.path.join(folder, DISK_FULL_FILE)}"
        )
        checks.append(Check("disk full", "fail" if lost else "warn", detail))
    try:
        disk = os.statvfs(folder)
        free = disk.f_bavail * disk.f_frsize
    except (OSError, AttributeError):
        free = None
    reserve = os.path.exists(os.path.join(folder, RESERVE_FILE))
    if free is not None and free < 16 * RESERVE_BYTES:
        where = "" if reserve else "; the reserve for hooks is used up"
        checks.append(
            Check(
                "disk",
                "warn",
                f"only {free // 1024} KiB free under {folder}{where}: spooled and new events "
                "need room (the server keeps them on disk until there is)",
            )
        )
    elif server_up and not reserve:
        checks.append(
            Check("disk", "info", "no disk reserve yet (the server makes it within a second)")
        )
    return checks


def _request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int | None, bytes, str | None]:
    """``(status, body, error)``; proxies are bypassed (the server is local)."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read(65536), None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536), None
    except urllib.error.URLError as exc:
        return None, b"", str(exc.reason)
    except (OSError, ValueError) as exc:
        return None, b"", str(exc) or type(exc).__name__


# -- the command -----------------------------------------------------------------------


def _symbols() -> dict[str, str]:
    marks = {"ok": "✓", "fail": "✗", "warn": "!", "info": "·", "skip": "-"}
    try:
        "".join(marks.values()).encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return {"ok": "ok", "fail": "FAIL", "warn": "warn", "info": "info", "skip": "skip"}
    return marks


def format_checks(checks: list[Check]) -> str:
    marks = _symbols()
    width = max(len(c.name) for c in checks)
    pad = max(len(m) for m in marks.values())
    return "".join(f"{marks[c.status]:<{pad}} {c.name:<{width}}  {c.detail}\n" for c in checks)


def cmd_doctor(ns: Any) -> int:
    checks = run_checks()
    ok = not any(c.failed for c in checks)
    if getattr(ns, "json", False):
        sys.stdout.write(json.dumps({"ok": ok, "checks": [c.as_dict() for c in checks]}) + "\n")
    else:
        sys.stdout.write(format_checks(checks))
    return 0 if ok else 1


def add_parser(sub: Any) -> None:
    """Add ``doctor`` to the ``ccviz`` subcommands."""
    doctor = sub.add_parser(
        "doctor", help="check the hooks, the server and the token; exit 1 if events can't flow"
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(handler=cmd_doctor)
