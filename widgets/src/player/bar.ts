// The player bar (DOM): status, transport buttons, speed, the pause-on-marker toggle, the
// position, the follow button, and the timeline (a canvas: one lane per agent, typed markers,
// compressed idle gaps as hatched bands, the playhead; hover tells, click seeks, drag or
// wheel zooms). It shows a BarState and reports what the person did; player.ts decides.
import { SPEEDS } from "../town/facts";
import { LOOKS, lookKey } from "../town/palette";
import type { Marker, MarkerKind } from "../types";
import { clampRange, formatClock, formatSpan, rangeBetween, zoomRange, type Range, type Timeline } from "./timeline";

export type Mode = "live" | "own" | "presenter";

export interface BarState {
  mode: Mode;
  /** May drive the shared replay (presenter mode). */
  controller: boolean;
  /** The seq shown (the playhead). */
  at: number;
  /** The seq the game itself is at (the live game, or the presenter's replay). */
  live: number;
  total: number;
  playing: boolean;
  speed: number;
  pauseOnMarker: boolean;
  timeline: Timeline | null;
  /** The game is a replay game (it has a presenter to go back to). */
  replayGame: boolean;
  message: string;
}

export interface BarActions {
  togglePlay(): void;
  stepBack(): void;
  stepForward(): void;
  prevMarker(): void;
  nextMarker(): void;
  nextFailure(): void;
  setSpeed(speed: number): void;
  togglePauseOnMarker(): void;
  /** A click on the timeline (or the end of a drag of the playhead). */
  seek(seq: number): void;
  /** The playhead dragged (seeks as fast as answers come). */
  scrub(seq: number): void;
  /** The follow button: back to live, back to the presenter, or take my own playhead. */
  follow(): void;
}

/** How each marker kind looks (and is named in the hover text). */
export const MARKER_STYLE: Record<MarkerKind, { colour: string; label: string; shape: Shape }> = {
  prompt: { colour: "#6fb1ff", label: "Prompt", shape: "circle" },
  failure: { colour: "#ff6b5e", label: "Failure", shape: "cross" },
  wait: { colour: "#f2c14e", label: "Waiting for a person", shape: "diamond" },
  spawn: { colour: "#5fd38a", label: "Subagent joins", shape: "up" },
  leave: { colour: "#a3acc2", label: "Subagent leaves", shape: "down" },
  compact: { colour: "#c29bff", label: "Compaction", shape: "square" },
  todo: { colour: "#47d1c1", label: "Todo done", shape: "check" },
  end: { colour: "#ffffff", label: "Session end", shape: "bar" },
};
type Shape = "circle" | "cross" | "diamond" | "up" | "down" | "square" | "check" | "bar";

const STATUS: Record<Mode, string> = { live: "LIVE", own: "REPLAY", presenter: "FOLLOWING THE PRESENTER" };

const TIMELINE_H = 42;
const MARK_ROW = 15; // the top row of the timeline: marker shapes
const PAD = 8; // px kept free at both ends of the timeline, so edge markers are whole
/** While only growing (a live game), the history layer is drawn again at most this often. */
const BASE_EVERY_MS = 250;

const SVG = "http://www.w3.org/2000/svg";
const ICONS: Record<string, string> = {
  play: "M5 3.5v13l11-6.5z",
  pause: "M5 3.5h3.6v13H5zM11.4 3.5H15v13h-3.6z",
  back: "M4 4h2.4v12H4zM16 4v12L7.5 10z",
  fwd: "M13.6 4H16v12h-2.4zM4 4v12l8.5-6z",
  prev: "M3 4h2.2v12H3zM11 4v12l-5.5-6zM17.5 4v12L12 10z",
  next: "M14.8 4H17v12h-2.2zM9 4v12l5.5-6zM2.5 4v12L8 10z",
  failure: "M10 2.5l8.5 15h-17zM9 8v5h2V8zm0 6.2v2h2v-2z",
  stopmark: "M10 2l4 4-4 4-4-4zM5 12h3v6H5zM12 12h3v6h-3z",
  zoomout: "M8.5 2a6.5 6.5 0 015.2 10.4l4.3 4.3-1.6 1.6-4.3-4.3A6.5 6.5 0 118.5 2zm0 2.2a4.3 4.3 0 100 8.6 4.3 4.3 0 000-8.6zM5.8 7.5h5.4v2H5.8z",
};

