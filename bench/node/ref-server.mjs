// The reference point for bench/fanout_bench.py: a plain Node socket.io 4.8 server doing
// what ccviz's server does on the hot path, and nothing smarter.
//
//   node ref-server.mjs --port P --token T --updates FILE [--fps F] [--effects inline|events]
//
// - socket.io 4.8, msgpack parser, websocket transport only, perMessageDeflate off;
// - POST /api/hooks (Bearer token): parses the hook JSON, gives it the next seq, answers
//   204, and emits `game-state-update` {gameId, from, seq, deltas, effects?} to room
//   "game-<session_id>". With --effects inline (the default: the protocol since effects
//   moved into the update) the pending effects ride inside the update (`effects`, at most
//   24, the oldest dropped; absent when there are none); with --effects events (the protocol
//   before) each one follows the update as its own `visualization-event` {gameId, ...effect}.
//   The bench picks whichever the ccviz under test does. The deltas and effects are the ones
//   ccviz's engine produces for the same payload sequence, precomputed by the bench (FILE
//   holds {snapshot, updates: [{deltas, effects}, ...]} for seq 1, 2, ..., cycled after its
//   end), so the messages have the same shape and size as ccviz's;
// - with --fps F > 0, the same leading-edge coalescing as ccviz (ccviz_kernel/server/broadcast.py):
//   at most one update per room per 1/F s (the frame starts when a flush starts), a burst
//   waits for the next frame; the update is sent on the next loop turn at the earliest
//   (after the POST is answered), never inside its handler;
// - join-game answers {ok, gameId, seq, snapshot}; GET /api/games/<id> answers {seq}.
// Prints "listening <port>" once ready.
import { readFileSync } from "node:fs";
import http from "node:http";
import { Server } from "socket.io";
import msgpackParser from "socket.io-msgpack-parser";

const args = process.argv.slice(2);
const opt = { port: 0, token: "", updates: null, fps: 0, effects: "inline" };
for (let i = 0; i < args.length; i++) {
  const key = args[i].replace(/^--/, "");
  if (!(key in opt)) throw new Error(`unknown option ${args[i]}`);
  opt[key] = args[++i];
}
const { snapshot, updates } = JSON.parse(readFileSync(opt.updates, "utf8"));
if (!["inline", "events"].includes(opt.effects)) throw new Error("--effects inline|events");
const inline = opt.effects === "inline";
const frame = Number(opt.fps) > 0 ? 1000 / Number(opt.fps) : 0;
const MAX_EFFECTS_PER_FRAME = 24;
const MAX_BODY = 1 << 20;

const games = new Map(); // gameId -> {seq, start, deltas, effects, lastSent, timer}
function game(id) {
  let g = games.get(id);
  if (!g) games.set(id, (g = { seq: 0, start: 0, deltas: [], effects: [], lastSent: -1e9, timer: null }));
  return g;
}

function flush(id) {
  const g = games.get(id);
  g.timer = null;
  if (!g.deltas.length) return;
  const room = io.to(`game-${id}`);
  const update = { gameId: id, from: g.start, seq: g.seq, deltas: g.deltas };
  const effects = g.effects;
  if (inline && effects.length) update.effects = effects;
  g.deltas = [];
  g.effects = [];
  g.lastSent = performance.now(); // as ccviz: the frame starts when the flush does
  room.emit("game-state-update", update);
  if (!inline) for (const effect of effects) room.emit("visualization-event", { gameId: id, ...effect });
}

function ingest(id) {
  const g = game(id);
  g.seq += 1;
  const u = updates[(g.seq - 1) % updates.length];
  if (!g.deltas.length) g.start = g.seq;
  for (const d of u.deltas) g.deltas.push(d);
  for (const e of u.effects) g.effects.push({ ...e, seq: g.seq });
  if (g.effects.length > MAX_EFFECTS_PER_FRAME) g.effects.splice(0, g.effects.length - MAX_EFFECTS_PER_FRAME);
  if (g.timer) return;
  // as ccviz (server/broadcast.py): never inside the POST's handler, at the earliest on the
  // next loop turn (after this answer is written), else at the next frame boundary
  const wait = g.lastSent + frame - performance.now();
  g.timer = wait <= 0 ? setImmediate(flush, id) : setTimeout(flush, wait, id);
}

function cancel(timer) {
  clearTimeout(timer);
  clearImmediate(timer);
}

const httpServer = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/api/hooks") {
    if (req.headers.authorization !== `Bearer ${opt.token}`) {
      res.writeHead(403).end("wrong token\n");
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on("end", () => {
      let payload;
      try {
        if (size > MAX_BODY) throw new Error("too large");
        payload = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        res.writeHead(400).end(`${e.message}\n`);
        return;
      }
      const id = payload && payload.session_id;
      if (typeof id !== "string") {
        res.writeHead(400).end("no session_id\n");
        return;
      }
      ingest(id);
      res.writeHead(204).end();
    });
    return;
  }
  const m = req.method === "GET" && req.url.match(/^\/api\/games\/([^/?]+)$/);
  if (m) {
    const g = games.get(decodeURIComponent(m[1]));
    res.writeHead(g ? 200 : 404, { "content-type": "application/json" });
    res.end(JSON.stringify(g ? { seq: g.seq } : { error: "no game" }));
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(httpServer, {
  parser: msgpackParser,
  transports: ["websocket"],
  perMessageDeflate: false,
  serveClient: false,
  pingInterval: 25000,
  pingTimeout: 60000,
});

io.on("connection", (socket) => {
  socket.on("join-game", (data, ack) => {
    const id = data && data.gameId;
    if (typeof id !== "string" || typeof ack !== "function") {
      if (typeof ack === "function") ack({ ok: false, error: "join-game needs {gameId}" });
      return;
    }
    socket.join(`game-${id}`);
    if (games.get(id) && games.get(id).timer) {
      cancel(games.get(id).timer);
      flush(id);
    }
    const seq = games.get(id) ? games.get(id).seq : 0;
    ack({ ok: true, gameId: id, seq, snapshot: { ...snapshot, gameId: id, seq } });
  });
});

httpServer.keepAliveTimeout = 0; // the load generator keeps one connection, idle at times
httpServer.listen(Number(opt.port), "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    httpServer.close();
    process.exit(0);
  });
}
