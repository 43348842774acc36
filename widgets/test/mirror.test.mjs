// The mirror's join / gap / re-join logic over a fake transport (same rules as
// ccviz_kernel/client.py). The one mirror serves socket.io (the ack answers a join) and the
// widget comm (later messages answer it); tests/server/test_js_client.py runs it against the
// real server.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { load } from "./support/load.mjs";

const { Mirror } = await load("src/mirror.ts");

const snap = (seq, extra = {}) => ({ gameId: "g", seq, stats: { prompts: 0 }, ...extra });
const upd = (from, seq, deltas = []) => ({
  gameId: "g",
  from,
  seq,
  deltas: [["set", ["seq"], seq], ...deltas],
});
const tick = () => new Promise((r) => setImmediate(r)); // not a setTimeout: those may be mocked

function setup(answers) {
  const calls = [];
  const seen = { states: [], effects: [], errors: [], joined: [] };
  const mirror = new Mirror("g", {
    state: (s, full) => seen.states.push({ seq: s.seq, full }),
    effect: (e) => seen.effects.push(e),
    joined: (how) => seen.joined.push(how),
    error: (m) => seen.errors.push(m),
  });
  mirror.attach({
    join: async (since) => {
      calls.push(since);
      const a = answers.shift();
      return typeof a === "function" ? a(since) : a;
    },
  });
  return { mirror, calls, seen };
}

test("joins, applies updates in order, ignores what it has", async () => {
  const { mirror, calls, seen } = setup([{ ok: true, gameId: "g", seq: 3, snapshot: snap(3) }]);
  mirror.connected();
  await tick();
  assert.deepEqual(calls, [undefined]);
  assert.equal(mirror.seq, 3);
  mirror.update(upd(2, 3)); // old: ignored
  mirror.update(upd(4, 5, [["inc", ["stats", "prompts"], 2]]));
  assert.equal(mirror.seq, 5);
  assert.equal(mirror.snapshot.stats.prompts, 2);
  mirror.update({ ...upd(6, 6), gameId: "other" }); // another game: ignored
  assert.equal(mirror.seq, 5);
  assert.deepEqual(seen.states, [
    { seq: 3, full: true },
    { seq: 5, full: false },
  ]);
});

test("a gap re-joins with since and applies the catch-up", async () => {
  const { mirror, calls } = setup([
    { ok: true, gameId: "g", seq: 2, snapshot: snap(2) },
    (since) => ({ ok: true, gameId: "g", seq: 6, from: since + 1, deltas: [["set", ["seq"], 6], ["inc", ["stats", "prompts"], 1]] }),
  ]);
  mirror.connected();
  await tick();
  mirror.update(upd(5, 6)); // 3..4 missing
  await tick();
  assert.deepEqual(calls, [undefined, 2]);
  assert.equal(mirror.seq, 6);
  assert.equal(mirror.snapshot.stats.prompts, 1);
  assert.equal(mirror.rejoins, 1);
});

test("a catch-up that does not fit asks for a snapshot", async () => {
  const { mirror, calls } = setup([
    { ok: true, gameId: "g", seq: 2, snapshot: snap(2) },
    { ok: true, gameId: "g", seq: 9, from: 1, deltas: [] },
    { ok: true, gameId: "g", seq: 9, snapshot: snap(9) },
  ]);
  mirror.connected();
  await tick();
  mirror.update(upd(7, 9));
  await tick();
  await tick();
  assert.deepEqual(calls, [undefined, 2, undefined]);
  assert.equal(mirror.seq, 9);
});

test("updates while joining are left to the join's answer", async () => {
  let release;
  const { mirror } = setup([
    () => new Promise((r) => (release = () => r({ ok: true, gameId: "g", seq: 4, snapshot: snap(4) }))),
  ]);
  mirror.connected();
  mirror.update(upd(1, 4));
  release();
  await tick();
  assert.equal(mirror.seq, 4);
  mirror.update(upd(5, 5));
  assert.equal(mirror.seq, 5);
});

test("a reconnect re-joins from where it was", async () => {
  const { mirror, calls, seen } = setup([
    { ok: true, gameId: "g", seq: 3, snapshot: snap(3) },
    { ok: true, gameId: "g", seq: 3, from: 4, deltas: [] },
  ]);
  mirror.connected();
  await tick();
  mirror.connected();
  await tick();
  assert.deepEqual(calls, [undefined, 3]);
  assert.equal(mirror.seq, 3);
  assert.equal(mirror.rejoins, 1);
  assert.deepEqual(seen.joined, ["snapshot", "current"]);
});

test("a snapshot to start from: the first join asks only for what follows, and is no re-join", async () => {
  const { mirror, calls, seen } = setup([
    (since) => ({ ok: true, gameId: "g", seq: 7, from: since + 1, deltas: [["set", ["seq"], 7], ["inc", ["stats", "prompts"], 3]] }),
  ]);
  mirror.takeSnapshot(snap(4));
  mirror.connected();
  await tick();
  assert.deepEqual(calls, [4]);
  assert.equal(mirror.seq, 7);
  assert.equal(mirror.snapshot.stats.prompts, 3);
  assert.equal(mirror.rejoins, 0);
  assert.equal(mirror.updates, 0); // a catch-up in an ack is not an update
  assert.deepEqual(seen.joined, ["deltas"]);
  assert.deepEqual(seen.states, [
    { seq: 4, full: true },
    { seq: 7, full: false },
  ]);
});

