// The standalone page: a live lobby of games at the base path, one game full-window at
// `view/<gameId>`. The server describes itself in meta tags (see README.md):
//   <meta name="ccviz-base" content="/">              where the page and socket.io live
//   <meta name="ccviz-serializer" content="msgpack">  or "json"
//   <meta name="ccviz-game" content="<id>">           optional: show this game
//   <meta name="ccviz-server" content="http://…">     optional: socket.io on another origin (dev)
import "./page.css";
import { inferBase, normalizeBase, normalizeSocketPath, routeOf } from "./paths";
import { CcvizSocket } from "./socket";
import { SPEEDS } from "./town/facts";
import { el, meta, STATUS_TEXT, withToken } from "./dom";
import { lobbyPage } from "./lobby";
import type { ReplayState, Snapshot } from "./types";
import { TownView, type DebugHandle } from "./view";

declare global {
  interface Window {
    __ccviz?: Partial<DebugHandle> & Record<string, unknown>;
  }
}

function start(): void {
  const metaBase = meta("ccviz-base");
  const base = metaBase ? normalizeBase(metaBase) : inferBase(location.pathname);
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
  document.body.classList.add("ccviz-game");
  document.title = "ccviz";
  const stage = el("div", { class: "stage" });
  app.append(stage);
  const view = new TownView({ parent: stage, gameId });
  // Errors from anywhere on the page count too.
  const pageErrors = errors;
  const handle = view.debug();
  window.__ccviz = Object.defineProperties(
    {},
    {
      ...Object.getOwnPropertyDescriptors(handle),
      errors: { get: () => [...pageErrors, ...view.errors], enumerable: true },
    },
  ) as DebugHandle & Record<string, unknown>;
  socket.onStatus((s) => view.setStatus(s in STATUS_TEXT ? STATUS_TEXT[s] : s));
  socket.mirror(view.mirror);

  const back = el("a", { class: "back", href: withToken(base, token), title: "All sessions" }, "← sessions");
  app.append(back);
  const controls = new ReplayControls(app, (type, fields) => socket.act(gameId, type, fields));
  let lastTitle = "";
  view.onReplay((replay) => controls.update(replay, view.mirror.seq));
  view.onState((snap: Snapshot) => {
    controls.update(view.replay, snap.seq); // the game's seq is the replay's position
    const title = snap.title ? `${snap.title} · ccviz` : "ccviz";
    if (title !== lastTitle) document.title = lastTitle = title;
  });
}

class ReplayControls {
  private box: HTMLDivElement;
  private play: HTMLButtonElement;
  private speed: HTMLSelectElement;
  private seek: HTMLInputElement;
  private pos: HTMLSpanElement;
  private msg: HTMLSpanElement;
  private dragging = false;
  private state: ReplayState | null = null;

  constructor(
    parent: HTMLElement,
    private act: (type: string, fields?: Record<string, unknown>) => Promise<{ ok: boolean; error?: string }>,
  ) {
    this.play = el("button", { type: "button", class: "play", "aria-label": "Pause" }, "❚❚");
    this.speed = el("select", { "aria-label": "Replay speed" });
    for (const s of SPEEDS) this.speed.append(el("option", { value: String(s) }, `${s}×`));
    this.seek = el("input", { type: "range", min: "0", max: "0", value: "0", step: "1", "aria-label": "Seek" });
    this.pos = el("span", { class: "pos" }, "0 / 0");
    this.msg = el("span", { class: "msg" });
    this.box = el("div", { class: "replay", hidden: "" }, this.play, this.speed, this.seek, this.pos, this.msg);
    parent.append(this.box);
    this.play.addEventListener("click", () => {
      if (!this.state) return;
      void this.send(this.state.playing ? "pause" : "resume");
    });
    this.speed.addEventListener("change", () => void this.send("speed", { speed: Number(this.speed.value) }));
    this.seek.addEventListener("pointerdown", () => (this.dragging = true));
    this.seek.addEventListener("input", () => (this.pos.textContent = `${this.seek.value} / ${this.seek.max}`));
    this.seek.addEventListener("change", () => {
      this.dragging = false;
      void this.send("seek", { seq: Number(this.seek.value) });
    });
  }

  private async send(type: string, fields: Record<string, unknown> = {}): Promise<void> {
    try {
      const ack = await this.act(type, fields);
      this.msg.textContent = ack.ok ? "" : ack.error || "refused";
    } catch (err) {
      this.msg.textContent = `no answer (${(err as Error).message})`;
    }
  }

  update(replay: ReplayState | null, seq: number): void {
    this.state = replay;
    document.body.classList.toggle("has-replay", !!replay);
    if (!replay) {
      this.box.hidden = true;
      return;
    }
    this.box.hidden = false;
    this.play.textContent = replay.playing ? "❚❚" : "▶";
    this.play.setAttribute("aria-label", replay.playing ? "Pause" : "Play");
    const speed = String(replay.speed);
    if (![...this.speed.options].some((o) => o.value === speed)) this.speed.append(el("option", { value: speed }, `${speed}×`));
    if (this.speed.value !== speed && document.activeElement !== this.speed) this.speed.value = speed;
    const position = Math.min(replay.total, seq || replay.position);
    this.seek.max = String(replay.total);
    if (!this.dragging) {
      this.seek.value = String(position);
      this.pos.textContent = `${position} / ${replay.total}`;
    }
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
