// One game view: a Phaser game in an element, fed by a Mirror, with the read-only debug handle
// browser tests use (window.__ccviz, or window.__ccvizWidgets[gameId] for widgets).
import * as Phaser from "phaser";
import { Mirror, type MirrorListener } from "./mirror";
import { WORLD_H, WORLD_W } from "./town/facts";
import { TownScene, type AgentView, type TextView } from "./town/scene";
import type { Delta } from "./deltas";
import type { Effect, ReplayState, Snapshot } from "./types";

function readReplay(e: Effect): ReplayState | null {
  if (typeof e.position !== "number" || typeof e.total !== "number") return null;
  return {
    playing: !!e.playing,
    speed: typeof e.speed === "number" ? e.speed : 1,
    position: e.position,
    total: e.total,
    loop: !!e.loop,
  };
}

export interface ViewOptions {
  /** The element to draw in; the view fills it (or takes `width`×`height` CSS pixels). */
  parent: HTMLElement;
  width?: number | null;
  height?: number | null;
  gameId?: string | null;
  /** Cap the frame rate (a notebook may hold several views): 0 = the display's rate. */
  fpsLimit?: number;
}

export interface DebugHandle {
  readonly ready: boolean;
  readonly seq: number;
  snapshot(): Snapshot | null;
  agents(): AgentView[];
  placeXY(placeId: string, booth?: string): { x: number; y: number } | null;
  readonly errors: string[];
  readonly frames: number;
  readonly renderer: string;
  /** Every text on screen (names, tags, bubbles, signs, HUD, ticker, board), CSS pixels. */
  texts(): TextView[];
  /** The seq of the state drawn: the mirror's, or a viewer's own playhead's (player/). */
  readonly drawnSeq: number;
  /** A deep copy of the snapshot drawn (or null). */
  drawn(): Snapshot | null;
  /** The newest effects this view was given (at most 200), in order, as received. */
  effects(): Effect[];
  /** The connection's role as the join ack said it ("controller" | "viewer"), or null. */
  readonly role: string | null;
}

const MAX_ERRORS = 50;
const MAX_EFFECTS_KEPT = 200;

export class TownView {
  readonly root: HTMLDivElement;
  readonly mirror: Mirror;
  readonly scene: TownScene;
  readonly game: Phaser.Game;
  readonly errors: string[] = [];
  private effectLog: Effect[] = [];
  ready = false;
  private observer: ResizeObserver | null = null;
  private status: HTMLDivElement;
  private readyListeners: (() => void)[] = [];
  private stateListeners: ((s: Snapshot) => void)[] = [];
  private replayListeners: ((r: ReplayState | null) => void)[] = [];
  private effectListeners: ((e: Effect) => void)[] = [];
  /** Drawing a viewer's own playhead (player/) instead of the mirror: the mirror keeps
   * following the game (so going back is instant), the scene shows what `drawOwn` gives. */
  private own = false;
  /** Replay status: from `snapshot.replay`, or the `replay` visualization events. */
  replay: ReplayState | null = null;

