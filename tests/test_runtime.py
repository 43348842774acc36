"""The files in the data folder (issue 11, findings 7 and 9): who may have written them, what
a full disk does to the spool, dead letters, and one server per data folder.

Written to fail on the code before the fix: planted files were used as they were, a full
disk lost the event silently (or left half a line that spoilt the next one), a spooled
line the store could not take was dropped, and a second server started quietly.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccviz_kernel import runtime
from ccviz_kernel.config import (
    DEAD_LETTER_FILE,
    DISK_FULL_FILE,
    RESERVE_BYTES,
    RESERVE_FILE,
    SPOOL_FILE,
    UNTRUSTED_SUFFIX,
)
from ccviz_kernel.errors import CcvizError, StoreError
from ccviz_kernel.hub import Hub
from ccviz_kernel.runtime import (
    ServerBusy,
    UntrustedError,
    check_folder,
    find_token,
    lock_server,
    read_runtime,
    read_runtime_url,
    read_token,
    spool_append,
    spool_keep,
    spool_read,
    unlock_server,
    write_private,
    write_runtime,
)
from ccviz_kernel.server.auth import Auth
from ccviz_kernel.server.core import GameServer
from ccviz_kernel.store import EventStore

GAME = "runtime-game"


def payload(n: int, game: str = GAME) -> str:
    return json.dumps({"hook_event_name": "Notification", "session_id": game, "message": f"m{n}"})


@pytest.fixture()
def home() -> Path:
    path = Path(os.environ["CCVIZ_HOME"])
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def foreign(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` look planted by another user: really (``chown``, as root) or by
    pretending to be someone else (then everything of ours looks foreign, the folder too)."""
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    else:
        real = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: real + 1)


def server(store: EventStore | None = None) -> GameServer:
    return GameServer(Hub(store or EventStore(":memory:")), Auth("t"), async_mode="aiohttp")


def texts(game_server: GameServer, game: str = GAME) -> list[str]:
    return [row["text"] for row in game_server.hub.event_rows(game) or []]


def test_the_no_space_errnos_are_the_platforms():
    assert runtime._NO_SPACE == (errno.ENOSPC, errno.EDQUOT)


# -- finding 7: nothing another user could write is trusted --------------------------------


def test_a_folder_others_can_write_is_refused_with_the_fix(home: Path):
    write_private(str(home / "token"), "planted-token\n")
    write_runtime("http://127.0.0.1:9/", "standalone")
    home.chmod(0o777)
    with pytest.raises(UntrustedError) as refused:
        check_folder()
    assert f"chmod go-w {home}" in str(refused.value) and "mode 0777" in str(refused.value)
    with pytest.raises(UntrustedError):
        find_token()  # a server must not start on a token someone else could have set
    assert read_token() is None and read_runtime() is None and read_runtime_url() is None
    home.chmod(0o730)  # group-writable is as bad
    assert read_token() is None and read_runtime_url() is None
    home.chmod(0o700)
    assert read_token() == "planted-token" and read_runtime_url() == "http://127.0.0.1:9/"


def test_files_others_can_write_are_ignored(home: Path):
    write_private(str(home / "token"), "planted-token\n", mode=0o666)
    write_private(str(home / "runtime.json"), '{"url": "http://evil.example:80/"}', mode=0o646)
    assert read_token() is None and read_runtime() is None and read_runtime_url() is None
    with pytest.raises(UntrustedError) as refused:
        find_token()
    assert "chmod go-w" in str(refused.value) and "token" in str(refused.value)


def test_files_of_another_user_are_ignored(home: Path, monkeypatch: pytest.MonkeyPatch):
    write_private(str(home / "token"), "planted-token\n")
    write_private(str(home / "runtime.json"), '{"url": "http://evil.example:80/"}')
    foreign(home / "runtime.json", monkeypatch)
    foreign(home / "token", monkeypatch)
    assert read_runtime_url() is None and read_runtime() is None and read_token() is None
    with pytest.raises(UntrustedError) as refused:
        find_token()
    assert "belongs to uid" in str(refused.value) and "fix:" in str(refused.value)