function icon(name: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 20 20");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  path.setAttribute("fill-rule", "evenodd");
  svg.append(path);
  return svg;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function button(cls: string, label: string, iconName: string | null, text = ""): HTMLButtonElement {
  const b = h("button", `ccviz-player-btn ${cls}`, { type: "button", title: label, "aria-label": label });
  if (iconName) b.append(icon(iconName));
  if (text) b.append(text);
  // A click leaves the focus where it was, so Space goes on playing and pausing (the keys
  // still reach a button tabbed to).
  b.addEventListener("mousedown", (e) => e.preventDefault());
  return b;
}

export class PlayerBar {
  readonly root: HTMLDivElement;
  readonly row: HTMLDivElement;
  private status: HTMLSpanElement;
  private play: HTMLButtonElement;
  private buttons: HTMLButtonElement[];
  private speed: HTMLSelectElement;
  private stopmark: HTMLButtonElement;
  private pos: HTMLSpanElement;
  private time: HTMLSpanElement;
  private zoomReset: HTMLButtonElement;
  private followBtn: HTMLButtonElement;
  private msg: HTMLSpanElement;
  /** The timeline's moving layer (it takes the pointer), over `base`, the history. */
  private canvas: HTMLCanvasElement;
  private base: HTMLCanvasElement;
  private baseKey = "";
  private baseShape = "";
  private baseAt = -Infinity;
  private baseTimer: ReturnType<typeof setTimeout> | null = null;
  private tip: HTMLDivElement;
  private state: BarState | null = null;
  /** The visible window of the timeline (playback ms); null: the whole history. */
  zoom: Range | null = null;
  private hoverX: number | null = null;
  private drag: { kind: "press" | "brush" | "scrub"; x0: number; x: number; id: number } | null = null;
  private drawQueued = false;
  private width = 0;
  private observer: ResizeObserver | null = null;

  constructor(
    parent: HTMLElement,
    private actions: BarActions,
    extraClass = "",
  ) {
    this.root = h("div", `ccviz-player replay ${extraClass}`.trim(), { role: "group", "aria-label": "Player" });
    this.row = h("div", "ccviz-player-row");
    this.status = h("span", "ccviz-player-status", { "data-mode": "live" });
    const prev = button("prev", "Previous marker ( [ )", "prev");
    const back = button("back", "Step back one event ( , )", "back");
    this.play = button("play", "Play (Space)", "play");
    const fwd = button("fwd", "Step forward one event ( . )", "fwd");
    const next = button("next", "Next marker ( ] )", "next");
    const failure = button("failure", "Next failure", "failure");
    this.speed = h("select", "ccviz-player-speed", { "aria-label": "Speed", title: "Speed" });
    for (const s of SPEEDS) {
      const o = h("option", "", { value: String(s) });
      o.textContent = `${s}×`;
      this.speed.append(o);
    }
    this.speed.value = "1";
    this.stopmark = button("stopmark", "Pause at each marker (for presenting)", "stopmark");
    this.stopmark.setAttribute("aria-pressed", "false");
    this.pos = h("span", "pos");
    this.time = h("span", "ccviz-player-time");
    this.msg = h("span", "ccviz-player-msg msg");
    const spacer = h("span", "ccviz-player-spacer");
    this.zoomReset = button("zoom-reset", "Show the whole session (or double-click the timeline)", "zoomout");
    this.zoomReset.hidden = true;
    this.followBtn = button("follow", "Back to live", null, "back to live");
    this.followBtn.hidden = true;
    this.row.append(this.status, prev, back, this.play, fwd, next, failure, this.speed, this.stopmark, this.pos, this.time, this.zoomReset, this.msg, spacer, this.followBtn);
    this.buttons = [prev, back, this.play, fwd, next, failure];

    const lane = h("div", "ccviz-player-timeline");
    this.base = h("canvas", "ccviz-player-history", { "aria-hidden": "true" });
    this.canvas = h("canvas", "ccviz-player-track", { "aria-label": "Timeline: click to seek, drag or wheel to zoom" });
    this.tip = h("div", "ccviz-player-tip");
    this.tip.hidden = true;
    lane.append(this.base, this.canvas);
    this.root.append(this.row, lane, this.tip);
    this.root.hidden = true;
    parent.append(this.root);

    prev.addEventListener("click", () => actions.prevMarker());
    back.addEventListener("click", () => actions.stepBack());
    this.play.addEventListener("click", () => actions.togglePlay());
    fwd.addEventListener("click", () => actions.stepForward());
    next.addEventListener("click", () => actions.nextMarker());
    failure.addEventListener("click", () => actions.nextFailure());
    this.speed.addEventListener("change", () => {
      actions.setSpeed(Number(this.speed.value));
      this.speed.blur(); // give the keys back to the player
    });
    this.stopmark.addEventListener("click", () => actions.togglePauseOnMarker());
    this.zoomReset.addEventListener("click", () => this.setZoom(null));
    this.followBtn.addEventListener("click", () => actions.follow());
    this.wireTimeline();
    if (typeof ResizeObserver !== "undefined") {
      this.observer = new ResizeObserver(() => this.redraw());
      this.observer.observe(lane);
    }
  }

  get visible(): boolean {
    return !this.root.hidden;
  }

  show(on: boolean): void {
    if (this.root.hidden === !on) return;
    this.root.hidden = !on;
    if (on) this.redraw();
  }

  destroy(): void {
    this.observer?.disconnect();
    if (this.baseTimer !== null) clearTimeout(this.baseTimer);
    this.root.remove();
  }

  update(state: BarState): void {
    this.state = state;
    const { mode } = state;
    this.root.dataset.mode = mode;
    this.status.dataset.mode = mode;
    this.status.textContent = mode === "presenter" && state.controller ? "PRESENTING" : STATUS[mode];
    this.status.title =
      mode === "live"
        ? "The game as it happens"
        : mode === "own"
          ? "Your own playhead: nobody else sees it"
          : state.controller
            ? "Your controls drive the replay everyone follows"
            : "The replay the presenter is showing";
    const playing = state.playing;
    const p = this.play;
    const want = playing ? "pause" : "play";
    if (p.dataset.icon !== want) {
      p.dataset.icon = want;
      p.replaceChildren(icon(want));
      const label = playing ? "Pause (Space)" : "Play (Space)";
      p.title = label;
      p.setAttribute("aria-label", label);
    }
    const noHistory = !state.timeline;
    for (const b of this.buttons) b.disabled = noHistory && !(mode === "presenter" && state.controller);
    const speed = String(state.speed);
    if (![...this.speed.options].some((o) => o.value === speed)) {
      const o = h("option", "", { value: speed });
      o.textContent = `${speed}×`;
      this.speed.append(o);
    }
    if (this.speed.value !== speed && document.activeElement !== this.speed) this.speed.value = speed;
    this.stopmark.setAttribute("aria-pressed", String(state.pauseOnMarker));
    this.pos.textContent = `${state.at} / ${state.total}`;
    const tl = state.timeline;
    this.time.textContent = tl && tl.start !== null ? `${formatClock(tl.realElapsed(state.at))} / ${formatClock(tl.realDuration)}` : "";
    this.msg.textContent = state.message;
    this.msg.title = state.message;
    let follow = "";
    if (mode === "own") follow = state.replayGame ? "back to the presenter" : "back to live";
    else if (mode === "presenter" && tl) follow = "take my own playhead";
    this.followBtn.hidden = !follow;
    if (follow && this.followBtn.textContent !== follow) {
      this.followBtn.textContent = follow;
      const title = follow === "take my own playhead" ? "Scrub on your own; the presenter's replay goes on" : follow[0].toUpperCase() + follow.slice(1);
      this.followBtn.title = title;
      this.followBtn.setAttribute("aria-label", title);
    }
    // While playing zoomed in, keep the playhead in the window (turn the page). Live, the
    // window stays where the person put it.
    if (this.zoom && tl && state.mode !== "live" && state.playing) {
      const ms = tl.clockOf(state.at);
      const span = this.zoom.to - this.zoom.from;
      if (ms > this.zoom.to || ms < this.zoom.from) this.setZoom(clampRange({ from: ms - span * 0.1, to: ms + span * 0.9 }, tl.duration), false);
    }
    this.redraw();
  }

  setZoom(range: Range | null, draw = true): void {
    const tl = this.state?.timeline;
    const full = tl ? tl.duration : 0;
    this.zoom = range && full > 0 && range.to - range.from < full - 1 ? range : null;
    this.zoomReset.hidden = !this.zoom;
    if (draw) this.redraw();
  }

  // -- the timeline --------------------------------------------------------------------

  private get range(): Range {
    const tl = this.state?.timeline;
    const full = tl ? tl.duration : 0;
    return this.zoom ?? { from: 0, to: full };
  }

  private xOf(ms: number): number {
    const r = this.range;
    const span = r.to - r.from;
    const w = this.width - 2 * PAD;
    return PAD + (span > 0 ? ((ms - r.from) / span) * w : w);
  }

  private msOf(x: number): number {
    const r = this.range;
    const w = Math.max(1, this.width - 2 * PAD);
    return r.from + ((x - PAD) / w) * (r.to - r.from);
  }

  /** Where event `seq` is on the timeline, in page coordinates (for tests); null if hidden. */
  pointOf(seq: number): { x: number; y: number } | null {
    const tl = this.state?.timeline;
    if (!tl || this.root.hidden) return null;
    const rect = this.canvas.getBoundingClientRect();
    const x = this.xOf(tl.clockOf(seq));
    if (x < 0 || x > rect.width) return null;
    return { x: rect.left + x, y: rect.top + rect.height - 8 };
  }

  private seqOfX(x: number): number {
    const tl = this.state?.timeline;
    if (!tl) return 0;
    return tl.nearestSeq(this.msOf(x));
  }

  redraw(): void {
    if (this.drawQueued) return;
    this.drawQueued = true;
    requestAnimationFrame(() => {
      this.drawQueued = false;
      this.draw();
    });
  }

  /** Two layers: the history (bands, lanes, markers: drawn again only when the history, the
   * window or the size changes, at most a few times a second while a live game grows) and,
   * over it, what moves (the playhead, the dimmed future, the hover line, a brush). Drawing
   * the whole history on every frame of playing cost a frame of its own on a software GL. */
  private draw(): void {
    if (this.root.hidden) return;
    const rect = this.canvas.getBoundingClientRect();
    const dpr = Math.min(3, Math.max(1, window.devicePixelRatio || 1));
    const w = Math.max(40, Math.round(rect.width));
    this.width = w;
    for (const c of [this.canvas, this.base]) {
      if (c.width !== w * dpr || c.height !== TIMELINE_H * dpr) {
        c.width = w * dpr;
        c.height = TIMELINE_H * dpr;
      }
    }
    const tl = this.state?.timeline ?? null;
    const r = this.range;
    const shape = `${w}|${dpr}|${r.from}|${r.to}|${tl ? tl.id : 0}`;
    const key = `${shape}|${tl ? tl.version : 0}|${this.state?.total ?? 0}`;
    if (key !== this.baseKey) {
      const now = performance.now();
      // Growth alone (a live game's new events) is drawn at most every BASE_EVERY_MS.
      if (shape !== this.baseShape || now - this.baseAt >= BASE_EVERY_MS) {
        this.baseKey = key;
        this.baseShape = shape;
        this.baseAt = now;
        this.drawBase(dpr);
      } else if (this.baseTimer === null) {
        this.baseTimer = setTimeout(() => {
          this.baseTimer = null;
          this.redraw();
        }, BASE_EVERY_MS);
      }
    }
    this.drawOver(dpr);
  }

  private drawBase(dpr: number): void {
    const ctx = this.base.getContext("2d");
    if (!ctx) return;
    const w = this.width;
    const hgt = TIMELINE_H;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    ctx.fillStyle = "#141824";
    roundRect(ctx, 0, 0, w, hgt, 5);
    ctx.fill();
    const st = this.state;
    const tl = st?.timeline;
    if (!st || !tl || tl.n === 0) return;
    const r = this.range;
    const visible = (ms: number) => ms >= r.from - 1 && ms <= r.to + 1;
    const lanesTop = MARK_ROW + 3;
    const lanesH = hgt - lanesTop - 3;

    // Idle gaps: hatched bands across the whole height.
    ctx.fillStyle = hatch(ctx);
    for (const b of tl.bands) {
      const a = tl.clock[b.seq - 1];
      const z = tl.clock[b.seq];
      if (z < r.from || a > r.to) continue;
      const x0 = this.xOf(a);
      const x1 = Math.max(x0 + 3, this.xOf(z));
      ctx.fillRect(x0, 1, x1 - x0, hgt - 2);
    }

    // Lanes: one per agent (packed when there are too many to tell apart).
    const packed = tl.packLanes(Math.max(1, Math.floor(lanesH / 4)));
    const rowH = packed.count ? Math.min(9, lanesH / packed.count) : 0;
    const laneY = new Map<string, number>();
    ctx.globalAlpha = 0.75;
    tl.lanes.forEach((lane, i) => {
      const y = lanesTop + packed.rows[i] * rowH;
      laneY.set(lane.agentId, y);
      const a = tl.clockOf(lane.from);
      const z = tl.clockOf(lane.to ?? tl.n);
      if (z < r.from || a > r.to) return;
      ctx.fillStyle = (LOOKS[lookKey(lane.kind, lane.type)] ?? LOOKS.other).coat;
      const x0 = Math.max(0, this.xOf(a));
      const x1 = Math.min(w, Math.max(x0 + 2, this.xOf(z)));
      ctx.fillRect(x0, y + 0.5, x1 - x0, Math.max(1.5, rowH - 1.5));
    });
    ctx.globalAlpha = 1;

    // Markers: a tick on their agent's lane, a shape in the top row.
    for (const m of tl.markers) {
      const ms = tl.clockOf(m.seq);
      if (!visible(ms)) continue;
      const y = m.agentId !== null ? laneY.get(m.agentId) : undefined;
      if (y === undefined || rowH <= 0) continue;
      ctx.fillStyle = (MARKER_STYLE[m.kind] ?? MARKER_STYLE.prompt).colour;
      ctx.fillRect(this.xOf(ms) - 0.75, y, 1.5, Math.max(2, rowH - 0.5));
    }
    for (const m of tl.markers) {
      const ms = tl.clockOf(m.seq);
      if (!visible(ms)) continue;
      const style = MARKER_STYLE[m.kind] ?? MARKER_STYLE.prompt;
      drawShape(ctx, style.shape, this.xOf(ms), MARK_ROW / 2 + 1, style.colour);
    }
  }

  private drawOver(dpr: number): void {
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    const w = this.width;
    const hgt = TIMELINE_H;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const st = this.state;
    const tl = st?.timeline;
    if (!st) return;
    if (!tl || tl.n === 0) {
      if (st.total > 0) {
        // No history (yet): a plain progress line.
        ctx.fillStyle = "#f2c14e";
        ctx.fillRect(PAD, hgt - 6, ((w - 2 * PAD) * st.at) / Math.max(1, st.total), 3);
      }
      return;
    }
    // What is not played yet is dimmed; the live end (while on your own playhead) in green.
    const atX = this.xOf(tl.clockOf(st.at));
    if (atX < w - PAD) {
      ctx.fillStyle = "rgba(20,24,36,0.45)";
      ctx.fillRect(Math.max(0, atX), 0, w - Math.max(0, atX), hgt);
    }
    if (st.mode !== "live" && st.live !== st.at && st.live <= tl.n) {
      const lx = this.xOf(tl.clockOf(st.live));
      if (lx >= 0 && lx <= w) {
        ctx.fillStyle = st.replayGame ? "#ff9a6b" : "#4caf6a";
        ctx.fillRect(lx - 1, 0, 2, hgt);
      }
    }
    // A brush being dragged.
    if (this.drag?.kind === "brush") {
      const a = Math.min(this.drag.x0, this.drag.x);
      const z = Math.max(this.drag.x0, this.drag.x);
      ctx.fillStyle = "rgba(242,193,78,0.22)";
      ctx.fillRect(a, 0, z - a, hgt);
      ctx.strokeStyle = "#f2c14e";
      ctx.lineWidth = 1;
      ctx.strokeRect(a + 0.5, 0.5, z - a - 1, hgt - 1);
    }
    // Hover hairline.
    if (this.hoverX !== null && !this.drag) {
      ctx.fillStyle = "rgba(255,255,255,0.35)";
      ctx.fillRect(Math.round(this.hoverX) - 0.5, 0, 1, hgt);
    }
    // The playhead.
    if (atX >= -2 && atX <= w + 2) {
      ctx.fillStyle = "#f2c14e";
      ctx.fillRect(atX - 1, 0, 2, hgt);
      ctx.beginPath();
      ctx.moveTo(atX - 5, 0);
      ctx.lineTo(atX + 5, 0);
      ctx.lineTo(atX, 6);
      ctx.closePath();
      ctx.fill();
    }
  }

  // -- input on the timeline ------------------------------------------------------------

  private localX(e: MouseEvent): number {
    const rect = this.canvas.getBoundingClientRect();
    return e.clientX - rect.left;
  }

  private wireTimeline(): void {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || !this.state?.timeline) return;
      const x = this.localX(e);
      const tl = this.state.timeline;
      const atX = this.xOf(tl.clockOf(this.state.at));
      this.drag = { kind: Math.abs(x - atX) <= 6 ? "scrub" : "press", x0: x, x, id: e.pointerId };
      c.setPointerCapture(e.pointerId);
      this.hideTip();
      e.preventDefault();
    });
    c.addEventListener("pointermove", (e) => {
      const x = this.localX(e);
      const d = this.drag;
      if (d && d.id === e.pointerId) {
        d.x = x;
        if (d.kind === "press" && Math.abs(x - d.x0) > 5) d.kind = "brush";
        if (d.kind === "scrub") this.actions.scrub(this.seqOfX(x));
        this.redraw();
        return;
      }
      this.hoverX = x;
      this.showTip(x);
      this.redraw();
    });
    const end = (e: PointerEvent, cancelled: boolean) => {
      const d = this.drag;
      if (!d || d.id !== e.pointerId) return;
      this.drag = null;
      const tl = this.state?.timeline;
      if (!cancelled && tl) {
        const x = this.localX(e);
        if (d.kind === "press" || d.kind === "scrub") this.actions.seek(this.seqOfX(x));
        else if (d.kind === "brush") this.setZoom(rangeBetween(this.msOf(d.x0), this.msOf(x), tl.duration), false);
      }
      this.redraw();
    };
    c.addEventListener("pointerup", (e) => end(e, false));
    c.addEventListener("pointercancel", (e) => end(e, true));
    c.addEventListener("pointerleave", () => {
      this.hoverX = null;
      this.hideTip();
      this.redraw();
    });
    c.addEventListener("dblclick", () => this.setZoom(null));
    c.addEventListener(
      "wheel",
      (e) => {
        const tl = this.state?.timeline;
        if (!tl || tl.duration <= 0) return;
        const zoomingOut = e.deltaY > 0;
        if (zoomingOut && !this.zoom) return; // nothing to zoom out of: let the page scroll
        e.preventDefault();
        const factor = zoomingOut ? 1.3 : 1 / 1.3;
        this.setZoom(zoomRange(this.range, this.msOf(this.localX(e)), factor, tl.duration));
        this.showTip(this.localX(e));
      },
      { passive: false },
    );
  }

  /** The hover text: the marker under the pointer, else the band, the lane, the moment. */
  private showTip(x: number): void {
    const st = this.state;
    const tl = st?.timeline;
    if (!st || !tl || tl.n === 0) return this.hideTip();
    let best: Marker | null = null;
    let bestD = 7;
    for (const m of tl.markers) {
      const d = Math.abs(this.xOf(tl.clockOf(m.seq)) - x);
      if (d < bestD) {
        best = m;
        bestD = d;
      }
    }
    const lines: { text: string; cls: string }[] = [];
    if (best) {
      const style = MARKER_STYLE[best.kind] ?? MARKER_STYLE.prompt;
      const who = tl.lane(best.agentId)?.name;
      lines.push({ text: `${style.label}${who ? ` · ${who}` : ""} · ${formatClock(tl.realElapsed(best.seq))} · event ${best.seq}`, cls: "head" });
      lines.push({ text: best.text || "", cls: "" });
      this.tip.style.setProperty("--kind", style.colour);
    } else {
      const ms = this.msOf(x);
      const seq = tl.nearestSeq(ms);
      const band = tl.bandAt(ms);
      lines.push({ text: `event ${seq} · ${formatClock(tl.realElapsed(seq))}`, cls: "head" });
      if (band) lines.push({ text: `idle for ${formatSpan(band.realMs)} (shortened)`, cls: "" });
      const who = tl.lanes.filter((l) => l.from <= seq && (l.to === null || l.to >= seq)).map((l) => l.name);
      if (who.length) lines.push({ text: who.slice(0, 4).join(", ") + (who.length > 4 ? ` +${who.length - 4}` : ""), cls: "muted" });
      this.tip.style.setProperty("--kind", "#aab3cc");
    }
    this.tip.replaceChildren(
      ...lines
        .filter((l) => l.text)
        .map((l) => {
          const div = h("div", l.cls);
          div.textContent = l.text;
          return div;
        }),
    );
    this.tip.hidden = false;
    const width = this.tip.offsetWidth;
    // Above the bar (over the town), centred on the pointer, inside the bar's width.
    const offset = this.canvas.getBoundingClientRect().left - this.root.getBoundingClientRect().left;
    const left = Math.max(0, Math.min(this.root.clientWidth - width, offset + x - width / 2));
    this.tip.style.left = `${left}px`;
  }

  private hideTip(): void {
    this.tip.hidden = true;
  }
}

