// Where the player reads a game's history and sends the presenter's controls: socket.io
// (`game-history`, `game-at`, `agent-action`: docs/protocol.md §3) or the widget comm, whose
// kernel side answers the same requests from its hub (ccviz_kernel/notebook/widget.py).
import type { Ack, CcvizSocket } from "../socket";
import type { GameAtAck, HistoryAck } from "../types";

export interface HistorySource {
  /** `game-history`: times, markers and lanes of every event so far. */
  history(): Promise<HistoryAck>;
  /** `game-at`: the state after event `seq` and the deltas and effects of up to `count` more. */
  at(seq: number, count: number): Promise<GameAtAck>;
  /** `agent-action` on this game (the presenter's replay controls; needs the controller role). */
  act(type: string, fields?: Record<string, unknown>): Promise<Ack>;
  /** Whether this connection may drive the shared replay. */
  canControl(): Promise<boolean>;
}

/** The ack a viewer without the controller role gets for any agent-action. */
const NOT_A_CONTROLLER = /controller role/i;

export function socketSource(socket: CcvizSocket, gameId: string, hasToken: boolean): HistorySource {
  return {
    history: () => socket.call("game-history", { gameId }) as Promise<HistoryAck>,
    at: (seq, count) => socket.call("game-at", { gameId, seq, count }) as Promise<GameAtAck>,
    act: (type, fields = {}) => socket.act(gameId, type, fields),
    async canControl() {
      // Without a token a connection is a viewer at most (docs/design.md §6). With one, ask:
      // an action without a game is refused, by its role for a viewer, by its missing
      // gameId for a controller; it reaches no game either way.
      if (!hasToken) return false;
      const ack = await socket.call("agent-action", {});
      return !NOT_A_CONTROLLER.test(String(ack.error ?? ""));
    },
  };
}

/** What the comm source needs of the anywidget model. */
export interface CommPort {
  send(content: unknown): void;
}

const COMM_TIMEOUT_MS = 10_000;

/** Requests over the widget comm: `{type: "history" | "at" | "act" | "role", id, …}`, answered
 * by `{type: "reply", id, ack}` (give those to `reply`). */
export class CommSource implements HistorySource {
  private next = 1;
  private waiting = new Map<number, { resolve: (ack: Ack) => void; timer: ReturnType<typeof setTimeout> }>();

  constructor(private port: CommPort) {}

  /** A `{type: "reply"}` message from the kernel. */
  reply(msg: { id?: unknown; ack?: unknown }): void {
    const id = Number(msg.id);
    const entry = this.waiting.get(id);
    if (!entry) return;
    this.waiting.delete(id);
    clearTimeout(entry.timer);
    const ack = msg.ack && typeof msg.ack === "object" ? (msg.ack as Ack) : { ok: false, error: "no answer" };
    entry.resolve(ack);
  }

  private request(type: string, fields: Record<string, unknown> = {}): Promise<Ack> {
    const id = this.next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ ok: false, error: "the kernel did not answer" });
      }, COMM_TIMEOUT_MS);
      this.waiting.set(id, { resolve, timer });
      this.port.send({ ...fields, type, id });
    });
  }

  history(): Promise<HistoryAck> {
    return this.request("history") as Promise<HistoryAck>;
  }

  at(seq: number, count: number): Promise<GameAtAck> {
    return this.request("at", { seq, count }) as Promise<GameAtAck>;
  }

  act(type: string, fields: Record<string, unknown> = {}): Promise<Ack> {
    return this.request("act", { action: { ...fields, type } });
  }

  async canControl(): Promise<boolean> {
    const ack = await this.request("role");
    return ack.ok === true && ack.controller === true;
  }

  close(): void {
    for (const entry of this.waiting.values()) {
      clearTimeout(entry.timer);
      entry.resolve({ ok: false, error: "closed" });
    }
    this.waiting.clear();
  }
}