def test_a_planted_symlink_spool_is_not_written_through(home: Path, tmp_path: Path):
    target = tmp_path / "victim-bashrc"
    target.write_text("# mine\n")
    (home / SPOOL_FILE).symlink_to(target)
    assert spool_keep(payload(1), 1.0, "a" * 32) == "dropped"
    assert target.read_text() == "# mine\n"


def test_a_spool_others_could_write_is_moved_aside_unread(home: Path):
    assert spool_append(payload(1), 1.0, "k1")
    (home / SPOOL_FILE).chmod(0o622)  # anyone could have appended to it
    game_server = server()
    assert game_server.drain_spool() == 0
    assert texts(game_server) == []
    aside = [p for p in os.listdir(home) if p.endswith(UNTRUSTED_SUFFIX)]
    assert len(aside) == 1 and not (home / SPOOL_FILE).exists()


def test_a_server_refuses_a_folder_others_can_write(home: Path):
    import asyncio

    home.chmod(0o757)
    with pytest.raises(UntrustedError, match="chmod go-w"):
        asyncio.run(server().start())


# -- finding 9: a full disk ----------------------------------------------------------------


class FullDisk:
    """``os.write`` failing with ENOSPC on the files named, after writing ``partial``
    bytes (a full disk often takes part of a write)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, names: set[str], partial: int = 0):
        self.names, self.partial, self.real = names, partial, os.write
        monkeypatch.setattr(os, "write", self.write)

    def write(self, fd: int, data) -> int:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name in self.names:
            if self.partial:
                self.real(fd, bytes(data[: self.partial]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, data)

    def free(self, name: str) -> None:
        self.names.discard(name)


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


@needs_proc
def test_a_full_disk_leaves_no_half_line_in_the_spool(home: Path, monkeypatch):
    assert spool_append(payload(1), 1.0, "k1")
    before = (home / SPOOL_FILE).read_bytes()
    disk = FullDisk(monkeypatch, {SPOOL_FILE}, partial=20)
    with pytest.raises(OSError):
        spool_append(payload(2), 2.0, "k2")
    assert (home / SPOOL_FILE).read_bytes() == before  # cut back: nothing of it is left
    disk.free(SPOOL_FILE)
    assert spool_append(payload(3), 3.0, "k3")
    assert [k for k, _, _ in spool_read(str(home / SPOOL_FILE))] == ["k1", "k3"]


@needs_proc
def test_on_a_full_disk_the_hook_frees_the_reserve_and_keeps_the_event(home: Path, monkeypatch):
    import io

    from ccviz_kernel.cli import hook

    assert runtime.ensure_reserve()
    assert (home / RESERVE_FILE).stat().st_size == RESERVE_BYTES
    real_unlink = os.unlink
    disk = FullDisk(monkeypatch, {SPOOL_FILE}, partial=7)

    def unlink(path, *a, **k):  # freeing the reserve gives the room back
        if os.path.basename(path) == RESERVE_FILE:
            disk.free(SPOOL_FILE)
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "unlink", unlink)
    assert hook.run(io.BytesIO(payload(1).encode())) == "spooled"
    [(key, _, body)] = list(spool_read(str(home / SPOOL_FILE)))
    assert json.loads(body)["message"] == "m1"
    assert not (home / RESERVE_FILE).exists()
    saved, lost, when = runtime.disk_full_log()
    assert (saved, lost) == (1, 0) and abs(when - time.time()) < 60
    assert key in (home / DISK_FULL_FILE).read_text()


@needs_proc
def test_when_even_the_reserve_is_gone_the_loss_is_recorded(home: Path, monkeypatch):
    import io

    from ccviz_kernel.cli import hook

    FullDisk(monkeypatch, {SPOOL_FILE, DISK_FULL_FILE})
    assert hook.run(io.BytesIO(payload(1).encode())) == "lost"
    saved, lost, _ = runtime.disk_full_log()
    assert (saved, lost) == (0, 1)  # the log is empty (no room for a line): its time says when


@needs_proc
def test_the_hook_command_exits_0_on_a_full_disk(home: Path, monkeypatch, capsys):
    import io

    from ccviz_kernel.cli import hook

    FullDisk(monkeypatch, {SPOOL_FILE, DISK_FULL_FILE})
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload(1).encode())))
    assert hook.main() == 0
    assert capsys.readouterr() == ("", "")


class FailingStore(EventStore):
    """A store whose writes fail as SQLite fails on a full disk, until ``room`` is set."""

    room = False

    def append(self, *args, **kwargs):
        if not self.room:
            import sqlite3

            cause = sqlite3.OperationalError("database or disk is full")
            raise StoreError("writing event store failed: database or disk is full") from cause
        return super().append(*args, **kwargs)


def test_a_store_that_cannot_write_keeps_the_spool_for_later(home: Path):
    for n in range(5):
        assert spool_append(payload(n), float(n), f"k{n}")
    store = FailingStore(":memory:")
    game_server = server(store)
    assert game_server.drain_spool() == 0
    assert game_server.drain_spool() == 0  # tried again: still no room, still kept
    assert not (home / DEAD_LETTER_FILE).exists()
    [work] = [p for p in os.listdir(home) if p.endswith(".work")]
    assert spool_append(payload(5), 5.0, "k5")  # hooks keep spooling meanwhile
    store.room = True
    assert game_server.drain_spool() == 6
    assert texts(game_server) == [f"m{n}" for n in range(6)]  # all, once, in order
    assert game_server.drain_spool() == 0
    assert not [p for p in os.listdir(home) if ".work" in p or p == SPOOL_FILE]


def test_a_store_failing_midway_resumes_at_the_line_it_stopped_at(home: Path):
    for n in range(6):
        assert spool_append(payload(n), float(n), f"k{n}")
    (home / SPOOL_FILE).open("ab").write(b"garbage line\n")
    assert spool_append(payload(6), 6.0, "k6")
    store = FailingStore(":memory:")
    store.room = True
    game_server = server(store)
    calls = {"n": 0}
    real = FailingStore.append

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        self.room = calls["n"] != 3  # the third write fails, the next pass has room again
        return real(self, *args, **kwargs)

    store.append = flaky.__get__(store)
    assert game_server.drain_spool() == 2
    assert game_server.drain_spool() == 5
    assert texts(game_server) == [f"m{n}" for n in range(7)]
    letters = runtime.dead_letters()
    assert [d["line"] for d in letters] == ["garbage line"]  # once, not once per pass


# -- dead letters ----------------------------------------------------------------------------


def test_bad_spooled_lines_go_to_the_dead_letter_file_and_the_rest_arrive(home: Path):
    deep = '{"hook_event_name":"Notification","session_id":"x","m":' + "[" * 3000 + "]" * 3000
    lines = [
        b"k0\t0.0\t" + payload(0).encode() + b"\n",
        b"just garbage\n",
        b"k1\t1.0\t" + deep.encode() + b"}\n",
        b"k2\t2.0\t\xff\xfe not utf-8\n",
        b"k3\t3.0\t" + payload(3).encode() + b"\n",
        b"k4\tnan\t" + payload(4).encode() + b"\n",  # no usable time: ingested, time now
        b"\t5.0\t" + payload(5).encode() + b"\n",  # no delivery id
        b"k6\t6.0\t" + payload(6).encode(),  # torn: the hook was killed mid-write
    ]
    (home / SPOOL_FILE).write_bytes(b"".join(lines))
    (home / SPOOL_FILE).chmod(0o600)
    game_server = server()
    assert game_server.drain_spool() == 3
    assert texts(game_server) == ["m0", "m3", "m4"]
    letters = runtime.dead_letters()
    got = [d["line"].encode("utf-8", "surrogateescape") for d in letters]
    assert got == [lines[i].rstrip(b"\n") for i in (1, 2, 3, 6, 7)]
    assert all(d["reason"] and d["source"].endswith(".work") for d in letters)
    assert "UTF-8" in letters[2]["reason"] and "torn" in letters[4]["reason"]
    assert not [p for p in os.listdir(home) if p.endswith(".work")]


def test_an_over_long_line_is_dead_lettered_by_its_head_without_reading_it_whole(home: Path):
    from ccviz_kernel.config import DEAD_LETTER_HEAD, MAX_SPOOL_LINE

    huge = b"k0\t0.0\t" + b"x" * (MAX_SPOOL_LINE * 3) + b"\n"
    (home / SPOOL_FILE).write_bytes(huge + b"k1\t1.0\t" + payload(1).encode() + b"\n")
    (home / SPOOL_FILE).chmod(0o600)
    game_server = server()
    assert game_server.drain_spool() == 1 and texts(game_server) == ["m1"]
    [letter] = runtime.dead_letters()
    assert len(letter["line"]) == DEAD_LETTER_HEAD and str(len(huge)) in letter["reason"]


# -- one server per data folder --------------------------------------------------------------


def test_a_second_server_process_on_the_folder_is_refused_clearly(home: Path):
    code = (
        "import sys, time\n"
        "from ccviz_kernel.runtime import lock_server\n"
        "lock_server(); print('locked', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ServerBusy) as busy:
            lock_server()
        assert f"pid {holder.pid}" in str(busy.value) and "CCVIZ_HOME" in str(busy.value)
        assert isinstance(busy.value, CcvizError)  # the command line prints it as one line
    finally:
        holder.communicate("", timeout=10)
    key = lock_server()  # the holder is gone: free again
    assert lock_server() == key  # servers in one process share it
    unlock_server(key)
    unlock_server(key)


# -- the portable lock (issue 12: the hook and the server on Windows) ------------------------


class FakeMsvcrt:
    """``msvcrt.locking`` as Windows documents it, for running the Windows lock on POSIX.

    One byte range per (file, position) and per handle: another handle's try fails with
    EACCES, so does locking a range twice or unlocking one not held (Windows' LockFile and
    UnlockFile); a lock is never dropped by closing here, so a missing unlock shows up.
    """

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def __init__(self) -> None:
        self.held: dict[tuple[int, int, int, int], int] = {}
        self.positions: list[int] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        st = os.fstat(fd)
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        self.positions.append(pos)
        key = (st.st_dev, st.st_ino, pos, nbytes)
        owner = self.held.get(key)
        if mode == self.LK_UNLCK:
            if owner != fd:
                raise OSError(errno.EACCES, "Permission denied")
            del self.held[key]
        elif mode == self.LK_NBLCK:
            if owner is not None:
                raise OSError(errno.EACCES, "Permission denied")
            self.held[key] = fd
        else:  # the code never uses the 10-second LK_LOCK
            raise AssertionError(f"unexpected locking mode {mode}")


@pytest.fixture(params=["fcntl", "msvcrt"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each lock implementation, on every platform where it can run: the real ``fcntl`` on
    POSIX, the real ``msvcrt`` on Windows, and there :class:`FakeMsvcrt` everywhere else."""
    if request.param == "fcntl" and os.name == "nt":
        pytest.skip("no fcntl on Windows")
    if request.param == "msvcrt" and os.name != "nt":
        monkeypatch.setitem(sys.modules, "msvcrt", FakeMsvcrt())
    return request.param


