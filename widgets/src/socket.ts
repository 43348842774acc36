// The socket.io transport (docs/protocol.md): one connection, which can mirror one game, list games
// and send agent actions.
import { io, type Socket } from "socket.io-client";
import * as msgpackParser from "socket.io-msgpack-parser";
import type { Mirror, Transport } from "./mirror";
import type { GameSummary, JoinAck, Role } from "./types";

export interface SocketOptions {
  /** Server origin ("http://127.0.0.1:8765"); empty for the page's own origin. A path part is
   * ignored: the Engine.IO path comes from `path`. */
  url?: string | null;
  /** Engine.IO path, e.g. "/socket.io/" or "/user/x/ccviz/socket.io/". */
  path?: string;
  serializer?: "msgpack" | "json" | string;
  token?: string | null;
  /** After the server disconnects us ("io server disconnect", which socket.io does not
   * recover from by itself), reconnect after this many ms (default 500); null: stay down. */
  reconnectAfterServerDisconnectMs?: number | null;
}

const ACK_TIMEOUT_MS = 10_000;
/** The first reconnect attempt's delay (socket.io doubles it, with jitter, on each failure). */
const RECONNECT_DELAY_MS = 300;

export type Ack = { ok: boolean; error?: string; [k: string]: unknown };

export class CcvizSocket {
  readonly socket: Socket;
  private mirrors = new Set<Mirror>();
  private lobbyListeners = new Set<(games: GameSummary[]) => void>();
  private statusListeners = new Set<(status: string) => void>();
  status = "connecting";
  /** This connection's role, as `list-games`' ack said it (null: not said). */
  role: Role | null = null;
  lastDisconnect = "";
  private closed = false;

  constructor(opts: SocketOptions = {}) {
    const { origin } = splitUrl(opts.url);
    const options: Record<string, unknown> = {
      path: opts.path || "/socket.io/",
      transports: ["websocket"],
      reconnectionDelay: RECONNECT_DELAY_MS,
      reconnectionDelayMax: 3000,
      auth: opts.token ? { token: opts.token } : {},
    };
    if (opts.serializer !== "json") options.parser = msgpackParser;
    const kicked = opts.reconnectAfterServerDisconnectMs;
    const kickedRetryMs = kicked === undefined ? 500 : kicked;
    this.socket = origin ? io(origin, options) : io(options);
    this.socket.on("connect", () => {
      this.socket.io.reconnectionDelay(RECONNECT_DELAY_MS); // back from a drain's hint
      this.setStatus("connected");
      for (const mirror of this.mirrors) mirror.connected();
      if (this.lobbyListeners.size) void this.listGames().catch(() => {});
    });
    this.socket.on("disconnect", (reason: string) => {
      this.lastDisconnect = reason;
      this.setStatus("reconnecting");
      // A server going away (or dropping a slow viewer) says "io server disconnect", after
      // which socket.io does not reconnect by itself: we do, after a short pause.
      if (reason === "io server disconnect" && !this.closed && kickedRetryMs !== null)
        setTimeout(() => !this.closed && !this.socket.connected && this.socket.connect(), kickedRetryMs);
    });
    this.socket.on("connect_error", (err: Error) =>
      this.setStatus(err?.message === "unauthorized" ? "unauthorized" : "reconnecting"),
    );
    // A server that stops (SIGTERM, a deploy) says when to come back: each viewer its own
    // delay, so a room does not re-join the next server all at once (protocol.md §4).
    this.socket.on("server-closing", (data) => {
      const after = Number(data?.retryAfterMs);
      if (Number.isFinite(after) && after >= 0) this.socket.io.reconnectionDelay(Math.min(after, 10_000) + 1);
    });
    this.socket.on("game-state-update", (data) => {
      for (const mirror of this.mirrors) mirror.update(data);
    });
    this.socket.on("visualization-event", (data) => {
      for (const mirror of this.mirrors) mirror.effect(data);
    });
    this.socket.on("games", (data) => {
      const games = Array.isArray(data?.games) ? data.games : [];
      for (const listener of this.lobbyListeners) listener(games);
    });
  }

  /** Mirror `mirror.gameId` over this connection (joins now if connected, and on every
   * reconnect with `since`). */
  mirror(mirror: Mirror): () => void {
    const gameId = mirror.gameId;
    const transport: Transport = {
      join: (since?: number) =>
        this.call("join-game", since === undefined ? { gameId } : { gameId, since }) as Promise<JoinAck>,
    };
    mirror.attach(transport);
    this.mirrors.add(mirror);
    if (this.socket.connected) mirror.connected();
    return () => {
      this.mirrors.delete(mirror);
      mirror.close();
      if (this.socket.connected) void this.call("leave-game", { gameId }).catch(() => {});
    };
  }

  async listGames(): Promise<GameSummary[]> {
    const ack = await this.call("list-games", {});
    if (!ack.ok) throw new Error(ack.error || "list-games refused");
    if (ack.role === "controller" || ack.role === "viewer") this.role = ack.role;
    const games = (ack.games as GameSummary[]) ?? [];
    for (const listener of this.lobbyListeners) listener(games);
    return games;
  }

  /** Lobby rows now and on every change (the server pushes `games` to clients that listed). */
  onGames(listener: (games: GameSummary[]) => void): () => void {
    this.lobbyListeners.add(listener);
    if (this.socket.connected) void this.listGames().catch(() => {});
    return () => this.lobbyListeners.delete(listener);
  }

  onStatus(listener: (status: string) => void): () => void {
    this.statusListeners.add(listener);
    listener(this.status);
    return () => this.statusListeners.delete(listener);
  }

  /** `agent-action` (needs the controller role): `{ok, seq}` or `{ok: false, error}`. */
  act(gameId: string, type: string, fields: Record<string, unknown> = {}): Promise<Ack> {
    return this.call("agent-action", { ...fields, gameId, type });
  }

  call(event: string, data: unknown): Promise<Ack> {
    return this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data);
  }

  close(): void {
    this.closed = true;
    for (const mirror of this.mirrors) mirror.close();
    this.mirrors.clear();
    this.lobbyListeners.clear();
    this.statusListeners.clear();
    this.socket.disconnect();
  }

  private setStatus(status: string): void {
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }
}

/** socket.io-client reads a URL's path as the namespace: keep only the origin. */
export function splitUrl(url?: string | null): { origin: string; path: string } {
  if (!url) return { origin: "", path: "" };
  try {
    const u = new URL(url, typeof location !== "undefined" ? location.href : undefined);
    return { origin: u.origin, path: u.pathname };
  } catch {
    return { origin: url, path: "" };
  }
}
