// The anywidget entry: `export default { render({ model, el }) }`.
// Traits (see README.md): transport ("comm" | "socketio"), server_url, socketio_path, game_id,
// token, serializer, width, height.
import type { Mirror } from "./mirror";
import { normalizeSocketPath } from "./paths";
import { Player, type PlayerCommand } from "./player/player";
import { CommSource, socketSource, type HistorySource } from "./player/source";
import { CcvizSocket } from "./socket";
import { WORLD_H, WORLD_W } from "./town/facts";
import type { Effect, ReplayState, Snapshot, Update } from "./types";
import { TownView, type DebugHandle } from "./view";

interface AnyModel {
  get(name: string): any;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: unknown): void;
}

type CommMessage =
  | { type: "snapshot"; snapshot: Snapshot; replay?: ReplayState | null }
  | { type: "update"; update: Update }
  | { type: "effect"; effect: Effect }
  | { type: "reply"; id: number; ack: unknown }
  | ({ type: "player" } & PlayerCommand);

declare global {
  interface Window {
    __ccvizWidgets?: Record<string, DebugHandle>;
  }
}

const STATUS_TEXT: Record<string, string | null> = {
  connected: null,
  connecting: "connecting…",
  reconnecting: "reconnecting…",
  unauthorized: "not authorised (token?)",
};

function render({ model, el }: { model: AnyModel; el: HTMLElement }): () => void {
  // A width or height trait unset (or nonsense) falls back to the world's size.
  const size = (name: string, fallback: number) => {
    const v = Number(model.get(name));
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  const gameId: string | null = model.get("game_id") || null;
  const view = new TownView({
    parent: el,
    width: size("width", WORLD_W),
    height: size("height", WORLD_H),
    gameId,
    fpsLimit: 30, // a notebook may hold several views
  });
  const cleanups: (() => void)[] = [];
  // Shortcuts work while the widget has the focus (a click on it gives it the focus).
  if (!el.hasAttribute("tabindex")) el.tabIndex = 0;
  el.style.outline = "none";
  const focus = () => el.focus({ preventScroll: true });
  el.addEventListener("pointerdown", focus);
  cleanups.push(() => el.removeEventListener("pointerdown", focus));

  const registry = (window.__ccvizWidgets ??= {});
  const handle = view.debug();
  let registeredAs: string | null = null;
  const register = (id: string | null) => {
    if (!id || id === registeredAs) return;
    if (registeredAs && registry[registeredAs] === handle) delete registry[registeredAs];
    registeredAs = id;
    registry[id] = handle;
  };
  register(gameId);
  view.onState((snap) => register(snap.gameId));

  let player: Player | null = null;
  const makePlayer = (source: HistorySource) => {
    player = new Player({ view, source, parent: el, keys: el, barClass: "ccviz-player-widget" });
    const bar = player.bar.root;
    // As wide as the view (which keeps its aspect in a narrower output area).
    Object.assign(bar.style, { width: view.root.style.width, maxWidth: "100%" });
    Object.defineProperty(handle, "player", { value: player.debug(), enumerable: true, configurable: true });
    cleanups.push(() => player?.close());
  };
  if (model.get("transport") === "socketio") {
    const socket = new CcvizSocket({
      url: model.get("server_url") || null,
      path: normalizeSocketPath(model.get("socketio_path")),
      serializer: model.get("serializer") || "msgpack",
      token: model.get("token") || null,
    });
    makePlayer(socketSource(socket, gameId ?? "", !!model.get("token")));
    cleanups.push(socket.onStatus((s) => view.setStatus(s in STATUS_TEXT ? STATUS_TEXT[s] : s)));
    cleanups.push(socket.mirror(view.mirror));
    cleanups.push(() => socket.close());
    const onCommand = (msg: CommMessage) => {
      if (msg && typeof msg === "object" && msg.type === "player") player?.command(msg);
    };
    model.on("msg:custom", onCommand);
    cleanups.push(() => model.off("msg:custom", onCommand));
  } else {
    const source = new CommSource(model);
    makePlayer(source);
    cleanups.push(commTransport(model, view.mirror, source, (cmd) => player?.command(cmd)));
    cleanups.push(() => source.close());
  }

  const onSize = () => {
    view.setSize(size("width", WORLD_W), size("height", WORLD_H));
    view.fit();
    if (player) player.bar.root.style.width = view.root.style.width;
  };
  model.on("change:width", onSize);
  model.on("change:height", onSize);
  cleanups.push(() => {
    model.off("change:width", onSize);
    model.off("change:height", onSize);
  });

  return () => {
    for (const f of cleanups.splice(0).reverse()) {
      try {
        f();
      } catch {
        /* already gone */
      }
    }
    if (registeredAs && registry[registeredAs] === handle) delete registry[registeredAs];
    view.destroy();
  };
}

/** The widget comm: Python pushes snapshot/update/effect messages; we ask with `join`. The
 * mirror (mirror.ts) takes the answers, asks again and catches up exactly as over socket.io.
 * The player's requests (history, at, act, role) are answered by `reply` messages; `player`
 * messages are GameView.seek/play/pause/follow from Python. */
function commTransport(
  model: AnyModel,
  mirror: Mirror,
  source: CommSource,
  command: (cmd: PlayerCommand) => void,
): () => void {
  const onMessage = (msg: CommMessage) => {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") {
      // The replay status first, so the snapshot is drawn as the presenter's replay.
      if (msg.replay) mirror.effect({ kind: "replay", ...msg.replay });
      mirror.takeSnapshot(msg.snapshot);
    } else if (msg.type === "update") mirror.update(msg.update);
    else if (msg.type === "effect") mirror.effect(msg.effect);
    else if (msg.type === "reply") source.reply(msg);
    else if (msg.type === "player") command(msg);
  };
  model.on("msg:custom", onMessage);
  mirror.attach({
    join(since?: number) {
      model.send(since === undefined ? { type: "join" } : { type: "join", since });
      return Promise.resolve();
    },
  });
  mirror.connected();
  return () => {
    model.off("msg:custom", onMessage);
    mirror.close();
  };
}

export default { render };