def test_the_lock_is_the_platforms():
    assert ("msvcrt" if os.name == "nt" else "fcntl") == runtime.LOCK_IMPL
    # Far past any spool (mandatory locks on Windows must not cover data) and within the
    # 32-bit offset of the C runtime's _locking.
    assert runtime.MAX_SPOOL_BYTES < runtime.LOCK_OFFSET < 2**31
    assert errno.EACCES in runtime._LOCK_HELD


def test_a_held_lock_refuses_another_handle_until_released(tmp_path: Path, impl: str):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    a = os.open(path, os.O_RDWR)
    b = os.open(path, os.O_RDWR)
    try:
        os.lseek(a, 2, os.SEEK_SET)
        assert runtime.lock_fd(a, impl=impl)
        assert os.lseek(a, 0, os.SEEK_CUR) == 2  # the position is the caller's
        assert not runtime.lock_fd(b, wait=False, impl=impl)
        assert os.read(b, 4) == b"data"  # the data stays readable while locked
        runtime.unlock_fd(a, impl=impl)
        assert runtime.lock_fd(b, wait=False, impl=impl)
        assert not runtime.lock_fd(a, wait=False, impl=impl)
        runtime.unlock_fd(b, impl=impl)
    finally:
        os.close(a)
        os.close(b)
    if impl == "msvcrt" and os.name != "nt":
        fake = sys.modules["msvcrt"]
        assert set(fake.positions) == {runtime.LOCK_OFFSET} and not fake.held


