// The shipped browser mirror, run in node against a ccviz server: driven by
// tests/server/test_js_client.py.
//
//   node client.mjs <url> <gameId> <msgpack|json> [--until N] [--base FILE]
//                   [--await-disconnect] [--timeout SECONDS]
//
// Nothing here mirrors anything itself: the Mirror (widgets/src/mirror.ts: join, in-order
// updates, re-join with `since` on a gap) and the CcvizSocket (widgets/src/socket.ts: the
// official socket.io-client with socket.io-msgpack-parser) are the views' own source, bundled
// at start by esbuild (widgets/test/support/load.mjs), so the test checks what the browser runs.
// It joins the game (with `since` when --base gives it a snapshot to start from) and prints one
// JSON object per line on stdout:
//   {"event":"joined", sid, seq, form: "snapshot"|"deltas"}    how the first join was answered
//   {"event":"done", snapshot, updates, rejoins, effects}          once seq >= N (default: at once)
//   {"event":"disconnected", reason, errors, reconnected}          with --await-disconnect
//   {"event":"error", message}                                     then exit status 1
import { readFileSync } from "node:fs";
import { load } from "../../widgets/test/support/load.mjs";

// -- arguments -------------------------------------------------------------------------------
const [url, gameId, mode, ...rest] = process.argv.slice(2);
if (!url || !gameId || !["msgpack", "json"].includes(mode)) {
  console.error("usage: node client.mjs <url> <gameId> <msgpack|json> [options]");
  process.exit(2);
}
const opt = { until: null, base: null, awaitDisconnect: false, timeout: 20 };
for (let i = 0; i < rest.length; i++) {
  const a = rest[i];
  if (a === "--until") opt.until = Number(rest[++i]);
  else if (a === "--base") opt.base = JSON.parse(readFileSync(rest[++i], "utf8"));
  else if (a === "--await-disconnect") opt.awaitDisconnect = true;
  else if (a === "--timeout") opt.timeout = Number(rest[++i]);
  else {
    console.error(`unknown option ${a}`);
    process.exit(2);
  }
}

const print = (record) => process.stdout.write(JSON.stringify(record) + "\n");
const errors = [];
let finished = false;
let socket = null;
let mirror = null;
function finish(record, code = 0) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  socket?.close();
  process.stdout.write(JSON.stringify(record) + "\n", () => process.exit(code));
}
const fail = (message) => finish({ event: "error", message, errors }, 1);
process.on("uncaughtException", (e) => fail(`uncaught: ${e && e.stack ? e.stack : e}`));
process.on("unhandledRejection", (e) => fail(`unhandled: ${e && e.stack ? e.stack : e}`));
const timer = setTimeout(
  () => fail(`timed out after ${opt.timeout}s at seq ${mirror?.snapshot ? mirror.seq : null}`),
  opt.timeout * 1000,
);

// -- the shipped mirror over the shipped socket ------------------------------------------------
const { Mirror } = await load("src/mirror.ts");
const { CcvizSocket } = await load("src/socket.ts", { packages: true });

let joined = false;
let effects = 0;
let disconnected = null;

function checkDone() {
  if (!opt.awaitDisconnect && joined && (opt.until === null || mirror.seq >= opt.until)) {
    finish({ event: "done", snapshot: mirror.snapshot, updates: mirror.updates, rejoins: mirror.rejoins, effects });
  }
}

mirror = new Mirror(gameId, {
  state: checkDone,
  effect: () => (effects += 1),
  joined: (answer) => {
    if (!joined) {
      joined = true;
      // "current" (nothing new since the base) is a catch-up by deltas too: none.
      print({ event: "joined", sid: socket.socket.id, seq: mirror.seq, form: answer === "snapshot" ? "snapshot" : "deltas" });
    }
    checkDone();
  },
  error: (message) => fail(`mirror: ${message}`),
});
if (opt.base) mirror.takeSnapshot(opt.base); // the first join then asks with since = base.seq

// A server-side disconnect must stay down here: only a client that took it for an error (a
// "parse error", say) comes back by socket.io's own reconnection.
socket = new CcvizSocket({ url, serializer: mode, reconnectAfterServerDisconnectMs: null });
const raw = socket.socket;
socket.mirror(mirror);
raw.on("connect", () => {
  if (disconnected) finish({ event: "disconnected", ...disconnected, errors, reconnected: true });
});
raw.on("connect_error", (e) => errors.push(`connect_error: ${e.message}`));
raw.io.on("error", (e) => errors.push(`manager error: ${e.message}`));
raw.io.on("close", (reason, description) => {
  if (description) errors.push(`close ${reason}: ${description.message || description}`);
});
raw.on("disconnect", (reason, details) => {
  if (!opt.awaitDisconnect) {
    if (!finished) errors.push(`disconnect: ${reason}`);
    return;
  }
  disconnected = { reason, details: details ? String(details.message || details) : null };
  // wait a little: a clean server disconnect stays down, a "parse error" reconnects
  setTimeout(() => finish({ event: "disconnected", ...disconnected, errors, reconnected: false }), 600);
});