/** The idle bands' hatching: a small tile, repeated (one fill per band). */
function hatch(ctx: CanvasRenderingContext2D): CanvasPattern | string {
  const tile = document.createElement("canvas");
  tile.width = tile.height = 6;
  const t = tile.getContext("2d");
  if (!t) return "rgba(255,255,255,0.1)";
  t.fillStyle = "rgba(255,255,255,0.07)";
  t.fillRect(0, 0, 6, 6);
  t.strokeStyle = "rgba(255,255,255,0.2)";
  t.lineWidth = 1;
  t.beginPath();
  t.moveTo(0, 6);
  t.lineTo(6, 0);
  t.moveTo(-1, 1);
  t.lineTo(1, -1);
  t.moveTo(5, 7);
  t.lineTo(7, 5);
  t.stroke();
  return ctx.createPattern(tile, "repeat") ?? "rgba(255,255,255,0.1)";
}

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, hgt: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + hgt, r);
  ctx.arcTo(x + w, y + hgt, x, y + hgt, r);
  ctx.arcTo(x, y + hgt, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

function drawShape(ctx: CanvasRenderingContext2D, shape: Shape, x: number, y: number, colour: string): void {
  const s = 4.5;
  ctx.fillStyle = colour;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.beginPath();
  switch (shape) {
    case "circle":
      ctx.arc(x, y, s - 0.5, 0, Math.PI * 2);
      ctx.fill();
      break;
    case "cross":
      ctx.moveTo(x - s + 0.5, y - s + 0.5);
      ctx.lineTo(x + s - 0.5, y + s - 0.5);
      ctx.moveTo(x + s - 0.5, y - s + 0.5);
      ctx.lineTo(x - s + 0.5, y + s - 0.5);
      ctx.lineWidth = 2.4;
      ctx.stroke();
      break;
    case "diamond":
      ctx.moveTo(x, y - s - 0.5);
      ctx.lineTo(x + s, y);
      ctx.lineTo(x, y + s + 0.5);
      ctx.lineTo(x - s, y);
      ctx.closePath();
      ctx.fill();
      break;
    case "up":
      ctx.moveTo(x, y - s);
      ctx.lineTo(x + s, y + s - 0.5);
      ctx.lineTo(x - s, y + s - 0.5);
      ctx.closePath();
      ctx.fill();
      break;
    case "down":
      ctx.moveTo(x - s, y - s + 0.5);
      ctx.lineTo(x + s, y - s + 0.5);
      ctx.lineTo(x, y + s);
      ctx.closePath();
      ctx.fill();
      break;
    case "square":
      ctx.fillRect(x - s + 0.5, y - s + 0.5, 2 * s - 1, 2 * s - 1);
      break;
    case "check":
      ctx.moveTo(x - s, y);
      ctx.lineTo(x - 1, y + s - 1);
      ctx.lineTo(x + s, y - s + 0.5);
      ctx.lineWidth = 2.2;
      ctx.stroke();
      break;
    case "bar":
      ctx.fillRect(x - 1.5, y - s - 1.5, 3, 2 * s + 3);
      break;
  }
}
