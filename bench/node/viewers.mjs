// Load clients for bench/fanout_bench.py: one Node process holding many viewers of one game,
// recording when each seq arrives.
//
//   node viewers.mjs --url ORIGIN --game G --count N [--path /socket.io] [--mode sio|raw]
//                    [--header "Name: value"] [--auth JSON] [--parser msgpack|json]
//                    [--batch 50] [--timeout 300]   (seconds this process may live)
//
// --url is the server's origin (http://127.0.0.1:P), --path the socket.io path under it
// (Jupyter: /ccviz/socket.io); --header is sent at the websocket upgrade (Jupyter:
// "Authorization: token T"), --auth is socket.io's CONNECT auth ({"token": ...}).
//
// Two kinds of viewer:
// - sio (default): socket.io-client 4.8 (msgpack parser, websocket only), what a page runs;
// - raw: a bare websocket (the `ws` package) speaking Engine.IO v4 + socket.io v5 by hand
//   with the msgpack parser's framing (binary frames, each one msgpack-encoded socket.io
//   packet {type, nsp, data, id}); answers Engine.IO pings "2" with "3", decodes every packet
//   whole. A viewer costs a fraction of socket.io-client's CPU per message, so one client
//   core can keep up with a faster server.
//
// Both count every socket.io packet received ("messages"), the `game-state-update`s
// ("updates") and the effects, wherever they come: inside an update (`effects: [...]`, the
// protocol since the effects moved into the update) or as `visualization-event`s (before).
//
// stdout, one JSON object per line:
//   {"event":"ready", connected, failed, errors}      once every viewer has joined (or failed)
//   {"event":"report", ...}                           after a report command, then it exits
// stdin, one JSON object per line:
//   {"cmd":"status"} answers {"event":"status", min, messages, updates, effects_inline,
//     effect_events} (the oldest seq any viewer here holds; counts so far);
//   {"cmd":"measure", "first": s0, "send": [t(s0), ...]} answers {"event":"measure", ...}:
//     send times in epoch milliseconds (the load generator's clock); each viewer's receipt
//     time of every seq in that range becomes a latency (receipt − send) in a histogram:
//     0.01 ms bins below 100 ms (sparse [bin, count] pairs) and raw values above; per seq, the
//     slowest of this process's viewers ("worst", to tell a stalled event from a slow viewer);
//   {"cmd":"report", ...}: the same, then the viewers close and the process exits.
// Receipt time is taken when the message is decoded, on performance.timeOrigin + now().
// Memory: per viewer, one (from, seq, time) triple per update received (not per seq).
import net from "node:net";
import { createInterface } from "node:readline";
import notepack from "notepack.io";
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import WebSocket from "ws";

