// The offline source (src/offline.ts): answers join/history/at from a log by applying its
// deltas, never by rules; and the host theme's luminance (src/theme.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { load } from "./support/load.mjs";

const { OfflineGame, decodeOfflineLog } = await load("src/offline.ts");
const { luminance } = await load("src/theme.ts");

function log(n) {
  const deltas = [];
  for (let i = 1; i <= n; i++) deltas.push([["set", ["seq"], i], ["inc", ["count"], 1]]);
  return {
    format: "ccviz-offline", version: 1, gameId: "g", title: null, seq: n,
    initial: { gameId: "g", seq: 0, count: 0 }, deltas, effects: deltas.map((_, i) => [{ kind: "say", seq: i + 1 }]),
    times: deltas.map((_, i) => 1000 * i), markers: [], lanes: [],
  };
}

test("the state after any event is the initial state with the deltas applied", async () => {
  const game = new OfflineGame(log(600));
  for (const seq of [0, 1, 255, 256, 257, 599, 600, 9999, -3]) {
    const at = Math.max(0, Math.min(seq, 600));
    assert.deepEqual(game.stateAt(seq), { gameId: "g", seq: at, count: at });
  }
  const ack = await game.at(250, 20);
  assert.equal(ack.at, 250);
  assert.equal(ack.deltas.length, 20);
  assert.equal(ack.effects[0][0].seq, 251);
  ack.deltas[0][0][2] = "changed"; // answers are copies
  assert.equal((await game.at(250, 1)).deltas[0][0][2], 251);
  assert.equal((await game.at(1.5, 1)).ok, false);
  const join = await game.transport().join();
  assert.equal(join.snapshot.seq, 600);
  assert.equal((await game.history()).seq, 600);
  assert.equal(await game.canControl(), false);
});

test("a log is read from base64 of gzip, and another version is refused", async () => {
  const enc = (o) => gzipSync(Buffer.from(JSON.stringify(o))).toString("base64");
  assert.equal((await decodeOfflineLog(enc(log(3)))).seq, 3);
  await assert.rejects(decodeOfflineLog(enc({ ...log(3), version: 2 })), /version/);
  await assert.rejects(decodeOfflineLog(enc({ format: "x" })), /not a ccviz/);
});

test("luminance tells a dark theme's background from a light one's", () => {
  assert.ok(luminance("#111111") < 0.1);
  assert.ok(luminance("#fff") > 0.9);
  assert.ok(luminance("rgb(33, 33, 33)") < 0.1);
  assert.equal(luminance("var(--x)"), null);
});
