// The player's pure parts: the timeline's playback clock (compressed idle gaps, markers, lanes,
// zoom) and the own playhead (seek, step, play at the clock's pace, chunks, pause on markers)
// over a fake `game-at` and a fake frame clock. tests/browser/test_player.py runs the bar.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./support/load.mjs";

const T = await load("src/player/timeline.ts");
const { Playhead, CHUNK_COUNT } = await load("src/player/playhead.ts");
const { parseDeepLink } = await load("src/player/player.ts");

const { Timeline, GAP_CAP_MS, UNKNOWN_GAP_MS, IDLE_BAND_MS } = T;
const tick = () => new Promise((r) => setImmediate(r));

test("the playback clock shortens idle gaps and remembers the long ones as bands", () => {
  const t0 = 1_000_000;
  const times = [t0, t0 + 1000, t0 + 1000, t0 + 11_000, null, t0 + 20_000, t0 + 20_000 + 10 * 60_000];
  const tl = new Timeline(times);
  assert.equal(tl.n, 7);
  assert.deepEqual(tl.clock, [
    0,
    0,
    1000,
    1000,
    1000 + GAP_CAP_MS, // 10 s → the cap, no band (shorter than an idle time)
    1000 + GAP_CAP_MS + UNKNOWN_GAP_MS,
    1000 + GAP_CAP_MS + 2 * UNKNOWN_GAP_MS,
    1000 + 2 * GAP_CAP_MS + 2 * UNKNOWN_GAP_MS, // 10 min → the cap, and a band
  ]);
  assert.deepEqual(tl.bands, [{ seq: 7, realMs: 10 * 60_000 }]);
  assert.ok(10 * 60_000 >= IDLE_BAND_MS);
  assert.equal(tl.bandAt(tl.clock[6] + 1)?.seq, 7);
  assert.equal(tl.bandAt(tl.clock[2]), null);
  assert.equal(tl.seqAt(0), 1);
  assert.equal(tl.seqAt(999), 1);
  assert.equal(tl.seqAt(1000), 3);
  assert.equal(tl.seqAt(1e9), 7);
  assert.equal(tl.nearestSeq(1000 + GAP_CAP_MS - 1), 4);
  assert.equal(tl.realElapsed(5), 11_000); // event 5 has no time: the one before it
  assert.equal(tl.realDuration, 20_000 + 10 * 60_000);
  assert.equal(tl.seqAtSeconds(0), 1);
  assert.equal(tl.seqAtSeconds(15), 5);
  assert.equal(tl.seqAtSeconds(3600), 7);
  tl.extend([t0 + 20_000 + 10 * 60_000 + 500]);
  assert.equal(tl.n, 8);
  assert.equal(tl.clock[8], tl.clock[7] + 500);
});

test("markers: previous, next, of a kind, in a range", () => {
  const m = (seq, kind) => ({ seq, kind, agentId: "main", text: `${kind} ${seq}` });
  const tl = new Timeline(new Array(50).fill(null), [m(30, "failure"), m(5, "prompt"), m(12, "spawn"), m(40, "failure")]);
  assert.deepEqual(tl.markers.map((x) => x.seq), [5, 12, 30, 40]);
  assert.equal(tl.nextMarker(0).seq, 5);
  assert.equal(tl.nextMarker(5).seq, 12);
  assert.equal(tl.prevMarker(12).seq, 5);
  assert.equal(tl.prevMarker(5), null);
  assert.equal(tl.nextMarker(40), null);
  assert.equal(tl.nextMarker(0, ["failure"]).seq, 30);
  assert.equal(tl.nextMarker(30, ["failure"]).seq, 40);
  assert.deepEqual(tl.markersIn(5, 30).map((x) => x.seq), [12, 30]);
  tl.addMarker(m(20, "todo"));
  assert.deepEqual(tl.markers.map((x) => x.seq), [5, 12, 20, 30, 40]);
});

