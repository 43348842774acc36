// A live mirror of one game over an abstract transport: the JS twin of
// ccviz_kernel/client.py's GameMirror, and the only mirror in the JS. The socket.io transport
// (socket.ts), the widget comm (widget.ts) and the node client the Python tests drive
// (tests/js/client.mjs) all feed this class. It holds the snapshot, applies
// `game-state-update`s in order, ignores what it already has, re-joins with `since` on a gap
// in seq and on reconnect, takes reset updates whole, and passes on the effects an update
// carries (once, after its deltas) and `visualization-event`s (replay status).
//
// A join is answered in one of two ways, and both end in the same two paths:
//   socket.io    the ack: {snapshot} → takeSnapshot, {from, seq, deltas} → advance
//   widget comm  later messages: `snapshot` → takeSnapshot, `update` from since + 1 → advance
// A join left unanswered is asked again (the kernel side may not have been listening yet, or
// the ack timed out), so neither transport keeps a timer of its own.
import { applyInPlace, type Delta } from "./deltas";
import type { Effect, JoinAck, Role, Snapshot, Update } from "./types";

export interface Transport {
  /** Ask to (re-)join. socket.io answers with the ack; the widget comm answers later with
   * messages (a `snapshot`, or an `update` starting at since + 1) and resolves to nothing. */
  join(since?: number): Promise<JoinAck | void>;
}

/** How a join was answered: a whole snapshot, the deltas since what we held, or nothing new. */
export type JoinAnswer = "snapshot" | "deltas" | "current";

export interface MirrorListener {
  /** The snapshot changed: `full` when replaced whole, else `deltas` were applied to it. */
  state(snapshot: Snapshot, full: boolean, deltas: readonly Delta[]): void;
  effect(effect: Effect): void;
  /** A join (the first, or a re-join) was answered; `state` follows when something changed. */
  joined?(answer: JoinAnswer): void;
  error?(message: string): void;
}

/** How long a join may stay unanswered before it is asked again. */
const ASK_AGAIN_MS = 2000;
/** How soon a join that failed (an ack timeout, a send error) is tried again. */
const RETRY_MS = 1000;