test("an unanswered join is asked again until answered, and not after close", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const { mirror, calls, seen } = setup([]); // widget comm: every join resolves to nothing
  mirror.connected();
  await tick();
  assert.deepEqual(calls, [undefined]);
  mock.timers.tick(1999);
  await tick();
  assert.equal(calls.length, 1);
  mock.timers.tick(1);
  await tick();
  assert.deepEqual(calls, [undefined, undefined]); // the kernel side was not listening yet
  mirror.takeSnapshot(snap(4));
  mock.timers.tick(10_000);
  await tick();
  assert.equal(calls.length, 2, "answered: asks no more");
  mirror.update(upd(7, 7)); // 5..6 missing
  await tick();
  assert.deepEqual(calls, [undefined, undefined, 4]);
  mock.timers.tick(2000);
  await tick();
  assert.deepEqual(calls, [undefined, undefined, 4, 4], "the catch-up did not come: ask again");
  mirror.update(upd(5, 7)); // it comes as an update
  assert.equal(mirror.seq, 7);
  assert.deepEqual(seen.joined, ["snapshot", "deltas"]);
  mock.timers.tick(10_000);
  await tick();
  assert.equal(calls.length, 4);
  mirror.update(upd(9, 9)); // another gap, then the view goes away
  await tick();
  mirror.close();
  mock.timers.tick(10_000);
  await tick();
  assert.deepEqual(calls, [undefined, undefined, 4, 4, 7]);
});

test("a join that fails (an ack timeout) is tried again", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const { mirror, calls, seen } = setup([
    () => {
      throw new Error("operation has timed out");
    },
    { ok: true, gameId: "g", seq: 2, snapshot: snap(2) },
  ]);
  mirror.connected();
  await tick();
  assert.match(seen.errors[0], /timed out/);
  assert.equal(mirror.snapshot, null);
  mock.timers.tick(1000);
  await tick();
  assert.deepEqual(calls, [undefined, undefined]);
  assert.equal(mirror.seq, 2);
  mirror.close();
});

test("an update that does not fit the snapshot starts again from a fresh one", async () => {
  const { mirror, calls, seen } = setup([
    { ok: true, gameId: "g", seq: 2, snapshot: snap(2) },
    { ok: true, gameId: "g", seq: 3, snapshot: snap(3) },
  ]);
  mirror.connected();
  await tick();
  mirror.update(upd(3, 3, [["inc", ["nope", "deeper"], 1]]));
  await tick();
  assert.match(seen.errors[0], /bad update 3\.\.3/);
  assert.deepEqual(calls, [undefined, undefined]);
  assert.equal(mirror.seq, 3);
  mirror.close();
});

test("effects inside an update are passed on once, after its state, and only if applied", async () => {
  const { mirror, seen } = setup([{ ok: true, gameId: "g", seq: 1, snapshot: snap(1) }]);
  mirror.connected();
  await tick();
  const say = (seq, text) => ({ seq, kind: "say", agentId: "main", text });
  mirror.update({ ...upd(2, 3), effects: [say(2, "two"), say(3, "three")] });
  mirror.update({ ...upd(2, 3), effects: [say(2, "again")] }); // already held: nothing again
  mirror.update({ ...upd(5, 5), effects: [say(5, "gap")] }); // a gap: not applied, not shown
  assert.deepEqual(
    seen.effects.map((e) => [e.gameId, e.seq, e.text]),
    [
      ["g", 2, "two"],
      ["g", 3, "three"],
    ],
  );
  assert.equal(mirror.seq, 3);
  mirror.close();
});

test("effects of this game are forwarded", async () => {
  const { mirror, seen } = setup([{ ok: true, gameId: "g", seq: 1, snapshot: snap(1) }]);
  mirror.connected();
  await tick();
  mirror.effect({ gameId: "g", seq: 1, kind: "say", agentId: "main", text: "hi" });
  mirror.effect({ gameId: "x", seq: 1, kind: "say", agentId: "main", text: "no" });
  assert.deepEqual(seen.effects.map((e) => e.text), ["hi"]);
});

test("comm style: join answered later by messages", async () => {
  const { mirror, calls } = setup([undefined, undefined]);
  mirror.connected();
  await tick();
  mirror.update(upd(1, 1)); // before any snapshot: ignored
  assert.equal(mirror.snapshot, null);
  mirror.takeSnapshot(snap(5));
  mirror.update(upd(8, 8)); // gap: asks with since=5
  mirror.update(upd(9, 9)); // still waiting: does not ask again at once
  await tick();
  assert.deepEqual(calls, [undefined, 5]);
  mirror.update(upd(6, 9)); // the catch-up arrives as an update
  assert.equal(mirror.seq, 9);
});

test("a refused join is reported", async () => {
  const { mirror, seen } = setup([{ ok: false, error: "nope" }]);
  mirror.connected();
  await tick();
  assert.match(seen.errors[0], /nope/);
});

test("a reset update (replay seeking back) is taken whole, even with a lower seq", async () => {
  const { mirror, seen } = setup([{ ok: true, gameId: "g", seq: 9, snapshot: snap(9, { title: "late" }) }]);
  mirror.connected();
  await tick();
  mirror.update({ gameId: "g", from: 3, seq: 3, reset: true, deltas: [["set", ["seq"], 3], ["set", ["title"], "early"]] });
  assert.equal(mirror.seq, 3);
  assert.equal(mirror.snapshot.title, "early");
  assert.deepEqual(seen.states.at(-1), { seq: 3, full: true });
  mirror.update(upd(4, 4));
  assert.equal(mirror.seq, 4);
});

test("replay status in a join ack is passed on as a replay effect", async () => {
  const replay = { playing: true, speed: 2, position: 5, total: 9 };
  const { mirror, seen } = setup([{ ok: true, gameId: "g", seq: 5, snapshot: snap(5), replay }]);
  mirror.connected();
  await tick();
  assert.deepEqual(seen.effects, [{ kind: "replay", ...replay }]);
});
