// Load clients for bench/fanout_bench.py: one Node process holding many socket.io-client
// viewers (msgpack parser, websocket only) of one game, recording when each seq arrives.
//
//   node viewers.mjs --url U --game G --count N --max-seq M [--parser msgpack|json]
//                    [--batch 50] [--timeout 300]   (seconds this process may live)
//
// stdout, one JSON object per line:
//   {"event":"ready", connected, failed, errors}      once every viewer has joined (or failed)
//   {"event":"report", ...}                           after a report command, then it exits
// stdin, one JSON object per line: {"cmd":"status"} answers {"event":"status", min, messages}
//   (the oldest seq any viewer here holds, messages so far); {"cmd":"report", "first": s0,
//   "send": [t(s0), ...]}
//   send times in epoch milliseconds (the load generator's clock); each viewer's receipt time
//   of every seq in that range becomes a latency (receipt − send) in a histogram:
//   0.01 ms bins below 100 ms (sparse [bin, count] pairs) and raw values above; and, per seq,
//   the slowest of this process's viewers ("worst", to tell a stalled event from a slow viewer).
// Receipt time is taken in the socket.io event handler, on performance.timeOrigin + now().
import { createInterface } from "node:readline";
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const args = process.argv.slice(2);
const opt = {
  url: "",
  game: "",
  count: 1,
  "max-seq": 10000,
  parser: "msgpack",
  batch: 50,
  timeout: 300,
};
for (let i = 0; i < args.length; i++) {
  const key = args[i].replace(/^--/, "");
  if (!(key in opt)) throw new Error(`unknown option ${args[i]}`);
  opt[key] = args[++i];
}
const count = Number(opt.count);
const maxSeq = Number(opt["max-seq"]);
const width = maxSeq + 1;
const now = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const recv = new Float64Array(count * width); // 0 = not received
const lastSeq = new Float64Array(count).fill(-1); // per viewer: the newest seq it holds
const stats = { messages: 0, updates: 0, effects: 0, gaps: 0, disconnects: 0 };
const sockets = [];
const errors = [];

function makeOnUpdate(k) {
  const base = k * width;
  let last = -1;
  const onUpdate = (d) => {
    const t = now();
    stats.messages += 1;
    stats.updates += 1;
    if (last >= 0 && d.from !== last + 1 && d.seq > last) stats.gaps += 1;
    if (d.seq > last) last = lastSeq[k] = d.seq;
    const hi = Math.min(d.seq, maxSeq);
    for (let s = Math.max(d.from, 0); s <= hi; s++) if (recv[base + s] === 0) recv[base + s] = t;
  };
  onUpdate.joined = (seq) => {
    last = lastSeq[k] = seq;
  };
  return onUpdate;
}

function onEffect() {
  stats.messages += 1;
  stats.effects += 1;
}

function viewer(k) {
  return new Promise((resolve) => {
    const socket = io(opt.url, {
      forceNew: true,
      transports: ["websocket"],
      ...(opt.parser === "msgpack" ? { parser: msgpackParser } : {}),
      reconnection: false,
      timeout: 20000,
    });
    sockets.push(socket);
    const onUpdate = makeOnUpdate(k);
    let settled = false;
    const done = (ok, why) => {
      if (settled) return;
      settled = true;
      if (!ok && errors.length < 10) errors.push(why);
      resolve(ok);
    };
    socket.on("game-state-update", onUpdate);
    socket.on("visualization-event", onEffect);
    socket.on("disconnect", () => {
      stats.disconnects += 1;
    });
    socket.on("connect_error", (e) => done(false, `connect_error: ${e.message}`));
    socket.on("connect", () => {
      socket.timeout(20000).emit("join-game", { gameId: opt.game }, (err, ack) => {
        if (err || !ack || !ack.ok) return done(false, `join: ${err ? err.message : JSON.stringify(ack)}`);
        onUpdate.joined(ack.seq);
        done(true);
      });
    });
  });
}

async function connectAll() {
  let connected = 0;
  for (let k = 0; k < count; k += Number(opt.batch)) {
    const batch = [];
    for (let j = k; j < Math.min(count, k + Number(opt.batch)); j++) batch.push(viewer(j));
    for (const ok of await Promise.all(batch)) connected += ok ? 1 : 0;
  }
  return connected;
}

function report(first, send) {
  const fine = new Map();
  const slow = [];
  let received = 0;
  let lost = 0;
  const worst = new Float64Array(send.length); // per seq: the slowest viewer here
  for (let k = 0; k < count; k++) {
    const base = k * width;
    for (let i = 0; i < send.length; i++) {
      const s = first + i;
      const t = s <= maxSeq ? recv[base + s] : 0;
      if (t === 0) {
        lost += 1;
        continue;
      }
      received += 1;
      const lat = t - send[i];
      if (lat > worst[i]) worst[i] = lat;
      if (lat < 100) {
        const bin = Math.max(0, Math.floor(lat * 100));
        fine.set(bin, (fine.get(bin) || 0) + 1);
      } else slow.push(lat);
    }
  }
  return {
    received,
    lost,
    fine: [...fine.entries()],
    slow,
    worst: Array.from(worst, (x) => Math.round(x * 100) / 100),
    ...stats,
    viewers: count,
  };
}

const timer = setTimeout(() => {
  say({ event: "error", message: `no report command within ${opt.timeout}s of start` });
  process.exit(1);
}, Number(opt.timeout) * 1000);

const connected = await connectAll();
say({ event: "ready", connected, failed: count - connected, errors });

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === "status") {
    let min = Infinity;
    for (const seq of lastSeq) if (seq < min) min = seq;
    say({ event: "status", min, messages: stats.messages });
    return;
  }
  if (cmd.cmd !== "report") return;
  const out = report(cmd.first, cmd.send);
  for (const s of sockets) s.close();
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ event: "report", ...out }) + "\n", () => process.exit(0));
});
rl.on("close", () => process.exit(0));
