// The anywidget entry: `export default { render({ model, el }) }`.
// Traits (see README.md): transport ("comm" | "socketio"), server_url, socketio_path, game_id,
// token, serializer, width, height, and _offline: the game's offline log (offline.ts), which
// the view falls back to when no kernel (or server) answers — a saved notebook opened
// without a kernel, nbconvert HTML, nbviewer.
import type { Mirror, Transport } from "./mirror";
import { normalizeSocketPath } from "./paths";
import { PermissionPanel } from "./permissions";
import { Player, type PlayerCommand } from "./player/player";
import { CommSource, socketSource, type HistorySource } from "./player/source";
import { decodeOfflineLog, OfflineGame, SwitchSource } from "./offline";
import { CcvizSocket } from "./socket";
import { followTheme } from "./theme";
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

/** How long a view waits for its kernel's (or server's) first answer before it shows its
 * offline log instead; a kernel that answers later takes the view back. */
export const OFFLINE_AFTER_MS = 1500;

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
  cleanups.push(followTheme(el, view.root));
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
    // Permission requests (protocol §14), answered through the same source as the bar's actions.
    const permissions = new PermissionPanel(view, source, "widget");
    Object.defineProperty(handle, "permissions", { value: () => permissions.shown(), enumerable: true, configurable: true });
    Object.defineProperty(handle, "permissionAcks", { value: () => structuredClone(permissions.acks), enumerable: true, configurable: true });
    cleanups.push(() => permissions.close());
  };
  // The saved game: shown when nothing answers (decoded once, when first needed).
  const offlineText: string = model.get("_offline") || "";
  let offline: Promise<OfflineGame> | null = null;
  const offlineGame = () => (offline ??= decodeOfflineLog(offlineText).then((log) => new OfflineGame(log)));
  let answered = false;
  let offlineTimer: ReturnType<typeof setTimeout> | undefined;
  const fallBack = (switchTo: (game: OfflineGame) => void) => {
    if (!offlineText) return;
    offlineTimer = setTimeout(() => {
      if (answered) return;
      offlineGame().then(
        (game) => !answered && switchTo(game),
        (err) => view.error(`the saved game cannot be read: ${(err as Error).message}`),
      );
    }, OFFLINE_AFTER_MS);
  };
  cleanups.push(() => clearTimeout(offlineTimer));

  if (model.get("transport") === "socketio") {
    const socket = new CcvizSocket({
      url: model.get("server_url") || null,
      path: normalizeSocketPath(model.get("socketio_path")),
      serializer: model.get("serializer") || "msgpack",
      token: model.get("token") || null,
    });
    const source = new SwitchSource(socketSource(socket, gameId ?? "", !!model.get("token")));
    makePlayer(source);
    let socketOpen = true;
    cleanups.push(
      socket.onStatus((s) => {
        if (s === "connected") answered = true;
        if (socketOpen) view.setStatus(s in STATUS_TEXT ? STATUS_TEXT[s] : s);
      }),
    );
    cleanups.push(socket.mirror(view.mirror));
    cleanups.push(() => socket.close());
    // No server (a notebook's HTML copy): the saved game, for good (a page has no server
    // to come back).
    fallBack((game) => {
      socketOpen = false;
      socket.close();
      view.setStatus(null);
      source.current = game;
      view.mirror.reopen(game.transport());
    });
    const onCommand = (msg: CommMessage) => {
      if (msg && typeof msg === "object" && msg.type === "player") player?.command(msg);
    };
    model.on("msg:custom", onCommand);
    cleanups.push(() => model.off("msg:custom", onCommand));
  } else {
    const comm = new CommSource(model);
    const source = new SwitchSource(comm);
    makePlayer(source);
    const commJoin = commJoiner(model);
    const onKernel = () => {
      answered = true;
      if (source.current !== comm) {
        // The kernel is back (it was busy, or restarted): follow it again.
        source.current = comm;
        view.mirror.reopen(commJoin);
      }
    };
    cleanups.push(commTransport(model, view.mirror, comm, commJoin, (cmd) => player?.command(cmd), onKernel));
    cleanups.push(() => comm.close());
    fallBack((game) => {
      source.current = game;
      view.mirror.reopen(game.transport());
    });
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

/** Joins over the widget comm: answered later by messages, so the promise carries nothing. */
function commJoiner(model: AnyModel): Transport {
  return {
    join(since?: number) {
      model.send(since === undefined ? { type: "join" } : { type: "join", since });
      return Promise.resolve();
    },
  };
}

/** The widget comm: Python pushes snapshot/update/effect messages; we ask with `join`. The
 * mirror (mirror.ts) takes the answers, asks again and catches up exactly as over socket.io.
 * The player's requests (history, at, act, role) are answered by `reply` messages; `player`
 * messages are GameView.seek/play/pause/follow from Python. `kernel()` is told of every
 * message the kernel sends (it is there). */
function commTransport(
  model: AnyModel,
  mirror: Mirror,
  source: CommSource,
  join: Transport,
  command: (cmd: PlayerCommand) => void,
  kernel: () => void,
): () => void {
  const onMessage = (msg: CommMessage) => {
    if (!msg || typeof msg !== "object") return;
    kernel();
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
  mirror.attach(join);
  mirror.connected();
  return () => {
    model.off("msg:custom", onMessage);
    mirror.close();
  };
}

export default { render };
