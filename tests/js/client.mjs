// A plain socket.io-client mirror of one ccviz game, driven by tests/server/test_js_client.py.
//
//   node client.mjs <url> <gameId> <msgpack|json> [--until N] [--base FILE]
//                   [--await-disconnect] [--timeout SECONDS]
//
// It joins the game (with `since` when --base gives it a snapshot to start from), keeps the
// snapshot up to date with the JS twin of ccviz_kernel/deltas.py, re-joins on a gap in seq,
// and prints one JSON object per line on stdout:
//   {"event":"joined", sid, seq, form: "snapshot"|"deltas"}
//   {"event":"done", snapshot, updates, rejoins, effects}          once seq >= N (default: at once)
//   {"event":"disconnected", reason, errors, reconnected}          with --await-disconnect
//   {"event":"error", message}                                     then exit status 1
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

// -- the delta twin (ccviz_kernel/deltas.py apply_in_place) ---------------------------------
const clone = (v) => (v === null || typeof v !== "object" ? v : structuredClone(v));
export function applyDeltas(state, deltas) {
  for (const [op, path, value] of deltas) {
    let target = state;
    for (const key of path.slice(0, -1)) target = target[key];
    const last = path[path.length - 1];
    if (op === "set") target[last] = clone(value);
    else if (op === "merge") Object.assign(target[last], clone(value));
    else if (op === "inc") target[last] = (target[last] ?? 0) + value;
    else if (op === "del") delete target[last];
    else throw new Error(`unknown delta op ${JSON.stringify(op)}`);
  }
  return state;
}

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

let finished = false;
function finish(record, code = 0) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  socket.io.reconnection(false);
  socket.close();
  process.stdout.write(JSON.stringify(record) + "\n", () => process.exit(code));
}
const errors = [];
const fail = (message) => finish({ event: "error", message, errors }, 1);
process.on("uncaughtException", (e) => fail(`uncaught: ${e && e.stack ? e.stack : e}`));
const timer = setTimeout(
  () => fail(`timed out after ${opt.timeout}s at seq ${state ? state.seq : null}`),
  opt.timeout * 1000,
);

// -- the mirror ------------------------------------------------------------------------------
let state = opt.base; // the snapshot we hold (null until the first join answers)
let joining = false;
let joinedOnce = false;
let updates = 0;
let rejoins = 0;
let effects = 0;
let disconnected = null;

const socket = io(url, {
  transports: ["websocket"],
  ...(mode === "msgpack" ? { parser: msgpackParser } : {}),
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
  timeout: 5000,
});

function checkDone() {
  if (!opt.awaitDisconnect && state && (opt.until === null || state.seq >= opt.until)) {
    finish({ event: "done", snapshot: state, updates, rejoins, effects });
  }
}

function join(since) {
  joining = true;
  const data = since === undefined || since === null ? { gameId } : { gameId, since };
  socket.timeout(10000).emit("join-game", data, (err, ack) => {
    joining = false;
    if (err) return fail(`join-game: ${err.message}`);
    if (!ack || !ack.ok) return fail(`join-game refused: ${JSON.stringify(ack)}`);
    let form;
    if (ack.snapshot) {
      state = ack.snapshot;
      form = "snapshot";
    } else if (state && ack.from === state.seq + 1) {
      applyDeltas(state, ack.deltas);
      state.seq = ack.seq;
      form = "deltas";
    } else {
      return join(); // the catch-up does not fit what we hold: start again from a snapshot
    }
    if (!joinedOnce) {
      joinedOnce = true;
      process.stdout.write(
        JSON.stringify({ event: "joined", sid: socket.id, seq: state.seq, form }) + "\n",
      );
    }
    checkDone();
  });
}

socket.on("connect", () => {
  if (disconnected) {
    // only a client that took the server's disconnect for an error comes back on its own
    finish({ event: "disconnected", ...disconnected, errors, reconnected: true });
    return;
  }
  join(state ? state.seq : undefined);
});
socket.on("connect_error", (e) => errors.push(`connect_error: ${e.message}`));
socket.io.on("error", (e) => errors.push(`manager error: ${e.message}`));
socket.io.on("close", (reason, description) => {
  if (description) errors.push(`close ${reason}: ${description.message || description}`);
});

socket.on("game-state-update", (data) => {
  if (data.gameId !== gameId || !state || joining) return;
  if (data.seq <= state.seq) return; // already in the snapshot we were given
  if (data.from !== state.seq + 1) {
    rejoins += 1;
    return join(state.seq);
  }
  applyDeltas(state, data.deltas);
  updates += 1;
  checkDone();
});
socket.on("visualization-event", (data) => {
  if (data.gameId === gameId) effects += 1;
});

socket.on("disconnect", (reason, details) => {
  if (!opt.awaitDisconnect) {
    if (!finished) errors.push(`disconnect: ${reason}`);
    return;
  }
  disconnected = { reason, details: details ? String(details.message || details) : null };
  // wait a little: a clean server disconnect stays down, a "parse error" reconnects
  setTimeout(
    () => finish({ event: "disconnected", ...disconnected, errors, reconnected: false }),
    600,
  );
});