def test_a_waiting_lock_waits_for_the_holder(tmp_path: Path, impl: str):
    import threading

    path = tmp_path / "f"
    path.touch()
    a = os.open(path, os.O_RDWR)
    b = os.open(path, os.O_RDWR)
    try:
        assert runtime.lock_fd(a, impl=impl)
        release = threading.Timer(0.2, runtime.unlock_fd, (a,), {"impl": impl})
        started = time.monotonic()
        release.start()
        assert runtime.lock_fd(b, impl=impl)  # returns only once `a` let go
        waited = time.monotonic() - started
        release.join()
        assert waited >= 0.15
        runtime.unlock_fd(b, impl=impl)
    finally:
        os.close(a)
        os.close(b)


@pytest.fixture()
def windows_rules(monkeypatch: pytest.MonkeyPatch) -> FakeMsvcrt | None:
    """The spool and server lock as they run on Windows: msvcrt locks, no rename of an open
    file (on POSIX with :class:`FakeMsvcrt`)."""
    monkeypatch.setattr(runtime, "LOCK_IMPL", "msvcrt")
    monkeypatch.setattr(runtime, "_RENAME_WHILE_OPEN", False)
    if os.name == "nt":
        return None
    fake = FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    return fake


def test_the_spool_round_trip_under_windows_rules(home: Path, windows_rules: FakeMsvcrt | None):
    for n in range(3):
        assert spool_append(payload(n), time.time(), key=f"k{n}")
    work = runtime.spool_take()
    assert work is not None and not (home / SPOOL_FILE).exists()
    assert [key for key, _, _ in spool_read(work)] == ["k0", "k1", "k2"]
    assert spool_append(payload(3), time.time(), key="k3")  # a new spool after the move
    assert [key for key, _, _ in spool_read(str(home / SPOOL_FILE))] == ["k3"]
    if windows_rules is not None:
        assert not windows_rules.held  # every lock released, not left to the close


