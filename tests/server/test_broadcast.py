"""The frame coalescer (server/broadcast.py), on a clock of the test's own: no sleeps."""

from __future__ import annotations

import heapq
import itertools

import pytest

from ccviz_kernel.engine.game import Applied
from ccviz_kernel.server.broadcast import MAX_EFFECTS_PER_FRAME, Broadcaster


class FakeTime:
    """A clock and a ``call_later`` on it: timers run when :meth:`advance` passes them."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.late = 0.0  # how late every timer fires (a busy loop)
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    def call_later(self, delay, callback, *args):
        timer = Timer(self.now + delay, callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    def pending(self) -> list[Timer]:
        return [t for _, _, t in self._timers if not t.cancelled]

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._timers and self._timers[0][0] + self.late <= end:
            when, _, timer = heapq.heappop(self._timers)
            self.now = max(self.now, when + self.late)
            if not timer.cancelled:
                timer.callback(*timer.args)
        self.now = end


class Timer:
    def __init__(self, when, callback, args) -> None:
        self.when, self.callback, self.args = when, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Recorder:
    """The emit function: every (time, event, data, game) it was called with."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.sent: list[tuple[float, str, dict, str]] = []

    def __call__(self, event, data, game_id) -> None:
        self.sent.append((self.time.now, event, data, game_id))

    def updates(self, game_id: str | None = None) -> list[tuple[float, dict]]:
        return [
            (t, d)
            for t, e, d, g in self.sent
            if e == "game-state-update" and (game_id is None or g == game_id)
        ]


@pytest.fixture
def time_():
    return FakeTime()


def make(time_: FakeTime, fps: float = 30.0) -> tuple[Broadcaster, Recorder]:
    sent = Recorder(time_)
    return Broadcaster(sent, fps=fps, clock=time_.clock, call_later=time_.call_later), sent


def delta(n: int) -> list:
    return [["set", ["n"], n]]


def test_a_quiet_room_gets_its_update_on_the_next_loop_turn_never_inside_push(time_):
    b, sent = make(time_)
    b.push("g", Applied(1, delta(1), []))
    assert sent.sent == []  # the hook POST that pushed it is answered first
    time_.advance(0)
    assert sent.updates() == [
        (1000.0, {"gameId": "g", "from": 1, "seq": 1, "deltas": delta(1)}),
    ]
    assert time_.pending() == [] and b.updates_sent == 1
    # a frame later the room is quiet again: the leading edge once more, no waiting
    time_.advance(b.frame)
    b.push("g", Applied(2, delta(2), []))
    time_.advance(0)
    assert [u["seq"] for _, u in sent.updates()] == [1, 2]


def test_a_burst_waits_for_the_frame_boundary_and_merges_deltas_in_order(time_):
    b, sent = make(time_, fps=10.0)
    b.push("g", Applied(1, delta(1), []))
    time_.advance(0.02)
    b.push("g", Applied(2, [["set", ["a"], 1], ["inc", ["n"], 1]], []))
    b.push("g", Applied(3, [["set", ["b"], 2]], []))
    assert len(sent.updates()) == 1  # the burst waits
    (timer,) = time_.pending()
    assert timer.when == pytest.approx(1000.0 + 0.1)  # the next frame boundary, not later
    time_.advance(0.2)
    (_, first), (when, second) = sent.updates()
    assert when == pytest.approx(1000.1)
    assert second == {
        "gameId": "g",
        "from": 2,
        "seq": 3,
        "deltas": [["set", ["a"], 1], ["inc", ["n"], 1], ["set", ["b"], 2]],
    }
    assert first["seq"] + 1 == second["from"]


