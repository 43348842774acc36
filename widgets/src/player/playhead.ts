// A viewer's own playhead (docs/protocol.md §8): a copy of the game at any event, read with
// `game-at`, played forward by applying the events' deltas (and showing their effects) at the
// pace of the timeline's playback clock scaled by the speed. Nothing it does reaches the
// server's game or any other viewer. No DOM: the frame clock and the output are given
// (test/player.test.mjs drives it with a fake source and a fake clock).
import { applyInPlace, type Delta } from "../deltas";
import type { Effect, GameAtAck, Snapshot } from "../types";
import { UNKNOWN_GAP_MS, type Timeline } from "./timeline";

/** Events asked for with a seek (enough to start playing at once). */
export const SEEK_COUNT = 200;
/** Events asked for ahead while playing. */
export const CHUNK_COUNT = 1000;
/** Ask for the next chunk when fewer events than this are buffered ahead… */
const LOW_EVENTS = 300;
/** …or when the buffer runs out within this much wall-clock time. */
const LOW_MS = 4000;
/** At most this many events are applied in one frame (a very fast speed then slows down). */
const MAX_PER_FRAME = 1500;
/** A frame longer than this (a background tab) counts as this long. */
const MAX_FRAME_MS = 250;

export interface PlayheadOutput {
  /** Draw `snapshot` (replaced whole when `full`, else `deltas` were applied to it). */
  draw(snapshot: Snapshot, full: boolean, deltas: readonly Delta[]): void;
  effect(effect: Effect): void;
  /** Position, playing or speed changed. */
  changed(): void;
  /** Played to the end of what the history covers. */
  ended(): void;
  error(message: string): void;
}

export interface FrameClock {
  now(): number;
  request(f: () => void): unknown;
  cancel(handle: unknown): void;
}

export const browserClock: FrameClock = {
  now: () => performance.now(),
  request: (f) => requestAnimationFrame(() => f()),
  cancel: (h) => cancelAnimationFrame(h as number),
};

type AtSource = (seq: number, count: number) => Promise<GameAtAck>;

export class Playhead {
  /** The seq of the state shown (0 before any event). */
  at = 0;
  /** Events the history covers. */
  total = 0;
  playing = false;
  speed = 1;
  /** Stop after an event that is a marker. */
  pauseOnMarker = false;
  snapshot: Snapshot | null = null;
  /** A seek asked and not answered yet. */
  seeking = false;
  /** Frames that applied at least one event (for tests). */
  stepsPlayed = 0;
  /** Events buffered ahead: `deltas[i]` is event `bufFrom + 1 + i`. */
  private bufFrom = 0;
  private deltas: Delta[][] = [];
  private effects: Effect[][] = [];
  /** Playback time (ms on the timeline's clock) reached while playing. */
  private pc = 0;
  private last = 0;
  private frame: unknown = null;
  /** Bumped by every seek: answers to older asks are dropped. */
  private epoch = 0;
  private fetching = false;
  /** The newest seek waiting for the one in flight (scrubbing asks faster than answers come). */
  private queued: { seq: number; resolve: () => void } | null = null;
  private markerSeqs = new Set<number>();

  constructor(
    private source: AtSource,
    public timeline: Timeline,
    private out: PlayheadOutput,
    private clock: FrameClock = browserClock,
  ) {
    this.total = timeline.n;
    this.indexMarkers();
  }

  /** The timeline grew or was replaced (a fresh `game-history`). */
  setTimeline(timeline: Timeline): void {
    this.timeline = timeline;
    this.total = Math.max(this.total, timeline.n);
    this.indexMarkers();
  }

  private indexMarkers(): void {
    this.markerSeqs = new Set(this.timeline.markers.map((m) => m.seq));
  }

  get bufferedTo(): number {
    return this.bufFrom + this.deltas.length;
  }

  // -- controls ------------------------------------------------------------------------

