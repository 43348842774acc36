// The player's model of a game's history (docs/protocol.md §3, `game-history`): when each
// event happened, the markers worth jumping to and one lane per agent, on a *playback clock*
// where idle gaps are compressed. Pure: no DOM, no transport (test/player.test.mjs).
//
// The playback clock: the state after event k is reached at `clock[k]` ms of playback at 1×.
// Event 1 comes at once (clock[0] = clock[1] = 0); then each event follows the one before by
// the real time between them, but by at most GAP_CAP_MS (an idle gap of IDLE_BAND_MS or more
// is remembered as a band and drawn on the timeline), and by UNKNOWN_GAP_MS when either time
// is unknown. The server's presenter replay paces itself the same way (replays/clock.py).
import type { Lane, Marker, MarkerKind } from "../types";

/** An idle gap longer than this plays (and is drawn) this long. */
export const GAP_CAP_MS = 3000;
/** The pause between two events when either time is unknown. */
export const UNKNOWN_GAP_MS = 500;
/** A gap at least this long is an idle time (nobody typing, nothing running): drawn as a
 * band. Shorter gaps above GAP_CAP_MS are shortened too, without a band. */
export const IDLE_BAND_MS = 30_000;

export const MARKER_KINDS: readonly MarkerKind[] = ["prompt", "failure", "wait", "spawn", "leave", "compact", "todo", "end"];

/** An idle gap, shortened to GAP_CAP_MS: between event `seq - 1` and event `seq`, `realMs`
 * long in the session. */
export interface Band {
  seq: number;
  realMs: number;
}

/** Lanes packed into rows: `rows[i]` is the row of `lanes[i]`. */
export interface LaneRows {
  rows: number[];
  count: number;
}

let timelines = 0;

export class Timeline {
  /** Tells timelines apart (the bar keeps a drawing per timeline and `version`). */
  readonly id = ++timelines;
  /** Bumped by every change (events, markers, lanes): the bar draws the history again. */
  version = 0;
  /** Events covered. */
  n = 0;
  /** `clock[k]`, k = 0 … n: playback ms at which the state after event k is reached. */
  clock: number[] = [0];
  /** Epoch ms of event k at `times[k - 1]`, or null. */
  times: (number | null)[] = [];
  bands: Band[] = [];
  /** Sorted by seq. */
  markers: Marker[] = [];
  lanes: Lane[] = [];
  /** The first known time (the session's start), or null. */
  start: number | null = null;

  constructor(times: readonly (number | null)[] = [], markers: readonly Marker[] = [], lanes: readonly Lane[] = []) {
    this.extend(times);
    this.setMarkers(markers);
    this.lanes = lanes.map((l) => ({ ...l }));
  }

  /** Events n + 1 … n + times.length happened at `times`. */
  extend(times: readonly (number | null)[]): void {
    if (times.length) this.version++;
    for (const t of times) {
      const k = this.n + 1;
      const before = k > 1 ? this.times[k - 2] : null;
      let gap = 0;
      if (k > 1) {
        if (before == null || t == null) gap = UNKNOWN_GAP_MS;
        else {
          const real = Math.max(0, t - before);
          gap = Math.min(real, GAP_CAP_MS);
          if (real >= IDLE_BAND_MS) this.bands.push({ seq: k, realMs: real });
        }
      }
      this.times.push(t ?? null);
      this.clock.push(this.clock[k - 1] + gap);
      if (this.start === null && t != null) this.start = t;
      this.n = k;
    }
  }

  setMarkers(markers: readonly Marker[]): void {
    this.version++;
    this.markers = markers.filter((m) => m && Number.isInteger(m.seq)).map((m) => ({ ...m }));
    this.markers.sort((a, b) => a.seq - b.seq);
  }

  addMarker(marker: Marker): void {
    this.version++;
    const i = upperBound(this.markers, marker.seq);
    this.markers.splice(i, 0, { ...marker });
  }

  /** Playback ms of the whole history at 1×. */
  get duration(): number {
    return this.clock[this.n];
  }

  clockOf(seq: number): number {
    return this.clock[clampInt(seq, 0, this.n)];
  }

  /** The last seq whose state is reached by playback time `ms` (0 … n). */
  seqAt(ms: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.clock[mid] <= ms) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The seq whose playback time is nearest `ms` (for clicks on the timeline). */
  nearestSeq(ms: number): number {
    const k = this.seqAt(ms);
    if (k < this.n && this.clock[k + 1] - ms < ms - this.clock[k]) return k + 1;
    return k;
  }

  /** Real session ms from the first known time to event `seq` (the latest known time at or
   * before it; 0 before any). */
  realElapsed(seq: number): number {
    if (this.start === null) return 0;
    for (let k = clampInt(seq, 0, this.n); k >= 1; k--) {
      const t = this.times[k - 1];
      if (t != null) return t - this.start;
    }
    return 0;
  }