@pytest.mark.parametrize("fps", [30.0, 10.0])
def test_at_most_one_update_per_frame_per_room_and_no_event_lost(time_, fps):
    b, sent = make(time_, fps=fps)
    for seq in range(1, 1001):  # 1000 events/s for one second, in two rooms
        b.push("a", Applied(seq, delta(seq), []))
        if seq % 3 == 0:
            b.push("b", Applied(seq // 3, delta(seq), []))
        time_.advance(0.001)
    time_.advance(1.0)
    for room, last in (("a", 1000), ("b", 333)):
        updates = sent.updates(room)
        times = [t for t, _ in updates]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= 1 / fps - 1e-9
        assert len(updates) <= fps * 1.0 + 1  # ~1 s of load: the leading edge plus one a frame
        # every event went out once, in order: each update starts where the last ended
        assert updates[0][1]["from"] == 1 and updates[-1][1]["seq"] == last
        for (_, u), (_, v) in itertools.pairwise(updates):
            assert v["from"] == u["seq"] + 1
        assert sum(len(u["deltas"]) for _, u in updates) == last


def test_late_timers_do_not_push_later_frames_back(time_):
    """Events at the frame rate, timers 4 ms late: every update 4 ms after its event, not
    4 ms more each time (the lateness once added up to a whole frame)."""
    time_.late = 0.004
    b, sent = make(time_, fps=10.0)
    pushed = {}
    for seq in range(1, 31):
        pushed[seq] = time_.now
        b.push("g", Applied(seq, delta(seq), []))
        time_.advance(0.1)
    latencies = [t - pushed[u["seq"]] for t, u in sent.updates()]
    assert len(latencies) == 30 and max(latencies) <= 0.004 + 1e-9


def test_rooms_do_not_wait_for_each_other(time_):
    b, sent = make(time_)
    b.push("a", Applied(1, delta(1), []))
    time_.advance(0)
    b.push("a", Applied(2, delta(2), []))  # a waits for its next frame
    b.push("b", Applied(1, delta(1), []))  # b is quiet: out on the next turn
    time_.advance(0)
    assert [(g, d["seq"]) for _, e, d, g in sent.sent] == [("a", 1), ("b", 1)]


def test_effects_ride_inside_their_update_and_nothing_else_is_sent(time_):
    b, sent = make(time_)
    b.push("g", Applied(1, delta(1), [{"seq": 1, "kind": "say", "text": "one"}]))
    time_.advance(0.001)
    b.push("g", Applied(2, delta(2), [{"seq": 2, "kind": "say", "text": "two"}]))
    b.push("g", Applied(3, delta(3), [{"seq": 3, "kind": "spark"}, {"seq": 3, "kind": "x"}]))
    time_.advance(1.0)
    assert {e for _, e, _, _ in sent.sent} == {"game-state-update"}  # one message per frame
    (_, first), (_, second) = sent.updates()
    assert first["effects"] == [{"seq": 1, "kind": "say", "text": "one"}]
    assert [(e["seq"], e["kind"]) for e in second["effects"]] == [
        (2, "say"),
        (3, "spark"),
        (3, "x"),
    ]
    b.push("g", Applied(4, delta(4), []))
    time_.advance(1.0)
    assert "effects" not in sent.updates()[-1][1]  # none: the key is left out


def test_a_burst_keeps_only_the_newest_effects(time_):
    b, sent = make(time_)
    b.push("g", Applied(1, delta(1), []))
    time_.advance(0)
    for seq in range(2, 102):
        b.push("g", Applied(seq, delta(seq), [{"kind": "say", "n": seq}]))
    time_.advance(1.0)
    (_, last) = sent.updates()[-1]
    assert [e["n"] for e in last["effects"]] == list(range(102 - MAX_EFFECTS_PER_FRAME, 102))
    assert last["deltas"] == [d for seq in range(2, 102) for d in delta(seq)]


def test_a_reset_drops_what_was_pending_and_says_so(time_):
    b, sent = make(time_)
    b.push("g", Applied(1, delta(1), [{"kind": "say"}]))
    time_.advance(0)
    b.push("g", Applied(2, delta(2), [{"kind": "lost"}]))  # pending when the reset comes
    assert len(time_.pending()) == 1
    time_.advance(0.001)
    b.push("g", Applied(5, [["set", ["all"], 0]], [], reset=True))
    time_.advance(1.0)
    _, update = sent.updates()[-1]
    assert update == {
        "gameId": "g",
        "from": 5,
        "seq": 5,
        "deltas": [["set", ["all"], 0]],
        "reset": True,
    }
    kinds = [e["kind"] for _, u in sent.updates() for e in u.get("effects", [])]
    assert kinds == ["say"]
    b.push("g", Applied(6, delta(6), []))
    time_.advance(1.0)
    assert "reset" not in sent.updates()[-1][1]


def test_flush_sends_now_and_forget_cancels(time_):
    b, sent = make(time_)
    b.push("g", Applied(1, delta(1), []))
    time_.advance(0)
    b.push("g", Applied(2, delta(2), []))
    (timer,) = time_.pending()
    b.flush("g")  # a viewer joins: what is pending goes out before its snapshot
    assert timer.cancelled and [u["seq"] for _, u in sent.updates()] == [1, 2]
    b.flush("g")  # nothing pending: nothing sent
    b.flush("nobody")
    assert len(sent.updates()) == 2
    b.push("g", Applied(3, delta(3), []))
    (timer,) = time_.pending()
    b.forget("g")
    assert timer.cancelled
    time_.advance(1.0)
    assert len(sent.updates()) == 2


def test_fps_must_be_positive():
    with pytest.raises(ValueError):
        Broadcaster(lambda *a: None, fps=0)