test("lanes: one row each while they fit, packed when they do not", () => {
  const lane = (agentId, kind, from, to) => ({ agentId, name: agentId, kind, type: kind === "main" ? "main" : "Explore", parent: null, from, to });
  const tl = new Timeline(new Array(100).fill(null), [], [lane("main", "main", 1, null), lane("a", "subagent", 5, 20), lane("b", "subagent", 10, 30), lane("c", "subagent", 25, 40), lane("d", "subagent", 50, null)]);
  assert.deepEqual(tl.packLanes(5), { rows: [0, 1, 2, 3, 4], count: 5 });
  // a and b overlap; c fits after a, and d after c.
  assert.deepEqual(tl.packLanes(3), { rows: [0, 1, 2, 1, 1], count: 3 });
});

test("zoom windows stay inside the history and at least the narrowest span", () => {
  const full = 100_000;
  let r = T.zoomRange({ from: 0, to: full }, 50_000, 0.5, full);
  assert.deepEqual(r, { from: 25_000, to: 75_000 });
  r = T.zoomRange(r, 75_000, 0.001, full);
  assert.equal(r.to - r.from, T.MIN_SPAN_MS);
  assert.deepEqual(T.zoomRange({ from: 90_000, to: full }, 99_000, 4, full), { from: 60_000, to: full });
  assert.deepEqual(T.rangeBetween(80_000, 20_000, full), { from: 20_000, to: 80_000 });
  assert.deepEqual(T.rangeBetween(99_999, 99_999, full), { from: full - T.MIN_SPAN_MS, to: full });
  assert.equal(T.formatClock(3_723_000), "1:02:03");
  assert.equal(T.formatClock(63_000), "1:03");
  assert.equal(T.formatSpan(12 * 60_000), "12 min");
});

test("deep links", () => {
  assert.equal(parseDeepLink(""), null);
  assert.equal(parseDeepLink("?token=x"), null);
  assert.deepEqual(parseDeepLink("?seq=12"), { seq: 12, t: null, play: false });
  assert.deepEqual(parseDeepLink("?seq=0&play=1"), { seq: 0, t: null, play: true });
  assert.deepEqual(parseDeepLink("?t=90.5&play=1"), { seq: null, t: 90.5, play: true });
  assert.deepEqual(parseDeepLink("?seq=-3"), null);
});

// -- the own playhead ----------------------------------------------------------------------

/** A game of `n` events, each setting `n` and bumping `count`; one effect per event. */
function fakeGame(n) {
  const calls = [];
  const source = async (seq, count) => {
    calls.push([seq, count]);
    const at = Math.max(0, Math.min(seq, n));
    const k = Math.min(count, n - at);
    return {
      ok: true,
      gameId: "g",
      total: n,
      at,
      snapshot: { gameId: "g", seq: at, count: at },
      deltas: Array.from({ length: k }, (_, i) => [["set", ["seq"], at + i + 1], ["inc", ["count"], 1]]),
      effects: Array.from({ length: k }, (_, i) => [{ seq: at + i + 1, kind: "say", agentId: "main", text: `e${at + i + 1}` }]),
    };
  };
  return { source, calls };
}

function fakeClock() {
  const clock = { t: 0, queue: [], now: () => clock.t, request: (f) => (clock.queue.push(f), clock.queue.length), cancel: () => {} };
  clock.run = (ms) => {
    clock.t += ms;
    const fs = clock.queue.splice(0);
    for (const f of fs) f();
  };
  return clock;
}

function setup(n, times) {
  const game = fakeGame(n);
  const clock = fakeClock();
  const out = { draws: [], effects: [], ended: 0, errors: [] };
  const tl = new Timeline(times ?? Array.from({ length: n }, (_, i) => 1_000_000 + i * 1000));
  const p = new Playhead(game.source, tl, {
    draw: (s, full) => out.draws.push({ seq: s.seq, count: s.count, full }),
    effect: (e) => out.effects.push(e.seq),
    changed: () => {},
    ended: () => out.ended++,
    error: (m) => out.errors.push(m),
  }, clock);
  return { p, game, clock, out };
}