  /** The real session length in ms. */
  get realDuration(): number {
    return this.realElapsed(this.n);
  }

  /** The last event at most `seconds` after the session's start (`?t=`); 0 if none. */
  seqAtSeconds(seconds: number): number {
    if (this.start === null || !(seconds >= 0)) return 0;
    const limit = this.start + seconds * 1000;
    let found = 0;
    for (let k = 1; k <= this.n; k++) {
      const t = this.times[k - 1];
      if (t != null && t > limit) break;
      found = k;
    }
    return found;
  }

  /** The band whose compressed span holds playback time `ms`, if any. */
  bandAt(ms: number): Band | null {
    for (const b of this.bands) if (this.clock[b.seq - 1] <= ms && ms <= this.clock[b.seq]) return b;
    return null;
  }

  /** The last marker before `seq` (strictly), of one of `kinds` if given. */
  prevMarker(seq: number, kinds?: readonly MarkerKind[]): Marker | null {
    for (let i = lowerBound(this.markers, seq) - 1; i >= 0; i--) {
      const m = this.markers[i];
      if (!kinds || kinds.includes(m.kind)) return m;
    }
    return null;
  }

  /** The first marker after `seq` (strictly), of one of `kinds` if given. */
  nextMarker(seq: number, kinds?: readonly MarkerKind[]): Marker | null {
    for (let i = upperBound(this.markers, seq); i < this.markers.length; i++) {
      const m = this.markers[i];
      if (!kinds || kinds.includes(m.kind)) return m;
    }
    return null;
  }

  /** Markers with `from < seq ≤ to`. */
  markersIn(from: number, to: number): Marker[] {
    return this.markers.slice(upperBound(this.markers, from), upperBound(this.markers, to));
  }

  lane(agentId: string | null): Lane | undefined {
    return agentId === null ? undefined : this.lanes.find((l) => l.agentId === agentId);
  }

  /** One row per lane when `maxRows` allows; else agents whose lives do not overlap share a
   * row (the main agent keeps row 0). */
  packLanes(maxRows: number): LaneRows {
    const lanes = this.lanes;
    if (lanes.length <= maxRows) return { rows: lanes.map((_, i) => i), count: lanes.length };
    const rows = new Array<number>(lanes.length).fill(0);
    const ends: number[] = [Infinity]; // row 0: the main agent's; then per row the seq its last lane ended at
    const subs = lanes.map((_, i) => i).filter((i) => lanes[i].kind !== "main");
    subs.sort((a, b) => lanes[a].from - lanes[b].from);
    for (const i of subs) {
      const l = lanes[i];
      let row = ends.findIndex((end, r) => r > 0 && end < l.from);
      if (row < 0) {
        row = ends.length;
        ends.push(0);
      }
      ends[row] = l.to ?? Infinity;
      rows[i] = row;
    }
    return { rows, count: ends.length };
  }
}

/** A visible window of playback time: [from, to] ms. */
export interface Range {
  from: number;
  to: number;
}

/** The narrowest window the timeline zooms to, in playback ms. */
export const MIN_SPAN_MS = 2000;

/** Zoom `range` by `factor` (< 1 zooms in) around playback time `at`, inside [0, full]. */
export function zoomRange(range: Range, at: number, factor: number, full: number): Range {
  const span = range.to - range.from;
  const next = Math.min(full, Math.max(Math.min(MIN_SPAN_MS, full), span * factor));
  const ratio = span > 0 ? (at - range.from) / span : 0.5;
  return clampRange({ from: at - ratio * next, to: at - ratio * next + next }, full);
}

/** The window [a, b] (either order), at least MIN_SPAN_MS wide, inside [0, full]. */
export function rangeBetween(a: number, b: number, full: number): Range {
  let from = Math.min(a, b);
  let to = Math.max(a, b);
  const min = Math.min(MIN_SPAN_MS, full);
  if (to - from < min) {
    const mid = (from + to) / 2;
    from = mid - min / 2;
    to = mid + min / 2;
  }
  return clampRange({ from, to }, full);
}

export function clampRange(r: Range, full: number): Range {
  const span = Math.min(full, r.to - r.from);
  let from = Math.max(0, Math.min(r.from, full - span));
  if (!Number.isFinite(from)) from = 0;
  return { from, to: from + span };
}

/** "1:02:03" or "2:03". */
export function formatClock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** "12 min", "3 h 05 min", "40 s". */
export function formatSpan(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.trunc(v)));
}

/** The first index whose marker's seq is ≥ seq. */
function lowerBound(markers: readonly Marker[], seq: number): number {
  let lo = 0;
  let hi = markers.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (markers[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose marker's seq is > seq. */
function upperBound(markers: readonly Marker[], seq: number): number {
  let lo = 0;
  let hi = markers.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (markers[mid].seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
