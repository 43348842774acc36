"""``ccviz view``: a transcript, a hook log or a stored game, opened on a running server."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
from common import CCVIZ, free_port, snapshot, start_server

from ccviz_kernel import samples
from ccviz_kernel.replays.load import load_replay


@pytest.fixture
def server():
    port = free_port()
    proc = start_server(port)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def view(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CCVIZ, "view", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["hooks", "transcript"])
def test_a_file_opens_as_a_whole_recording_on_the_running_server(server, kind):
    done = view(str(samples.path("subagents", kind)))
    assert done.returncode == 0, done.stderr
    link = done.stdout.split("watch it: ", 1)[1].split()[0]
    assert link.startswith(f"http://127.0.0.1:{server}/view/replay-") and link.endswith(
        "?seq=0&play=1"
    )
    game_id = link.split("/view/", 1)[1].split("?", 1)[0]
    snap = snapshot(server, game_id)
    recorded = load_replay(samples.path("subagents", kind)).events
    assert snap["seq"] == len(recorded) > 40  # the whole session: its state is the end
    page = urllib.request.urlopen(link, timeout=5).read().decode()
    assert "ccviz" in page


def test_a_stored_game_opens_by_id_from_the_start_when_it_has_ended(server, monkeypatch):
    lines = samples.path("short", "hooks").read_text().splitlines()
    game_id = json.loads(lines[0])["session_id"]
    from ccviz_kernel.runtime import read_token

    for line in lines:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server}/api/hooks",
            data=line.encode(),
            headers={"Authorization": f"Bearer {read_token()}"},
        )
        urllib.request.urlopen(request, timeout=5).read()
    done = view(game_id)
    assert done.returncode == 0, done.stderr
    assert f"/view/{game_id}?seq=0&play=1" in done.stdout


def test_unknown_targets_get_one_clear_line(server):
    done = view("no-such-game-or-file")
    assert done.returncode == 1
    assert done.stderr.strip() == "ccviz: no game 'no-such-game-or-file' here, and no such file"