test("seek is one game-at; steps use the buffer, step back asks again", async () => {
  const { p, game, out } = setup(50);
  await p.seek(20);
  assert.deepEqual(game.calls, [[20, 200]]);
  assert.equal(p.at, 20);
  assert.deepEqual(out.draws.at(-1), { seq: 20, count: 20, full: true });
  await p.stepForward();
  assert.equal(game.calls.length, 1); // from the buffer
  assert.deepEqual(out.draws.at(-1), { seq: 21, count: 21, full: false });
  assert.deepEqual(out.effects, [21]);
  await p.stepBack();
  assert.deepEqual(game.calls.at(-1), [20, 200]);
  assert.equal(p.at, 20);
  await p.seek(30); // just ahead, in the buffer: no request
  assert.equal(game.calls.length, 2);
  assert.deepEqual(out.draws.at(-1), { seq: 30, count: 30, full: false });
  await p.seek(1e6);
  assert.equal(p.at, 50);
  await p.stepForward(); // at the end: nothing
  assert.equal(p.at, 50);
  assert.deepEqual(out.errors, []);
});

test("seeks that come faster than answers: the newest wins", async () => {
  const { p, game } = setup(100);
  const a = p.seek(10);
  const b = p.seek(20);
  const c = p.seek(30);
  await Promise.all([a, b, c]);
  assert.deepEqual(game.calls.map((x) => x[0]), [10, 30]);
  assert.equal(p.at, 30);
});

test("playing follows the clock, scaled by the speed, and ends at the end", async () => {
  const { p, clock, out } = setup(10); // one event a second
  await p.seek(0);
  p.play();
  clock.run(0); // event 1 comes at once
  assert.equal(p.at, 1);
  for (let i = 0; i < 3; i++) clock.run(250); // frames count at most 250 ms each
  assert.equal(p.at, 1);
  clock.run(250);
  assert.equal(p.at, 2);
  p.setSpeed(4);
  clock.run(250);
  assert.equal(p.at, 3);
  for (let i = 0; i < 40 && p.playing; i++) clock.run(250);
  assert.equal(p.at, 10);
  assert.equal(p.playing, false);
  assert.equal(out.ended, 1);
  assert.equal(out.draws.at(-1).count, 10); // every delta applied once
  assert.deepEqual(out.effects, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test("playing fetches the next chunk before the buffer runs out", async () => {
  const n = 3000;
  const { p, game, clock } = setup(n, new Array(n).fill(5_000)); // all at once: as fast as frames go
  await p.seek(0);
  p.play();
  for (let i = 0; i < 50 && p.playing; i++) {
    clock.run(16);
    await tick();
  }
  assert.equal(p.at, n);
  assert.equal(game.calls[0][1], 200);
  assert.ok(game.calls.slice(1).every(([, count]) => count === CHUNK_COUNT), game.calls);
  assert.ok(game.calls.length <= 5, game.calls);
  assert.equal(p.snapshot.count, n);
});

test("pause on markers stops right after each marker", async () => {
  const { p, clock } = setup(20);
  p.setTimeline(new Timeline(Array.from({ length: 20 }, (_, i) => 1_000_000 + i * 1000), [{ seq: 5, kind: "prompt", agentId: "main", text: "" }, { seq: 9, kind: "failure", agentId: "main", text: "" }]));
  p.pauseOnMarker = true;
  await p.seek(0);
  p.setSpeed(16);
  p.play();
  for (let i = 0; i < 100 && p.playing; i++) clock.run(100);
  assert.equal(p.at, 5);
  p.play();
  for (let i = 0; i < 100 && p.playing; i++) clock.run(100);
  assert.equal(p.at, 9);
});

test("start() takes a state at hand without asking", async () => {
  const { p, game, clock } = setup(10);
  p.start({ gameId: "g", seq: 4, count: 4 });
  assert.equal(game.calls.length, 0);
  assert.equal(p.at, 4);
  p.play();
  clock.run(16); // nothing buffered: asks for a chunk, waits
  await tick();
  assert.deepEqual(game.calls, [[4, CHUNK_COUNT]]);
  for (let i = 0; i < 40 && p.playing; i++) {
    clock.run(500);
    await tick();
  }
  assert.equal(p.at, 10);
  assert.equal(p.snapshot.count, 10);
});