  constructor(opts: ViewOptions) {
    const root = document.createElement("div");
    root.className = "ccviz-view";
    Object.assign(root.style, {
      position: "relative",
      overflow: "hidden",
      background: "#a6cf8a",
      lineHeight: "0",
    });
    this.root = root;
    this.setSize(opts.width ?? null, opts.height ?? null);
    opts.parent.appendChild(root);
    this.status = document.createElement("div");
    Object.assign(this.status.style, {
      position: "absolute",
      left: "50%",
      top: "12%",
      transform: "translateX(-50%)",
      padding: "3px 8px",
      borderRadius: "10px",
      font: "12px/1.4 system-ui, sans-serif",
      background: "rgba(31,36,51,0.85)",
      color: "#f3f5fb",
      pointerEvents: "none",
      display: "none",
    });
    root.appendChild(this.status);

    const backdrop = document.createElement("canvas");
    Object.assign(backdrop.style, { position: "absolute", left: "0", top: "0", pointerEvents: "none" });
    root.insertBefore(backdrop, this.status);
    const scene = new TownScene(backdrop);
    scene.onError = (m) => this.error(m);
    scene.onReady = () => {
      this.ready = true;
      for (const f of this.readyListeners.splice(0)) f();
    };
    this.scene = scene;
    scene.attachOverlay(root); // look-closer panels and the legend (town/overlay.ts)
    const listener: MirrorListener = {
      state: (snap, full, deltas) => {
        if (!this.own) scene.setState(snap, full, deltas);
        if (snap.replay !== undefined) this.setReplay(snap.replay ?? null);
        for (const f of this.stateListeners) f(snap);
      },
      effect: (e) => {
        this.effectLog.push(e);
        if (this.effectLog.length > MAX_EFFECTS_KEPT) this.effectLog.shift();
        if (e.kind === "replay") this.setReplay(readReplay(e));
        else {
          if (!this.own) scene.addEffect(e);
          for (const f of this.effectListeners) f(e);
        }
      },
      error: (m) => this.error(m),
    };
    this.mirror = new Mirror(opts.gameId ?? null, listener);

    const { w, h, dpr } = this.measure();
    this.game = new Phaser.Game({
      type: Phaser.AUTO,
      parent: root,
      width: w * dpr,
      height: h * dpr,
      transparent: true,
      banner: false,
      audio: { noAudio: true },
      input: { keyboard: false, mouse: false, touch: false, gamepad: false },
      disableContextMenu: true,
      scale: { mode: Phaser.Scale.NONE, zoom: 1 / dpr },
      render: { antialias: true, antialiasGL: false, roundPixels: false },
      fps: opts.fpsLimit ? { limit: opts.fpsLimit } : {},
      scene: [scene],
    });
    const place = () => {
      const canvas = this.game.canvas;
      if (canvas) Object.assign(canvas.style, { position: "absolute", left: "0", top: "0", display: "block" });
    };
    place();
    this.game.events.once(Phaser.Core.Events.READY, place);
    root.insertBefore(this.status, null); // above the canvases
    this.status.style.zIndex = "1";
    scene.resize(w * dpr, h * dpr, dpr);
    if (typeof ResizeObserver !== "undefined") {
      this.observer = new ResizeObserver(() => this.fit());
      this.observer.observe(root);
    }
  }

  private measure(): { w: number; h: number; dpr: number } {
    const rect = this.root.getBoundingClientRect();
    const dpr = Math.min(3, Math.max(1, window.devicePixelRatio || 1));
    // An element not laid out yet (0×0) gets the world's own size: one world unit per pixel.
    const w = Math.max(80, Math.round(rect.width) || WORLD_W);
    const h = Math.max(50, Math.round(rect.height) || WORLD_H);
    return { w, h, dpr };
  }

  /** A fixed size (`width`×`height` CSS pixels at most, shrinking with the same aspect in a
   * narrower parent), or null to fill the parent. */
  setSize(width: number | null, height: number | null): void {
    const s = this.root.style;
    if (width && height) {
      Object.assign(s, { width: `${width}px`, maxWidth: "100%", height: "auto", aspectRatio: `${width} / ${height}` });
    } else Object.assign(s, { width: "100%", maxWidth: "", height: "100%", aspectRatio: "" });
  }

  /** Match the canvas to the element (device pixels), then re-layout the scene. */
  fit(): void {
    const { w, h, dpr } = this.measure();
    const scale = this.game.scale;
    if (scale.width === w * dpr && scale.height === h * dpr) return;
    scale.resize(w * dpr, h * dpr);
    scale.setZoom(1 / dpr);
    this.scene.resize(w * dpr, h * dpr, dpr);
  }

  private setReplay(replay: ReplayState | null): void {
    this.replay = replay;
    if (!this.own) this.scene.setReplay(replay);
    for (const f of this.replayListeners) f(replay);
  }