  /** Show the state after event `seq` (one `game-at`); resolves once it is drawn, or
   * when a later seek replaced it. */
  seek(seq: number): Promise<void> {
    // Clamped to what the history covers once that is known (the server clamps too).
    let target = Math.max(0, Math.trunc(seq) || 0);
    if (this.total > 0) target = Math.min(target, this.total);
    if (!this.seeking && this.snapshot && target > this.at && target <= this.bufferedTo) {
      // Just ahead, and here already: play the events in between at once (no request).
      this.advance(target - this.at);
      this.pc = this.clockAt(this.at);
      this.out.changed();
      return Promise.resolve();
    }
    if (this.seeking) {
      return new Promise((resolve) => {
        this.queued?.resolve();
        this.queued = { seq: target, resolve };
      });
    }
    return this.load(target);
  }

  private async load(seq: number): Promise<void> {
    const epoch = ++this.epoch;
    this.seeking = true;
    this.fetching = false;
    try {
      const ack = await this.source(seq, SEEK_COUNT);
      if (epoch !== this.epoch) return;
      if (!ack.ok) this.out.error(`game-at refused: ${ack.error}`);
      else {
        this.total = Math.max(this.total, ack.total);
        this.at = ack.at;
        this.snapshot = ack.snapshot;
        this.bufFrom = ack.at;
        this.deltas = ack.deltas.slice();
        this.effects = ack.effects.slice();
        this.pc = this.clockAt(this.at);
        this.last = this.clock.now();
        this.out.draw(ack.snapshot, true, []);
        this.out.changed();
      }
    } catch (err) {
      if (epoch === this.epoch) this.out.error(`game-at failed: ${(err as Error)?.message ?? err}`);
    } finally {
      if (epoch === this.epoch) this.seeking = false;
    }
    const queued = this.queued;
    if (queued && epoch === this.epoch) {
      this.queued = null;
      await this.load(queued.seq);
      queued.resolve();
    }
    if (this.playing) this.schedule();
  }

  /** Start from a state already at hand (the live game's, when a viewer takes its own
   * playhead): no request; the events after it are fetched when playing needs them. */
  start(snapshot: Snapshot): void {
    this.epoch++;
    this.seeking = false;
    this.fetching = false;
    this.at = snapshot.seq;
    this.total = Math.max(this.total, snapshot.seq);
    this.snapshot = snapshot;
    this.bufFrom = snapshot.seq;
    this.deltas = [];
    this.effects = [];
    this.pc = this.clockAt(this.at);
    this.out.draw(snapshot, true, []);
    this.out.changed();
  }

  /** Playback ms of event `seq`; past the timeline's end, UNKNOWN_GAP_MS per event. */
  private clockAt(seq: number): number {
    const tl = this.timeline;
    return seq <= tl.n ? tl.clockOf(seq) : tl.duration + (seq - tl.n) * UNKNOWN_GAP_MS;
  }

  play(): void {
    if (this.playing) return;
    if (this.at >= this.total && this.total > 0) {
      // At the end: play again from the start.
      this.playing = true;
      void this.seek(0);
      this.out.changed();
      return;
    }
    this.playing = true;
    this.pc = this.clockAt(this.at);
    this.last = this.clock.now();
    this.schedule();
    this.out.changed();
  }

  pause(): void {
    if (!this.playing) return;
    this.playing = false;
    if (this.frame !== null) this.clock.cancel(this.frame);
    this.frame = null;
    this.out.changed();
  }

  setSpeed(speed: number): void {
    if (!(speed > 0) || speed === this.speed) return;
    this.speed = speed;
    this.out.changed();
  }

  /** One event forward: from the buffer, else one `game-at`. */
  stepForward(): Promise<void> {
    this.pause();
    if (this.at >= this.total) return Promise.resolve();
    if (!this.seeking && this.at + 1 <= this.bufferedTo) {
      this.advance(1);
      this.out.changed();
      return Promise.resolve();
    }
    return this.seek(this.at + 1);
  }

  /** One event back: `game-at(at - 1)`. */
  stepBack(): Promise<void> {
    this.pause();
    if (this.at <= 0) return Promise.resolve();
    return this.seek(this.at - 1);
  }

