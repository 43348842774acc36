#!/usr/bin/env node
// A tiny dev server for the views, next to a running `ccviz serve` (start that one with
// `--cors-origin http://127.0.0.1:<this port>`):
//
//   node dev/serve.mjs [--port 8781] [--server http://127.0.0.1:8780] [--json]
//
//   /, /view/<id>         the standalone page, as the ccviz server will serve it (plus a
//                         ccviz-server meta tag, since socket.io lives on another origin here)
//   /widget.html?game=ID  the anywidget entry with a stand-in model (socketio transport;
//                         &transport=comm feeds it through a fake comm from /api/games/ID)
//   /static/*             ../ccviz_kernel/static/*
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = join(here, "..", "..", "ccviz_kernel", "static");
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const port = Number(opt("port", "8781"));
const server = opt("server", process.env.CCVIZ_URL || "http://127.0.0.1:8780");
const serializer = argv.includes("--json") ? "json" : "msgpack";

const attr = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The HTML shell the ccviz server serves (README.md: "Meta tags"). */
function shell(base) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="ccviz-base" content="${attr(base)}">
<meta name="ccviz-serializer" content="${serializer}">
<meta name="ccviz-server" content="${attr(server)}">
<title>ccviz</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${attr(base)}static/page.css">
</head>
<body><div id="app"></div><script type="module" src="${attr(base)}static/page.js"></script></body>
</html>`;
}

const widgetPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>ccviz widget</title><link rel="icon" href="data:,">
<style>body{margin:16px;background:#fff;font:14px sans-serif} .cell{margin:12px 0;border:1px solid #ddd}</style>
</head><body>
<div id="out" class="cell"></div>
<script type="module">
import widget from "/static/widget.js";
const q = new URLSearchParams(location.search);
const server = ${JSON.stringify(server)};
const traits = {
  transport: q.get("transport") || "socketio",
  server_url: server,
  socketio_path: "/socket.io",
  game_id: q.get("game") || "",
  token: q.get("token") || "",
  serializer: ${JSON.stringify(serializer)},
  width: Number(q.get("width") || 800),
  height: Number(q.get("height") || 500),
};
const handlers = {};
const model = {
  get: (k) => traits[k],
  on: (ev, f) => ((handlers[ev] ??= []).push(f)),
  off: (ev, f) => { handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); },
  send: async (msg) => {
    // The fake comm answers a join with the snapshot from the HTTP API.
    if (msg.type !== "join") return;
    const snap = await (await fetch(server + "/api/games/" + encodeURIComponent(traits.game_id))).json();
    for (const f of handlers["msg:custom"] || []) f({ type: "snapshot", snapshot: snap });
  },
};
window.__model = model;
window.__cleanup = widget.render({ model, el: document.getElementById("out") });
</script></body></html>`;

const TYPES = { ".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".map": "application/json" };

createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const path = url.pathname;
  try {
    if (path.startsWith("/static/")) {
      const file = normalize(join(staticDir, path.slice("/static/".length)));
      if (!file.startsWith(staticDir)) throw new Error("outside");
      const body = await readFile(file);
      res.writeHead(200, { "Content-Type": TYPES[extname(file)] || "application/octet-stream", "Cache-Control": "no-store" });
      return res.end(body);
    }
    if (path === "/widget.html") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return res.end(widgetPage);
    }
    if (path === "/" || path.startsWith("/view/")) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      return res.end(shell("/"));
    }
    res.writeHead(404).end("not found\n");
  } catch {
    res.writeHead(404).end("not found\n");
  }
}).listen(port, "127.0.0.1", () => {
  console.log(`dev page on http://127.0.0.1:${port}/ (socket.io: ${server}, ${serializer})`);
});
