// The standalone page: a live lobby of games at the base path, one game full-window at
// `view/<gameId>`. The server describes itself in meta tags (see README.md):
//   <meta name="ccviz-base" content="./">             where the page and socket.io live (relative)
//   <meta name="ccviz-serializer" content="msgpack">  or "json"
//   <meta name="ccviz-game" content="<id>">           optional: show this game
//   <meta name="ccviz-server" content="http://…">     optional: socket.io on another origin (dev)
// A page exported by `ccviz export` instead holds the game's offline log in
// <script type="application/octet-stream" id="ccviz-offline"> and talks to nobody (offline.ts).
import "./page.css";
import { inferBase, normalizeBase, normalizeSocketPath, routeOf } from "./paths";
import { CcvizSocket } from "./socket";
import { el, meta, notifyOn, STATUS_TEXT, withToken } from "./dom";
import { lobbyPage } from "./lobby";
import { decodeOfflineLog, OfflineGame } from "./offline";
import { PermissionPanel } from "./permissions";
import { parseDeepLink, Player, type DeepLink } from "./player/player";
import { socketSource, type HistorySource } from "./player/source";
import type { Snapshot } from "./types";
import { TownView, type DebugHandle } from "./view";

declare global {
  interface Window {
    __ccviz?: Partial<DebugHandle> & Record<string, unknown>;
  }
}

function start(): void {
  const offline = document.getElementById("ccviz-offline");
  if (offline) return void offlinePage(offline.textContent ?? "");
  const metaBase = meta("ccviz-base");
  // The shell's base is relative to the page (./ or ../): resolved here, it is the mount
  // under whatever prefix a reverse proxy added.
  const base = metaBase ? normalizeBase(new URL(metaBase, location.href).pathname) : inferBase(location.pathname);
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const socket = new CcvizSocket({
    url: meta("ccviz-server") || null,
    path: normalizeSocketPath(`${base}socket.io`),
    serializer: meta("ccviz-serializer") || "msgpack",
    token,
  });
  const errors: string[] = [];
  window.addEventListener("error", (e) => errors.push(String(e.message || e.error)));
  window.addEventListener("unhandledrejection", (e) => errors.push(`unhandled: ${String(e.reason)}`));
  const app = document.getElementById("app") ?? document.body.appendChild(el("div", { id: "app" }));
  const forced = meta("ccviz-game");
  const route = forced ? { page: "game" as const, gameId: forced } : routeOf(location.pathname, base);
  if (route.page === "game") gamePage(app, socket, route.gameId, base, token, errors);
  else lobbyPage(app, socket, base, token, errors);
}

// -- one game ------------------------------------------------------------------------------

function gamePage(
  app: HTMLElement,
  socket: CcvizSocket,
  gameId: string,
  base: string,
  token: string | null,
  errors: string[],
): void {
  const back = el("a", { class: "back", href: withToken(base, token), title: "All sessions" }, "←", el("span", { class: "back-text" }, " sessions"));
  const source = socketSource(socket, gameId, !!token);
  const view = gameScreen(app, gameId, source, parseDeepLink(location.search), errors, back);
  const permissions = new PermissionPanel(view, source, "page");
  Object.defineProperties(window.__ccviz, {
    permissions: { value: () => permissions.shown(), enumerable: true },
    permissionAcks: { value: () => structuredClone(permissions.acks), enumerable: true },
  });
  socket.onStatus((s) => view.setStatus(s in STATUS_TEXT ? STATUS_TEXT[s] : s));
  socket.mirror(view.mirror);
  notifyWhenAsked(view, gameId);
}

/** With "Notify me" on (the lobby's choice, kept for this origin), a browser notification
 * when a request opens in this game while its tab is not in view; the ones open when the
 * page came are not news. */
function notifyWhenAsked(view: TownView, gameId: string): void {
  const known = new Set<string>();
  let first = true;
  view.onState((snap) => {
    const open = Object.values(snap.permissions ?? {}).filter((p) => p.state === "open");
    const fresh = open.filter((p) => !known.has(p.id));
    for (const p of fresh) known.add(p.id);
    if (first) return void (first = false);
    if (!fresh.length || document.visibilityState === "visible" || !notifyOn()) return;
    for (const p of fresh) {
      const who = snap.agents?.[p.agent]?.name ?? "Claude";
      const title = `${snap.title || gameId.slice(0, 8)}: ${who} ${(p.kind ?? "permission") === "permission" ? "asks permission" : "asks you"}`;
      try {
        const n = new Notification(title, { body: p.text ?? "", tag: `ccviz-${gameId}-${p.id}` });
        n.onclick = () => window.focus(); // this very page: it shows the request
      } catch {
        /* a browser that refuses page notifications */
      }
    }
  });
}

/** An exported game (`ccviz export`): the log inline, no socket, no lobby. It opens on the
 * first event and plays, as a replay one was sent should; `?seq=`/`?t=`/`&play=` still
 * choose where. */
async function offlinePage(text: string): Promise<void> {
  const errors: string[] = [];
  window.addEventListener("error", (e) => errors.push(String(e.message || e.error)));
  window.addEventListener("unhandledrejection", (e) => errors.push(`unhandled: ${String(e.reason)}`));
  const app = document.getElementById("app") ?? document.body.appendChild(el("div", { id: "app" }));
  let game: OfflineGame;
  try {
    game = new OfflineGame(await decodeOfflineLog(text));
  } catch (err) {
    errors.push(`offline log: ${(err as Error).message}`);
    app.append(el("p", { class: "offline-error" }, `ccviz: this file's game cannot be read (${(err as Error).message})`));
    window.__ccviz = { errors };
    return;
  }
  const link = parseDeepLink(location.search) ?? { seq: 0, t: null, play: true };
  const view = gameScreen(app, game.gameId, game, link, errors, null);
  view.mirror.attach(game.transport());
  view.mirror.connected();
}

/** The town full-window with the player bar under it (player/): live, the viewer's own
 * playhead, or the presenter's replay. Returns the view for its transport to feed. */
function gameScreen(
  app: HTMLElement,
  gameId: string,
  source: HistorySource,
  link: DeepLink | null,
  errors: string[],
  back: HTMLElement | null,
): TownView {
  document.body.classList.add("ccviz-game");
  document.title = "ccviz";
  const stage = el("div", { class: "stage" });
  app.append(stage);
  const view = new TownView({ parent: stage, gameId });
  if (back) app.append(back);
  const player = new Player({
    view,
    source,
    parent: app,
    keys: document,
    link,
    barClass: "ccviz-player-page",
    onVisible: (on) => {
      document.body.classList.toggle("has-player", on);
      // The way back to the lobby sits at the start of the bar while there is one.
      if (!back) return;
      if (on) player.bar.row.prepend(back);
      else app.append(back);
    },
  });
  // Errors from anywhere on the page count too.
  const pageErrors = errors;
  const handle = view.debug();
  window.__ccviz = Object.defineProperties(
    {},
    {
      ...Object.getOwnPropertyDescriptors(handle),
      errors: { get: () => [...pageErrors, ...view.errors], enumerable: true },
      player: { value: player.debug(), enumerable: true },
    },
  ) as DebugHandle & Record<string, unknown>;

  let lastTitle = "";
  view.onState((snap: Snapshot) => {
    const title = snap.title ? `${snap.title} · ccviz` : "ccviz";
    if (title !== lastTitle) document.title = lastTitle = title;
  });
  return view;
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