  close(): void {
    this.pause();
    this.epoch++;
    this.queued?.resolve();
    this.queued = null;
  }

  // -- playing -------------------------------------------------------------------------

  private schedule(): void {
    if (this.frame !== null || !this.playing) return;
    this.frame = this.clock.request(() => {
      this.frame = null;
      this.tick();
    });
  }

  /** One frame of playing (the frame clock calls it). */
  tick(): void {
    if (!this.playing) return;
    const now = this.clock.now();
    const dt = Math.min(MAX_FRAME_MS, Math.max(0, now - this.last));
    this.last = now;
    if (this.seeking || !this.snapshot) return this.schedule();
    this.pc += dt * this.speed;
    let count = 0;
    while (this.at + count < this.total && count < MAX_PER_FRAME) {
      const next = this.at + count + 1;
      if (this.clockAt(next) > this.pc) break;
      if (next > this.bufferedTo) break; // not here yet: wait for the chunk
      count++;
      if (this.pauseOnMarker && this.markerSeqs.has(next)) {
        this.advance(count);
        this.stepsPlayed++;
        this.pause();
        return;
      }
    }
    if (count > 0) {
      this.advance(count);
      this.stepsPlayed++;
      this.out.changed();
    }
    const waiting = this.at < this.total && this.at + 1 > this.bufferedTo;
    // Playback time never runs ahead of what could be shown (a stall, or the per-frame cap).
    if (waiting || count >= MAX_PER_FRAME) this.pc = Math.min(this.pc, this.clockAt(this.at));
    if (this.at >= this.total) {
      this.playing = false;
      this.out.changed();
      this.out.ended();
      return;
    }
    this.prefetch();
    this.schedule();
  }

  /** Apply the next `count` buffered events to the snapshot and draw them with their effects. */
  private advance(count: number): void {
    const snapshot = this.snapshot;
    if (!snapshot || count <= 0) return;
    const start = this.at - this.bufFrom;
    const all: Delta[] = [];
    try {
      for (let i = start; i < start + count; i++) {
        const deltas = this.deltas[i];
        applyInPlace(snapshot, deltas);
        for (const d of deltas) all.push(d);
      }
    } catch (err) {
      this.out.error(`bad game-at deltas: ${(err as Error).message}`);
      void this.seek(this.at + count);
      return;
    }
    this.at += count;
    snapshot.seq = this.at;
    this.out.draw(snapshot, false, all);
    for (let i = start; i < start + count; i++) for (const e of this.effects[i] ?? []) this.out.effect(e);
    // Drop what was played, now and then (the buffer holds what is ahead).
    const played = this.at - this.bufFrom;
    if (played > 2 * CHUNK_COUNT) {
      this.deltas.splice(0, played);
      this.effects.splice(0, played);
      this.bufFrom = this.at;
    }
  }

  /** Ask for the next chunk before the buffer runs out. */
  private prefetch(): void {
    if (this.fetching || this.seeking || this.bufferedTo >= this.total) return;
    const ahead = this.bufferedTo - this.at;
    const msLeft = (this.clockAt(this.bufferedTo) - this.pc) / this.speed;
    if (ahead >= LOW_EVENTS && msLeft >= LOW_MS) return;
    const epoch = this.epoch;
    const from = this.bufferedTo;
    this.fetching = true;
    this.source(from, CHUNK_COUNT).then(
      (ack) => {
        if (epoch !== this.epoch) return;
        this.fetching = false;
        if (!ack.ok) return this.out.error(`game-at refused: ${ack.error}`);
        this.total = Math.max(this.total, ack.total);
        if (ack.at !== this.bufferedTo) return; // the buffer moved on meanwhile
        for (const d of ack.deltas) this.deltas.push(d);
        for (const e of ack.effects) this.effects.push(e);
        if (this.playing) this.schedule();
      },
      (err) => {
        if (epoch !== this.epoch) return;
        this.fetching = false;
        this.out.error(`game-at failed: ${(err as Error)?.message ?? err}`);
      },
    );
  }
}