def test_a_spool_an_appender_holds_open_is_taken_later_on_windows(
    home: Path, windows_rules: FakeMsvcrt | None, monkeypatch: pytest.MonkeyPatch
):
    assert spool_append(payload(0), time.time(), key="k0")
    real_rename = os.rename

    def busy(src: str, dst: str) -> None:  # what Windows says while another handle is open
        raise PermissionError(errno.EACCES, "The process cannot access the file")

    monkeypatch.setattr(os, "rename", busy)
    assert runtime.spool_take() is None  # nothing lost: tried again at the next look
    monkeypatch.setattr(os, "rename", real_rename)
    work = runtime.spool_take()
    assert work is not None and [key for key, _, _ in spool_read(work)] == ["k0"]


def test_the_server_lock_under_windows_rules(home: Path, windows_rules: FakeMsvcrt | None):
    other = os.open(home / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:  # another server holds it and wrote its pid, as lock_server does
        assert runtime.lock_fd(other)
        os.write(other, b"4242\n")
        with pytest.raises(ServerBusy, match="pid 4242"):
            lock_server()
        runtime.unlock_fd(other)
    finally:
        os.close(other)
    key = lock_server()
    assert (home / "server.lock").read_text() == f"{os.getpid()}\n"
    unlock_server(key)
    if windows_rules is not None:
        assert not windows_rules.held


def test_private_writes_need_no_fchmod(home: Path, monkeypatch: pytest.MonkeyPatch):
    """Windows before Python 3.13 has no os.fchmod: the token and runtime file are still
    written (the server would not start otherwise)."""
    monkeypatch.delattr(os, "fchmod", raising=False)
    write_private(str(home / "x"), "data")
    assert (home / "x").read_text() == "data"