const args = process.argv.slice(2);
const opt = {
  url: "",
  path: "/socket.io",
  game: "",
  count: 1,
  mode: "sio",
  header: "",
  auth: "",
  "max-seq": 0, // accepted, unused (older benches sized a table with it)
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
const now = () => performance.timeOrigin + performance.now();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const headers = {};
if (opt.header) {
  const at = opt.header.indexOf(":");
  headers[opt.header.slice(0, at).trim()] = opt.header.slice(at + 1).trim();
}
const auth = opt.auth ? JSON.parse(opt.auth) : undefined;
const path = opt.path.replace(/\/+$/, "") + "/";

const stats = { messages: 0, updates: 0, effects_inline: 0, effect_events: 0, gaps: 0, disconnects: 0 };
const lastSeq = new Float64Array(count).fill(-1); // per viewer: the newest seq it holds
const logs = []; // per viewer: {buf: Float64Array of (from, seq, t) triples, n}
const closers = [];
const errors = [];

function makeOnUpdate(k) {
  const log = (logs[k] = { buf: new Float64Array(3 * 256), n: 0 });
  let last = -1;
  const onUpdate = (d) => {
    const t = now();
    stats.updates += 1;
    const effects = d.effects; // an array (sio) or how many there were (raw)
    if (effects) stats.effects_inline += typeof effects === "number" ? effects : effects.length;
    if (last >= 0 && d.from !== last + 1 && d.seq > last) stats.gaps += 1;
    if (d.seq > last) last = lastSeq[k] = d.seq;
    if (log.n * 3 + 3 > log.buf.length) {
      const bigger = new Float64Array(log.buf.length * 2);
      bigger.set(log.buf);
      log.buf = bigger;
    }
    log.buf[log.n * 3] = d.from;
    log.buf[log.n * 3 + 1] = d.seq;
    log.buf[log.n * 3 + 2] = t;
    log.n += 1;
  };
  onUpdate.joined = (seq) => {
    last = lastSeq[k] = seq;
  };
  return onUpdate;
}

function onEffect() {
  stats.effect_events += 1;
}

function sioViewer(k) {
  return new Promise((resolve) => {
    const socket = io(opt.url, {
      path,
      forceNew: true,
      transports: ["websocket"],
      ...(opt.parser === "msgpack" ? { parser: msgpackParser } : {}),
      ...(auth ? { auth } : {}),
      extraHeaders: headers,
      reconnection: false,
      timeout: 20000,
    });
    closers.push(() => socket.close());
    const onUpdate = makeOnUpdate(k);
    let settled = false;
    const done = (ok, why) => {
      if (settled) return;
      settled = true;
      if (!ok && errors.length < 10) errors.push(why);
      resolve(ok);
    };
    socket.onAny(() => {
      stats.messages += 1;
    });
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

// socket.io v5 packet types
const CONNECT = 0;
const EVENT = 2;
const ACK = 3;
const CONNECT_ERROR = 4;

// A bare viewer's binary messages (socket.io packets, msgpack), whichever transport carries
// them: CONNECT → join-game → its ack, then every event counted. `joined` tells the caller's
// close handler whether a disconnect counts.
function binaryMessages(onUpdate, send, done) {
  const state = { joined: false };
  state.take = (data) => {
    if (state.joined) {
      stats.messages += 1;
      const event = peekEvent(data);
      if (event === null) return;
      const [name, info] = event;
      if (name === "game-state-update") onUpdate(info);
      else if (name === "visualization-event") onEffect();
      return;
    }
    const packet = notepack.decode(data);
    if (packet.type === CONNECT) send({ type: EVENT, nsp: "/", data: ["join-game", { gameId: opt.game }], id: 1 });
    else if (packet.type === CONNECT_ERROR) done(false, `connect_error: ${JSON.stringify(packet.data)}`);
    else if (packet.type === ACK && packet.id === 1) {
      const ack = packet.data && packet.data[0];
      if (!ack || !ack.ok) return done(false, `join: ${JSON.stringify(ack)}`);
      state.joined = true;
      onUpdate.joined(ack.seq);
      done(true);
    }
  };
  return state;
}

function rawViewer(k) {
  return new Promise((resolve) => {
    const url = `${opt.url.replace(/^http/, "ws").replace(/\/+$/, "")}${path}?EIO=4&transport=websocket`;
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    closers.push(() => ws.terminate());
    const onUpdate = makeOnUpdate(k);
    let settled = false;
    const binary = binaryMessages(onUpdate, (packet) => send(packet), (ok, why) => done(ok, why));
    const done = (ok, why) => {
      if (settled) return;
      settled = true;
      clearTimeout(giveUp);
      if (!ok) {
        if (errors.length < 10) errors.push(why);
        ws.terminate();
      }
      resolve(ok);
    };
    const giveUp = setTimeout(() => done(false, "no join within 20 s"), 20000);
    const send = (packet) => ws.send(notepack.encode(packet));
    ws.on("error", (e) => done(false, `websocket: ${e.message}`));
    ws.on("close", () => {
      if (binary.joined) stats.disconnects += 1;
      done(false, "closed");
    });
    ws.on("message", (data, isBinary) => {
      if (!isBinary) {
        const text = data.toString();
        if (text === "2") ws.send("3");
        else if (text[0] === "0") send(auth ? { type: CONNECT, nsp: "/", data: auth } : { type: CONNECT, nsp: "/" });
        else if (text[0] === "1") ws.terminate();
        return;
      }
      binary.take(data);
    });
  });
}

// A msgpack walker for the raw viewers: the update's `from`, `seq` and number of effects
// without building the deltas (decoding them whole costs the client core more than the
// server spends sending them, and the bench measures the server). Any key order.
function skip(b, i) {
  const t = b[i];
  if (t < 0x80 || t >= 0xe0) return i + 1; // fixints
  if (t < 0x90) return skipN(b, i + 1, 2 * (t & 0x0f)); // fixmap
  if (t < 0xa0) return skipN(b, i + 1, t & 0x0f); // fixarray
  if (t < 0xc0) return i + 1 + (t & 0x1f); // fixstr
  switch (t) {
    case 0xc0: case 0xc2: case 0xc3: return i + 1;
    case 0xc4: case 0xd9: return i + 2 + b[i + 1];
    case 0xc5: case 0xda: return i + 3 + b.readUInt16BE(i + 1);
    case 0xc6: case 0xdb: return i + 5 + b.readUInt32BE(i + 1);
    case 0xc7: return i + 3 + b[i + 1];
    case 0xc8: return i + 4 + b.readUInt16BE(i + 1);
    case 0xc9: return i + 6 + b.readUInt32BE(i + 1);
    case 0xca: return i + 5;
    case 0xcb: return i + 9;
    case 0xcc: case 0xd0: return i + 2;
    case 0xcd: case 0xd1: return i + 3;
    case 0xce: case 0xd2: return i + 5;
    case 0xcf: case 0xd3: return i + 9;
    case 0xd4: return i + 3;
    case 0xd5: return i + 4;
    case 0xd6: return i + 6;
    case 0xd7: return i + 10;
    case 0xd8: return i + 18;
    case 0xdc: return skipN(b, i + 3, b.readUInt16BE(i + 1));
    case 0xdd: return skipN(b, i + 5, b.readUInt32BE(i + 1));
    case 0xde: return skipN(b, i + 3, 2 * b.readUInt16BE(i + 1));
    case 0xdf: return skipN(b, i + 5, 2 * b.readUInt32BE(i + 1));
    default: throw new Error(`msgpack type 0x${t.toString(16)}`);
  }
}
function skipN(b, i, n) {
  for (let k = 0; k < n; k++) i = skip(b, i);
  return i;
}
// [length, index after the header] of a map / array / string at i
function header(b, i) {
  const t = b[i];
  if ((t >= 0x80 && t < 0xa0) || (t >= 0xa0 && t < 0xc0)) return [t & (t < 0xa0 ? 0x0f : 0x1f), i + 1];
  switch (t) {
    case 0xd9: return [b[i + 1], i + 2];
    case 0xda: case 0xdc: case 0xde: return [b.readUInt16BE(i + 1), i + 3];
    case 0xdb: case 0xdd: case 0xdf: return [b.readUInt32BE(i + 1), i + 5];
    default: return [-1, i];
  }
}
function str(b, i) {
  const [n, at] = header(b, i);
  return [b.toString("latin1", at, at + n), at + n];
}
function int(b, i) {
  const t = b[i];
  if (t < 0x80) return t;
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xcc: return b[i + 1];
    case 0xcd: return b.readUInt16BE(i + 1);
    case 0xce: return b.readUInt32BE(i + 1);
    case 0xcf: return Number(b.readBigUInt64BE(i + 1));
    case 0xd0: return b.readInt8(i + 1);
    case 0xd1: return b.readInt16BE(i + 1);
    case 0xd2: return b.readInt32BE(i + 1);
    case 0xd3: return Number(b.readBigInt64BE(i + 1));
    default: return NaN;
  }
}
// An EVENT packet {type, nsp, data: [name, payload], ...}: [name, {from, seq, effects}] with
// effects the number of entries of payload.effects (0 when absent); null for other packets.
function peekEvent(b) {
  let [n, i] = header(b, 0);
  let type = -1;
  let name = null;
  let info = null;
  for (let k = 0; k < n; k++) {
    let key;
    [key, i] = str(b, i);
    if (key === "type") {
      type = int(b, i);
      i = skip(b, i);
    } else if (key === "data") {
      let [m, j] = header(b, i);
      if (m >= 1) [name, j] = str(b, j);
      if (m >= 2 && name === "game-state-update") {
        info = { from: NaN, seq: NaN, effects: 0 };
        let [fields, f] = header(b, j);
        for (let q = 0; q < fields; q++) {
          let field;
          [field, f] = str(b, f);
          if (field === "from") info.from = int(b, f);
          else if (field === "seq") info.seq = int(b, f);
          else if (field === "effects") info.effects = Math.max(0, header(b, f)[0]);
          f = skip(b, f);
        }
      }
      i = skip(b, i);
    } else i = skip(b, i);
  }
  return type === EVENT ? [name, info] : null;
}

// The raw viewer on a bare TCP socket: the websocket handshake and framing by hand (RFC 6455;
// the client's frames masked with a zero key, the server's never fragmented by these
// servers, control frames answered), so each message costs the client core only the read,
// the frame header and the walk above. Same protocol, same counts as rawViewer.
function netViewer(k) {
  return new Promise((resolve) => {
    const target = new URL(opt.url);
    const socket = net.connect({ host: target.hostname, port: Number(target.port), noDelay: true });
    closers.push(() => socket.destroy());
    const onUpdate = makeOnUpdate(k);
    let settled = false;
    const binary = binaryMessages(onUpdate, (packet) => send(packet), (ok, why) => done(ok, why));
    let upgraded = false;
    let buf = Buffer.alloc(0);
    const done = (ok, why) => {
      if (settled) return;
      settled = true;
      clearTimeout(giveUp);
      if (!ok) {
        if (errors.length < 10) errors.push(why);
        socket.destroy();
      }
      resolve(ok);
    };
    const giveUp = setTimeout(() => done(false, "no join within 20 s"), 20000);
    const frame = (opcode, payload) => {
      const n = payload.length;
      const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]);
      socket.write(Buffer.concat([head, Buffer.alloc(4), payload])); // zero mask: payload as is
    };
    const sendText = (text) => frame(0x1, Buffer.from(text));
    const send = (packet) => frame(0x2, Buffer.from(notepack.encode(packet)));
    const onText = (text) => {
      if (text === "2") sendText("3");
      else if (text[0] === "0") send(auth ? { type: CONNECT, nsp: "/", data: auth } : { type: CONNECT, nsp: "/" });
      else if (text[0] === "1") socket.destroy();
    };
    const onBinary = (data) => {
      binary.take(data);
    };
    socket.on("connect", () => {
      const key = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString("base64");
      const lines = [
        `GET ${path}?EIO=4&transport=websocket HTTP/1.1`,
        `Host: ${target.host}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${key}`,
        "Sec-WebSocket-Version: 13",
        ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      ];
      socket.write(lines.join("\r\n") + "\r\n\r\n");
    });
    socket.on("error", (e) => done(false, `socket: ${e.message}`));
    socket.on("close", () => {
      if (binary.joined) stats.disconnects += 1;
      done(false, "closed");
    });
    socket.on("data", (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const status = buf.toString("latin1", 0, end).split(" ", 2)[1];
        if (status !== "101") return done(false, `upgrade answered ${buf.toString("latin1", 0, Math.min(end, 200))}`);
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      let i = 0;
      while (buf.length - i >= 2) {
        const b0 = buf[i];
        let n = buf[i + 1] & 0x7f;
        let at = i + 2;
        if (n === 126) {
          if (buf.length - i < 4) break;
          n = buf.readUInt16BE(i + 2);
          at = i + 4;
        } else if (n === 127) {
          if (buf.length - i < 10) break;
          n = Number(buf.readBigUInt64BE(i + 2));
          at = i + 10;
        }
        if (buf.length < at + n) break;
        const payload = buf.subarray(at, at + n);
        i = at + n;
        const opcode = b0 & 0x0f;
        if (opcode === 0x2) onBinary(payload);
        else if (opcode === 0x1) onText(payload.toString());
        else if (opcode === 0x9) frame(0xa, payload);
        else if (opcode === 0x8) socket.destroy();
      }
      buf = i === buf.length ? Buffer.alloc(0) : buf.subarray(i);
    });
  });
}

const viewer = { sio: sioViewer, raw: rawViewer, tcp: netViewer }[opt.mode];
if (!viewer) throw new Error("--mode sio|raw|tcp");

async function connectAll() {
  let connected = 0;
  for (let k = 0; k < count; k += Number(opt.batch)) {
    const batch = [];
    for (let j = k; j < Math.min(count, k + Number(opt.batch)); j++) batch.push(viewer(j));
    for (const ok of await Promise.all(batch)) connected += ok ? 1 : 0;
  }
  return connected;
}

function measure(first, send) {
  const fine = new Map();
  const slow = [];
  let received = 0;
  let lost = 0;
  const n = send.length;
  const last = first + n - 1;
  const worst = new Float64Array(n); // per seq: the slowest viewer here
  const seen = new Float64Array(n);
  for (let k = 0; k < count; k++) {
    seen.fill(0);
    const log = logs[k];
    if (log) {
      const buf = log.buf;
      for (let u = 0; u < log.n; u++) {
        const from = buf[u * 3];
        const seq = buf[u * 3 + 1];
        if (seq < first || from > last) continue;
        const t = buf[u * 3 + 2];
        const hi = Math.min(seq, last);
        for (let s = Math.max(from, first); s <= hi; s++) if (seen[s - first] === 0) seen[s - first] = t;
      }
    }
    for (let i = 0; i < n; i++) {
      const t = seen[i];
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
    say({ event: "status", min, ...stats });
    return;
  }
  if (cmd.cmd === "measure") {
    say({ event: "measure", ...measure(cmd.first, cmd.send) });
    return;
  }
  if (cmd.cmd !== "report") return;
  const out = measure(cmd.first, cmd.send);
  for (const close of closers) close();
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ event: "report", ...out }) + "\n", () => process.exit(0));
});
rl.on("close", () => process.exit(0));