export class Mirror {
  snapshot: Snapshot | null = null;
  /** Updates applied (game-state-update or comm `update` messages). */
  updates = 0;
  /** Joins asked again after the first was answered: on reconnect, or on a gap in seq. */
  rejoins = 0;
  transport: Transport | null = null;
  /** The connection's role as the last join's ack said it (null: not said, e.g. the comm). */
  role: Role | null = null;
  /** A join awaits its ack (socket.io): updates meanwhile are left to the ack's answer. */
  private acking = false;
  /** A join asked and not answered yet, and when it was asked. */
  private asked: { since: number | undefined; at: number } | null = null;
  private answeredOnce = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
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
    this.disarm();
  }

  /** Follow the game over another transport from now on (a widget whose kernel or server
   * is not there falls back to its offline log, offline.ts), even after `close()`; the
   * snapshot held is kept and caught up from. */
  reopen(transport: Transport): void {
    this.closed = false;
    this.acking = false;
    this.asked = null;
    this.disarm();
    this.attach(transport);
    this.connected();
  }

  /** The transport (re)connected: join, or catch up from the snapshot we hold (which may
   * also be one given to takeSnapshot before the first join). */
  connected(): void {
    if (this.answeredOnce) this.rejoins++;
    void this.join(this.snapshot ? this.seq : undefined);
  }

  async join(since?: number): Promise<void> {
    if (!this.transport || this.closed || this.acking) return;
    this.asked = { since, at: now() };
    this.arm(ASK_AGAIN_MS);
    this.acking = true;
    let ack: JoinAck | void;
    try {
      ack = await this.transport.join(since);
    } catch (err) {
      this.acking = false;
      this.fail(`join-game failed: ${(err as Error)?.message ?? err}`);
      // Try again soon (a reconnect also re-joins; `acking` keeps the two from doubling up).
      this.arm(RETRY_MS);
      return;
    }
    this.acking = false;
    if (ack === undefined || this.closed) return; // answered later by messages (widget comm)
    if (!ack.ok) {
      this.asked = null;
      this.disarm();
      this.fail(`join-game refused: ${ack.error}`);
      return;
    }
    if (ack.role === "controller" || ack.role === "viewer") this.role = ack.role;
    if (ack.replay) this.listener.effect({ kind: "replay", ...ack.replay });
    if ("snapshot" in ack) this.takeSnapshot(ack.snapshot);
    else this.advance({ gameId: ack.gameId, from: ack.from, seq: ack.seq, deltas: ack.deltas }, true);
  }

  /** A whole snapshot: a join's answer (ack, or the widget comm's `snapshot` message), or one
   * to start from before the first join (which then asks only for what follows it). */
  takeSnapshot(snapshot: Snapshot): void {
    if (this.closed || !snapshot || typeof snapshot !== "object") return;
    if (this.gameId === null) this.gameId = snapshot.gameId;
    this.snapshot = snapshot;
    if (this.asked) this.answered("snapshot");
    this.listener.state(snapshot, true, []);
  }

  update(data: Update): void {
    if (this.closed || !data || (this.gameId !== null && data.gameId !== this.gameId)) return;
    if (!this.snapshot || this.acking) return; // the join's answer will cover it
    if (data.reset) {
      // The game was rebuilt (a replay seeking back): the deltas set every key, whatever seq.
      if (!this.apply(data, "reset")) return;
      this.updates++;
      this.listener.state(this.snapshot, true, data.deltas);
      this.effects(data);
      return;
    }
    this.advance(data, false);
  }

  effect(data: Effect): void {
    if (this.closed || !data) return;
    if (this.gameId !== null && data.gameId !== undefined && data.gameId !== this.gameId) return;
    this.listener.effect(data);
  }

  /** Deltas `from..seq`: applied when they follow what we hold. `fromAck`: a join's ack
   * brought them (a catch-up that does not fit is then answered with a fresh snapshot, as
   * asking again with the same `since` would bring the same misfit). */
  private advance(data: Update, fromAck: boolean): void {
    const snapshot = this.snapshot;
    if (!snapshot) return;
    // A comm catch-up arrives as an ordinary update; one that follows what we hold answers the
    // join that asked with `since`.
    const answers = fromAck || (this.asked !== null && this.asked.since !== undefined);
    if (data.seq <= snapshot.seq) {
      // Already have it (sent before our snapshot was taken), or the catch-up is empty.
      if (fromAck) this.answered("current");
      return;
    }
    if (data.from !== snapshot.seq + 1) {
      if (fromAck) void this.join();
      else if (now() - (this.asked?.at ?? -Infinity) > ASK_AGAIN_MS) {
        this.rejoins++;
        void this.join(snapshot.seq);
      }
      return;
    }
    if (!this.apply(data, `update ${data.from}..${data.seq}`)) return;
    if (!fromAck) this.updates++;
    if (answers) this.answered("deltas");
    this.listener.state(snapshot, false, data.deltas);
    this.effects(data);
  }

  /** The effects an applied update carries, each once, after its state. */
  private effects(data: Update): void {
    if (!Array.isArray(data.effects)) return;
    const gameId = data.gameId;
    for (const e of data.effects) if (e && typeof e === "object") this.listener.effect({ ...e, gameId });
  }

  /** Apply `data` to the snapshot; when it does not fit, start again from a fresh one. */
  private apply(data: Update, what: string): boolean {
    const snapshot = this.snapshot!;
    try {
      applyInPlace(snapshot, data.deltas);
    } catch (err) {
      this.fail(`bad ${what}: ${(err as Error).message}`);
      this.snapshot = null;
      void this.join();
      return false;
    }
    snapshot.seq = data.seq;
    return true;
  }

  private answered(answer: JoinAnswer): void {
    this.asked = null;
    this.answeredOnce = true;
    this.disarm();
    this.listener.joined?.(answer);
  }

  /** Ask again in `ms` unless the join is answered by then (an ack still awaited waits on). */
  private arm(ms: number): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed || !this.asked) return;
      if (this.acking) this.arm(ASK_AGAIN_MS);
      else void this.join(this.snapshot ? this.seq : undefined);
    }, ms);
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private fail(message: string): void {
    this.listener.error?.(message);
  }
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
