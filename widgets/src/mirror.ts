// A live mirror of one game over an abstract transport: the JS twin of
// ccviz_kernel/client.py's GameMirror. It holds the snapshot, applies `game-state-update`s in
// order, ignores what it already has, re-joins with `since` on a gap in seq and on reconnect,
// and forwards `visualization-event`s.
import { applyInPlace, type Delta } from "./deltas";
import type { Effect, JoinAck, Snapshot, Update } from "./types";

export interface Transport {
  /** Ask to (re-)join. socket.io answers with the ack; the widget comm answers later with
   * messages (a `snapshot`, or an `update` starting at since + 1) and resolves to nothing. */
  join(since?: number): Promise<JoinAck | void>;
}

export interface MirrorListener {
  /** The snapshot changed: `full` when replaced whole, else `deltas` were applied to it. */
  state(snapshot: Snapshot, full: boolean, deltas: readonly Delta[]): void;
  effect(effect: Effect): void;
  error?(message: string): void;
}

/** How long a fire-and-forget join (widget comm) may stay unanswered before asking again. */
const ASK_AGAIN_MS = 2000;
const RETRY_MS = 1000;

export class Mirror {
  snapshot: Snapshot | null = null;
  updates = 0;
  rejoins = 0;
  transport: Transport | null = null;
  private joining = false;
  private askedAt = -Infinity;
  private closed = false;

  constructor(
    public gameId: string | null,
    private listener: MirrorListener,
  ) {}

  get seq(): number {
    return this.snapshot ? this.snapshot.seq : 0;
  }

  attach(transport: Transport): this {
    this.transport = transport;
    return this;
  }

  close(): void {
    this.closed = true;
  }

  /** The transport (re)connected: join, or catch up from where we were. */
  connected(): void {
    if (this.snapshot) {
      this.rejoins++;
      void this.join(this.seq);
    } else void this.join();
  }

  async join(since?: number): Promise<void> {
    if (!this.transport || this.closed || this.joining) return;
    this.joining = true;
    this.askedAt = now();
    let ack: JoinAck | void;
    try {
      ack = await this.transport.join(since);
    } catch (err) {
      this.joining = false;
      this.fail(`join-game failed: ${(err as Error)?.message ?? err}`);
      // Try again later (a reconnect also re-joins; `joining` keeps the two from doubling up).
      setTimeout(() => {
        if (!this.closed) void this.join(this.snapshot ? this.seq : undefined);
      }, RETRY_MS);
      return;
    }
    this.joining = false;
    if (ack === undefined || this.closed) return; // answered by messages (widget comm)
    if (!ack.ok) {
      this.fail(`join-game refused: ${ack.error}`);
      return;
    }
    if ("replay" in ack && ack.replay) this.listener.effect({ kind: "replay", ...(ack.replay as object) });
    if ("snapshot" in ack) {
      this.takeSnapshot(ack.snapshot);
    } else if (this.snapshot && ack.from === this.seq + 1) {
      applyInPlace(this.snapshot, ack.deltas);
      this.snapshot.seq = ack.seq;
      this.askedAt = -Infinity;
      this.listener.state(this.snapshot, false, ack.deltas);
    } else if (this.snapshot && ack.seq <= this.seq) {
      this.askedAt = -Infinity; // nothing new
    } else {
      await this.join(); // the catch-up does not fit what we hold: start again from a snapshot
    }
  }

  /** A whole snapshot (join ack, or the widget comm's `snapshot` message). */
  takeSnapshot(snapshot: Snapshot): void {
    if (this.closed || !snapshot || typeof snapshot !== "object") return;
    if (this.gameId === null) this.gameId = snapshot.gameId;
    this.snapshot = snapshot;
    this.askedAt = -Infinity;
    this.listener.state(snapshot, true, []);
  }

  update(data: Update): void {
    if (this.closed || !data || (this.gameId !== null && data.gameId !== this.gameId)) return;
    if (!this.snapshot || this.joining) return; // the join's answer will cover it
    if (data.reset) {
      // The game was rebuilt (a replay seeking back): the deltas set every key, whatever seq.
      try {
        applyInPlace(this.snapshot, data.deltas);
      } catch (err) {
        this.fail(`bad reset: ${(err as Error).message}`);
        this.snapshot = null;
        void this.join();
        return;
      }
      this.snapshot.seq = data.seq;
      this.updates++;
      this.listener.state(this.snapshot, true, data.deltas);
      return;
    }
    if (data.seq <= this.seq) return; // already have it (sent before our snapshot was taken)
    if (data.from !== this.seq + 1) {
      if (now() - this.askedAt > ASK_AGAIN_MS) {
        this.rejoins++;
        void this.join(this.seq);
      }
      return;
    }
    try {
      applyInPlace(this.snapshot, data.deltas);
    } catch (err) {
      // The snapshot no longer fits the deltas: start again from a fresh one.
      this.fail(`bad update ${data.from}..${data.seq}: ${(err as Error).message}`);
      this.snapshot = null;
      void this.join();
      return;
    }
    this.snapshot.seq = data.seq;
    this.askedAt = -Infinity;
    this.updates++;
    this.listener.state(this.snapshot, false, data.deltas);
  }

  effect(data: Effect): void {
    if (this.closed || !data) return;
    if (this.gameId !== null && data.gameId !== undefined && data.gameId !== this.gameId) return;
    this.listener.effect(data);
  }

  private fail(message: string): void {
    this.listener.error?.(message);
  }
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