  // -- a viewer's own playhead (player/) ---------------------------------------------------

  /** Whether the scene draws the mirror or a viewer's own playhead. */
  get drawing(): "mirror" | "own" {
    return this.own ? "own" : "mirror";
  }

  /** Stop drawing the mirror (until `drawMirror`); the scene keeps what it shows. */
  useOwn(): void {
    this.own = true;
  }

  /** Draw a state of the viewer's own playhead (`full`: replaced whole, else `deltas`
   * were applied to it). */
  drawOwn(snapshot: Snapshot, full: boolean, deltas: readonly Delta[]): void {
    this.own = true;
    // A whole new state on the own playhead is a seek: characters are where it says at
    // once (no walk across town from where the old moment had them), the ticker starts over.
    this.scene.setState(snapshot, full, deltas, full);
  }

  drawOwnEffect(effect: Effect): void {
    if (this.own) this.scene.addEffect(effect);
  }

  /** The effects of the events before the moment shown, for the ticker and the agents'
   * recent lists (the player asks `game-at` for them when a viewer joins or jumps). */
  backfill(effects: readonly Effect[]): void {
    this.scene.backfill(effects);
  }

  /** The own playhead's status, for the HUD ("replay (paused)", the elapsed clock). */
  setOwnReplay(replay: ReplayState | null): void {
    if (this.own) this.scene.setReplay(replay);
  }

  /** Back to the mirror: the live game, or the presenter's replay. */
  drawMirror(): void {
    this.own = false;
    this.scene.setReplay(this.replay);
    if (this.mirror.snapshot) this.scene.setState(this.mirror.snapshot, true, [], true);
  }

  /** Effects the mirror receives (replay statuses excepted), drawn or not. */
  onEffect(f: (e: Effect) => void): void {
    this.effectListeners.push(f);
  }

  /** Resolves after the next frame has been rendered. */
  nextFrame(): Promise<void> {
    return new Promise((resolve) => this.game.events.once(Phaser.Core.Events.POST_RENDER, () => resolve()));
  }

  onReplay(f: (r: ReplayState | null) => void): void {
    this.replayListeners.push(f);
    if (this.replay) f(this.replay);
  }

  setStatus(text: string | null): void {
    this.status.textContent = text ?? "";
    this.status.style.display = text ? "block" : "none";
  }

  onReady(f: () => void): void {
    if (this.ready) f();
    else this.readyListeners.push(f);
  }

  onState(f: (s: Snapshot) => void): void {
    this.stateListeners.push(f);
  }

  error(message: string): void {
    this.errors.push(message);
    if (this.errors.length > MAX_ERRORS) this.errors.splice(0, this.errors.length - MAX_ERRORS);
  }

  debug(): DebugHandle {
    const view = this;
    return {
      get ready() {
        return view.ready;
      },
      get seq() {
        return view.mirror.seq;
      },
      snapshot: () => (view.mirror.snapshot ? structuredClone(view.mirror.snapshot) : null),
      agents: () => view.scene.agentViews(),
      placeXY: (id: string, booth?: string) => view.scene.placeXY(id, booth),
      texts: () => view.scene.textViews(),
      get errors() {
        return view.errors;
      },
      get frames() {
        return view.scene.frames;
      },
      get renderer() {
        return view.game.renderer?.type === Phaser.WEBGL ? "webgl" : "canvas";
      },
      get drawnSeq() {
        return view.scene.snapshot ? view.scene.snapshot.seq : 0;
      },
      drawn: () => (view.scene.snapshot ? structuredClone(view.scene.snapshot) : null),
      effects: () => structuredClone(view.effectLog),
      get role() {
        return view.mirror.role;
      },
    };
  }

  destroy(): void {
    this.mirror.close();
    this.observer?.disconnect();
    this.game.destroy(true);
    this.root.remove();
  }
}
