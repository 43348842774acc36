// A game without a server: what a view asks the server for (`join-game`, `game-history`,
// `game-at`: docs/protocol.md §3), answered from an offline log that Python wrote
// (ccviz_kernel/replays/export.py: the exported page, and GameView's saved state).
//
// The log holds the engine's own outputs, precomputed: the state before the first event,
// every event's deltas and effects, the times, markers and lanes. Nothing here decides state
// (no rule runs in JS): the state after event n is the initial state with the deltas of
// events 1…n applied, exactly what every viewer's mirror does with `game-state-update`s.
import { applyInPlace, type Delta } from "./deltas";
import type { Transport } from "./mirror";
import type { Ack } from "./socket";
import type { HistorySource } from "./player/source";
import type { Effect, GameAtAck, HistoryAck, JoinAck, Lane, Marker, Snapshot } from "./types";

export const OFFLINE_FORMAT = "ccviz-offline";
export const OFFLINE_VERSION = 1;
/** A state is kept every this many events, as the server's history does: a seek applies at
 * most this many events' deltas. */
const KEEP_EVERY = 256;
/** The most events' deltas one `at` answer carries (the server's MAX_COUNT). */
const MAX_COUNT = 1000;

export interface OfflineLog {
  format: typeof OFFLINE_FORMAT;
  version: number;
  gameId: string;
  title: string | null;
  seq: number;
  initial: Snapshot;
  deltas: Delta[][];
  effects: Effect[][];
  times: (number | null)[];
  markers: Marker[];
  lanes: Lane[];
}

/** base64(gzip(JSON)) → the log. Throws on anything else (another format or version). */
export async function decodeOfflineLog(text: string): Promise<OfflineLog> {
  const bin = atob(text.trim());
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const log = JSON.parse(await new Response(stream).text()) as OfflineLog;
  checkLog(log);
  return log;
}

export function checkLog(log: unknown): asserts log is OfflineLog {
  const l = log as Partial<OfflineLog> | null;
  if (!l || typeof l !== "object" || l.format !== OFFLINE_FORMAT) throw new Error("not a ccviz offline log");
  if (l.version !== OFFLINE_VERSION) throw new Error(`offline log version ${l.version}; this viewer reads ${OFFLINE_VERSION}`);
  if (!Array.isArray(l.deltas) || !Array.isArray(l.effects) || l.deltas.length !== l.seq) throw new Error("a damaged offline log");
}

/** The game of one offline log: a history source for the player, a transport for the mirror. */
export class OfflineGame implements HistorySource {
  readonly log: OfflineLog;
  /** `kept[k]`: the state after event k * KEEP_EVERY, filled as far as asked. */
  private kept: Snapshot[];

  constructor(log: OfflineLog) {
    checkLog(log);
    this.log = log;
    this.kept = [structuredClone(log.initial)];
  }

  get gameId(): string {
    return this.log.gameId;
  }

  get total(): number {
    return this.log.seq;
  }

  /** The state after event `seq` (clamped to 0 … total), a fresh copy. */
  stateAt(seq: number): Snapshot {
    const at = Math.max(0, Math.min(Math.floor(seq), this.total));
    const base = Math.floor(at / KEEP_EVERY);
    while (this.kept.length <= base) {
      const k = this.kept.length;
      const state = structuredClone(this.kept[k - 1]);
      for (let i = (k - 1) * KEEP_EVERY; i < k * KEEP_EVERY; i++) applyInPlace(state, this.log.deltas[i]);
      this.kept.push(state);
    }
    const state = structuredClone(this.kept[base]);
    for (let i = base * KEEP_EVERY; i < at; i++) applyInPlace(state, this.log.deltas[i]);
    return state;
  }

  /** For the mirror: every join is answered with the last state (an ended game, as a late
   * viewer of a logged game would see it). */
  transport(): Transport {
    return {
      join: async (): Promise<JoinAck> => {
        const snapshot = this.stateAt(this.total);
        return { ok: true, gameId: this.gameId, seq: snapshot.seq, snapshot, replay: null };
      },
    };
  }

  async history(): Promise<HistoryAck> {
    const { gameId, seq, times, markers, lanes } = this.log;
    return { ok: true, gameId, seq, times: [...times], markers: markers.map((m) => ({ ...m })), lanes: lanes.map((l) => ({ ...l })) };
  }

  async at(seq: number, count: number): Promise<GameAtAck> {
    if (!Number.isInteger(seq) || !Number.isInteger(count) || count < 0) {
      return { ok: false, error: "game-at needs {gameId: string, seq: integer, count?: integer >= 0}" };
    }
    const at = Math.max(0, Math.min(seq, this.total));
    const end = Math.min(this.total, at + Math.min(count, MAX_COUNT));
    return {
      ok: true,
      gameId: this.gameId,
      total: this.total,
      at,
      snapshot: this.stateAt(at),
      // Copies: the playhead applies them into its own state, which must never share ours.
      deltas: structuredClone(this.log.deltas.slice(at, end)),
      effects: structuredClone(this.log.effects.slice(at, end)),
    };
  }

  async act(): Promise<Ack> {
    return { ok: false, error: "an offline copy: nothing to control (use the bar: it plays here)" };
  }

  async canControl(): Promise<boolean> {
    return false;
  }
}

/** A history source that can be swapped under the player: a widget's comm (or socket) until
 * no kernel (or server) answers, then its offline log; and back when the kernel speaks. */
export class SwitchSource implements HistorySource {
  constructor(public current: HistorySource) {}

  history(): Promise<HistoryAck> {
    return this.current.history();
  }

  at(seq: number, count: number): Promise<GameAtAck> {
    return this.current.at(seq, count);
  }

  act(type: string, fields?: Record<string, unknown>): Promise<Ack> {
    return this.current.act(type, fields);
  }

  canControl(): Promise<boolean> {
    return this.current.canControl();
  }
}
