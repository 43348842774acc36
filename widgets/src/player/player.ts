// The player: the bar under a game view, and who the view follows (docs/protocol.md §8).
//
//   LIVE                     the view draws the mirror: the game as it happens
//   REPLAY                   the viewer's own playhead (playhead.ts): game-at + deltas, local
//   FOLLOWING THE PRESENTER  a replay game driven by a clock on the server (the shared
//                            broadcast replay); a controller's controls drive it (agent-action),
//                            anyone else's take their own playhead from where it stands
//
// While on its own playhead the view ignores the room's updates for drawing, but the mirror
// keeps following them, so going back is instant. Nothing a viewer does here changes the game.
import type { TownView } from "../view";
import type { Effect, MarkerKind, ReplayState, Snapshot } from "../types";
import { PlayerBar, type BarState, type Mode } from "./bar";
import { browserClock, Playhead, type FrameClock } from "./playhead";
import type { HistorySource } from "./source";
import { injectStyle } from "./style";
import { Timeline } from "./timeline";

/** `?seq=N` / `?t=SECONDS` and `&play=1` (docs/protocol.md §8). */
export interface DeepLink {
  seq: number | null;
  t: number | null;
  play: boolean;
}

export function parseDeepLink(search: string): DeepLink | null {
  const p = new URLSearchParams(search);
  const num = (name: string) => {
    const raw = p.get(name);
    if (raw === null || raw.trim() === "") return null;
    const v = Number(raw);
    return Number.isFinite(v) && v >= 0 ? v : null;
  };
  const seq = num("seq");
  const t = num("t");
  const play = p.get("play") === "1" || p.get("play") === "true";
  if (seq === null && t === null && !play) return null;
  return { seq: seq === null ? null : Math.floor(seq), t, play };
}

/** Commands from Python (`GameView.seek/play/pause/follow`, over the widget comm). */
export interface PlayerCommand {
  action?: unknown;
  seq?: unknown;
  speed?: unknown;
  target?: unknown;
}

export interface PlayerOptions {
  view: TownView;
  source: HistorySource;
  /** Where the bar goes. */
  parent: HTMLElement;
  /** Where the keyboard shortcuts are listened for. */
  keys: HTMLElement | Document;
  link?: DeepLink | null;
  barClass?: string;
  /** The bar appeared or went. */
  onVisible?(visible: boolean): void;
  clock?: FrameClock;
}

export interface PlayerDebug {
  readonly mode: Mode;
  /** The status badge's text. */
  readonly status: string;
  readonly visible: boolean;
  readonly at: number;
  readonly live: number;
  readonly total: number;
  readonly playing: boolean;
  readonly speed: number;
  readonly pauseOnMarker: boolean;
  readonly controller: boolean;
  /** "none" | "asking" | "ok" | "failed" */
  readonly history: string;
  readonly markers: number;
  readonly lanes: number;
  readonly zoomed: boolean;
  readonly message: string;
  /** Where event `seq` is on the timeline, in page coordinates (null: not shown). */
  point(seq: number): { x: number; y: number } | null;
  /** Seek this viewer's own playhead; resolves with the ms until the new state was drawn
   * (a frame rendered after it). For tests and the browser bench. */
  seek(seq: number): Promise<number>;
}

const EFFECT_MARKER: Record<string, MarkerKind> = {
  prompt: "prompt",
  flash: "failure",
  wait: "wait",
  spawn: "spawn",
  leave: "leave",
  compact: "compact",
};
/** How long a passing message stays. */
const NOTE_MS = 3000;
/** A history asked for and not had is asked again after this long, at the next change. */
const HISTORY_RETRY_MS = 15_000;
/** How many events before the moment shown fill the ticker when a viewer joins or jumps. */
const BACKFILL_EVENTS = 24;
/** A jump waits this long for the next before asking for its backfill (a scrub is many). */
const BACKFILL_WAIT_MS = 120;

export class Player {
  mode: Mode = "live";
  timeline = new Timeline();
  readonly playhead: Playhead;
  readonly bar: PlayerBar;
  controller = false;
  history: "none" | "asking" | "ok" | "failed" = "none";
  speed = 1;
  pauseOnMarker = false;
  message = "";
  private view: TownView;
  private source: HistorySource;
  private historyAt = -Infinity;
  /** The seq the history covered when it came: live markers after it come from effects. */
  private historySeq = 0;
  private pendingPlay = false;
  private historyWanted = false;
  private pendingT: number | null = null;
  private probed = false;
  private lastPresenterSeq = 0;
  private renderQueued = false;
  private closed = false;
  private cleanups: (() => void)[] = [];
  private opts: PlayerOptions;
  private noteTimer: ReturnType<typeof setTimeout> | undefined;
  /** The moment the view last jumped to (a join, a seek, back to live): what to backfill. */
  private jumpedTo = -1;
  private backfillTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: PlayerOptions) {
    this.opts = opts;
    this.view = opts.view;
    this.source = opts.source;
    injectStyle();
    this.bar = new PlayerBar(opts.parent, this.barActions(), opts.barClass ?? "");
    this.playhead = new Playhead(
      (seq, count) => this.source.at(seq, count),
      this.timeline,
      {
        draw: (snap, full, deltas) => {
          if (this.mode !== "own") return;
          this.view.drawOwn(snap, full, deltas);
          if (full) this.jumped(snap.seq); // a seek: the ticker starts over
        },
        effect: (e) => {
          if (this.mode === "own") this.view.drawOwnEffect(e);
        },
        changed: () => this.ownChanged(),
        ended: () => this.ownEnded(),
        error: (m) => {
          this.message = m;
          this.view.error(m);
          this.render();
        },
      },
      opts.clock ?? browserClock,
    );
    const view = this.view;
    view.onState((snap) => this.mirrorState(snap));
    view.onEffect((e) => this.mirrorEffect(e));
    view.onReplay((r) => this.replayChanged(r));
    this.listenKeys(opts.keys);

    const link = opts.link;
    if (link) {
      this.mode = "own";
      view.useOwn();
      if (link.play) this.pendingPlay = true;
      if (link.t !== null) this.pendingT = link.t;
      else void this.playhead.seek(link.seq ?? 0);
      void this.loadHistory();
    }
    this.render();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.noteTimer);
    clearTimeout(this.backfillTimer);
    this.playhead.close();
    for (const f of this.cleanups.splice(0)) f();
    this.bar.destroy();
  }

  get replayGame(): boolean {
    return this.view.replay !== null;
  }

  /** The seq the view shows. */
  get shownSeq(): number {
    return this.mode === "own" ? this.playhead.at : this.view.mirror.seq;
  }

  get statusText(): string {
    if (this.mode === "own") return "REPLAY";
    if (this.mode === "presenter") return this.controller ? "PRESENTING" : "FOLLOWING THE PRESENTER";
    return "LIVE";
  }

  // -- what comes in -------------------------------------------------------------------

  private mirrorState(snap: Snapshot): void {
    if (this.closed) return;
    if (snap.seq > 0 && this.jumpedTo < 0 && this.mode !== "own") this.jumped(snap.seq); // joined
    if (snap.seq > 0) this.wantHistory();
    if (this.history === "failed" && performance.now() - this.historyAt > HISTORY_RETRY_MS) void this.loadHistory();
    if (this.history === "ok" && !this.replayGame && snap.seq > this.timeline.n) this.growLive(snap);
    if (this.mode === "presenter") this.presenterMoved(snap.seq);
    this.render();
  }

  /** A live game grew past the history: its times (the frame's last event time) and lanes
   * from the snapshot, its markers from the effects; a fresh history replaces them all when
   * the viewer takes its own playhead. */
  private growLive(snap: Snapshot): void {
    const tl = this.timeline;
    const add = snap.seq - tl.n;
    tl.extend(new Array(add).fill(snap.lastEventAt ?? null));
    for (const agent of Object.values(snap.agents ?? {})) {
      let lane = tl.lane(agent.id);
      if (!lane) {
        lane = { agentId: agent.id, name: agent.name, kind: agent.kind, type: agent.type, parent: agent.parent, from: snap.seq, to: null };
        tl.lanes.push(lane);
      }
      lane.name = agent.name;
      if (agent.state === "left") lane.to ??= snap.seq;
      else lane.to = null;
    }
    if (this.mode === "own") this.playhead.setTimeline(tl);
  }

  private mirrorEffect(e: Effect): void {
    if (this.history !== "ok" || this.replayGame || typeof e.seq !== "number" || e.seq <= this.historySeq) return;
    let kind = EFFECT_MARKER[e.kind];
    if (!kind) return;
    if (kind === "leave" && e.agentId === "main") kind = "end";
    this.timeline.addMarker({ seq: e.seq, kind, agentId: e.agentId ?? null, text: e.text ?? "" });
    this.render();
  }

  private replayChanged(replay: ReplayState | null): void {
    if (this.closed) return;
    if (replay && this.mode === "live") {
      this.mode = "presenter";
      this.lastPresenterSeq = this.view.mirror.seq;
    }
    if (replay && !this.probed) {
      this.probed = true;
      this.source.canControl().then(
        (yes) => {
          this.controller = yes;
          this.render();
        },
        () => {},
      );
    }
    if (replay) this.wantHistory();
    this.render();
  }

  /** Presenting with "pause at each marker": pause the shared replay on the marker it passed. */
  private presenterMoved(seq: number): void {
    const before = this.lastPresenterSeq;
    this.lastPresenterSeq = seq;
    const replay = this.view.replay;
    if (!this.pauseOnMarker || !this.controller || !replay?.playing || seq <= before) return;
    const passed = this.timeline.markersIn(before, seq)[0];
    if (!passed) return;
    void this.act("pause");
    if (passed.seq < seq) void this.act("seek", { seq: passed.seq });
  }

  /** Ask for the history once, as soon as the game has one (in parallel with the first frame:
   * waiting for that frame made the bar's timeline come about 0.4 s later for no measurable
   * gain on the frame, bench/seek_browser_bench.py). */
  private wantHistory(): void {
    if (this.historyWanted) return;
    this.historyWanted = true;
    if (this.history === "none") void this.loadHistory();
  }

  async loadHistory(): Promise<void> {
    if (this.history === "asking" || this.closed) return;
    this.history = "asking";
    this.historyAt = performance.now();
    try {
      const ack = await this.source.history();
      if (this.closed) return;
      if (!ack.ok) {
        this.history = "failed";
        this.message = `no history: ${ack.error}`;
      } else {
        const tl = new Timeline(ack.times, ack.markers, ack.lanes);
        this.timeline = tl;
        this.historySeq = ack.seq;
        // A live game may have grown while the history was on its way: keep the growth.
        const snap = this.view.mirror.snapshot;
        if (!this.replayGame && snap && snap.seq > tl.n) this.growLive(snap);
        this.history = "ok";
        if (this.message.startsWith("no history")) this.message = "";
        this.playhead.setTimeline(tl);
        if (this.pendingT !== null) {
          const seq = tl.seqAtSeconds(this.pendingT);
          this.pendingT = null;
          if (this.mode === "own") await this.playhead.seek(seq);
        }
        if (this.pendingPlay && this.mode === "own") {
          this.pendingPlay = false;
          this.playhead.setSpeed(this.speed);
          this.playhead.play();
        }
      }
    } catch (err) {
      if (this.closed) return;
      this.history = "failed";
      this.message = `no history (${(err as Error)?.message ?? err})`;
    }
    this.render();
  }

  // -- the own playhead ------------------------------------------------------------------

  private ownChanged(): void {
    if (this.mode !== "own") return;
    const p = this.playhead;
    this.view.setOwnReplay({ playing: p.playing, speed: p.speed, position: p.at, total: p.total });
    this.render();
  }

  private ownEnded(): void {
    if (this.mode !== "own" || this.replayGame) return;
    const live = this.view.mirror.snapshot;
    if (!live) return;
    if (live.seq > this.playhead.total) {
      // The game went on meanwhile: read the rest of its history and play on.
      void this.loadHistory().then(() => this.mode === "own" && this.playhead.play());
    } else if (live.status !== "ended") this.follow(); // caught up with a running game: live again
  }

  /** Leave the mirror for this viewer's own playhead, from the state shown now. */
  takeOwn(): boolean {
    if (this.mode === "own") return true;
    if (this.history !== "ok") {
      this.message = this.history === "asking" ? "reading the history…" : "this game's history is not available";
      if (this.history !== "asking") void this.loadHistory();
      this.render();
      return false;
    }
    const from = this.mode;
    const replay = this.view.replay;
    this.mode = "own";
    this.message = "";
    const snap = this.view.mirror.snapshot;
    this.view.useOwn();
    if (snap) this.playhead.start(structuredClone(snap));
    else void this.playhead.seek(0);
    if (from === "presenter" && replay) this.speed = replay.speed;
    this.playhead.setSpeed(this.speed);
    this.playhead.pauseOnMarker = this.pauseOnMarker;
    // A live game that grew since the history came: read it afresh (exact times, all markers).
    if (!this.replayGame && this.timeline.n > this.historySeq) void this.loadHistory();
    this.render();
    return true;
  }

  /** Back to the mirror: the live game, or the presenter's replay. */
  follow(): void {
    this.playhead.pause();
    this.pendingPlay = false;
    this.mode = this.replayGame ? "presenter" : "live";
    this.lastPresenterSeq = this.view.mirror.seq;
    this.message = "";
    this.view.drawMirror();
    this.jumped(this.view.mirror.seq);
    this.render();
  }

  /** The view now shows event `seq` with nothing before it in the ticker: ask for the
   * effects of the events before it (game-at), once the jumping has stopped. */
  private jumped(seq: number): void {
    this.jumpedTo = seq;
    clearTimeout(this.backfillTimer);
    if (seq <= 0) return;
    this.backfillTimer = setTimeout(() => void this.backfill(seq), BACKFILL_WAIT_MS);
  }

  private async backfill(seq: number): Promise<void> {
    const from = Math.max(0, seq - BACKFILL_EVENTS);
    try {
      const ack = await this.source.at(from, seq - from);
      // Only for the moment still shown: another jump meanwhile has its own.
      if (this.closed || !ack.ok || this.jumpedTo !== seq) return;
      this.view.backfill(ack.effects.flat());
    } catch {
      // No history to hand (offline, a server gone): the ticker fills as events come.
    }
  }

  private presenting(): boolean {
    return this.mode === "presenter" && this.controller;
  }

  private async act(type: string, fields: Record<string, unknown> = {}): Promise<void> {
    try {
      const ack = await this.source.act(type, fields);
      this.message = ack.ok ? "" : ack.error || "refused";
    } catch (err) {
      this.message = `no answer (${(err as Error).message})`;
    }
    this.render();
  }

  // -- what the person does (the bar, the keys, Python) --------------------------------

  togglePlay(): void {
    if (this.presenting()) return void this.act(this.view.replay?.playing ? "pause" : "resume");
    if (this.mode === "presenter") {
      // Not a controller: the presenter's replay goes on; this viewer pauses (or plays) alone.
      const playing = !!this.view.replay?.playing;
      if (this.takeOwn() && !playing) this.playOwn();
      return;
    }
    if (this.mode === "live") {
      this.takeOwn(); // pausing the live game: hold the state shown now
      return;
    }
    if (this.playhead.playing || this.pendingPlay) this.pauseOwn();
    else this.playOwn();
  }

  playOwn(): void {
    if (this.history !== "ok") {
      this.pendingPlay = true;
      return;
    }
    this.playhead.setSpeed(this.speed);
    this.playhead.play();
  }

  pauseOwn(): void {
    this.pendingPlay = false;
    this.playhead.pause();
    this.render();
  }

  stepBack(): void {
    if (this.presenting()) return void this.act("seek", { seq: Math.max(0, this.view.mirror.seq - 1) });
    if (this.takeOwn()) void this.playhead.stepBack();
  }

  stepForward(): void {
    if (this.presenting()) return void this.act("step");
    if (this.takeOwn()) void this.playhead.stepForward();
  }

  /** Show the state after event `seq` (the shared replay's, when presenting). */
  jump(seq: number): Promise<void> {
    if (this.presenting()) return this.act("seek", { seq });
    if (!this.takeOwn()) return Promise.resolve();
    return this.playhead.seek(seq);
  }

  private jumpToMarker(prev: boolean, kinds?: readonly MarkerKind[]): void {
    const at = this.shownSeq;
    const m = prev ? this.timeline.prevMarker(at, kinds) : this.timeline.nextMarker(at, kinds);
    if (m) void this.jump(m.seq);
    else this.note(kinds ? "no failure after this point" : prev ? "no marker before this point" : "no marker after this point");
  }

  /** A message that goes away by itself. */
  private note(text: string): void {
    this.message = text;
    this.render();
    clearTimeout(this.noteTimer);
    this.noteTimer = setTimeout(() => {
      if (this.message === text) {
        this.message = "";
        this.render();
      }
    }, NOTE_MS);
  }

  setSpeed(speed: number): void {
    if (!(speed > 0)) return;
    this.speed = speed;
    if (this.presenting()) return void this.act("speed", { speed });
    if (this.mode === "presenter") {
      const playing = !!this.view.replay?.playing;
      if (this.takeOwn()) {
        this.speed = speed;
        this.playhead.setSpeed(speed);
        if (playing) this.playOwn();
      }
      return;
    }
    this.playhead.setSpeed(speed);
    this.render();
  }

  togglePauseOnMarker(): void {
    this.pauseOnMarker = !this.pauseOnMarker;
    this.playhead.pauseOnMarker = this.pauseOnMarker;
    this.lastPresenterSeq = this.view.mirror.seq;
    this.render();
  }

  /** The follow button: back to live / the presenter, or take my own playhead. */
  followButton(): void {
    if (this.mode === "own") this.follow();
    else {
      const playing = this.mode === "presenter" && !!this.view.replay?.playing;
      if (this.takeOwn() && playing) this.playOwn();
    }
  }

  /** `GameView.seek/play/pause/follow` from Python. */
  command(cmd: PlayerCommand): void {
    const action = cmd.action;
    if (action === "seek" && typeof cmd.seq === "number") {
      if (this.takeOwn()) void this.playhead.seek(cmd.seq);
      else this.deferLink({ seq: Math.max(0, Math.floor(cmd.seq)), t: null, play: false });
    } else if (action === "play") {
      if (typeof cmd.speed === "number" && cmd.speed > 0) this.speed = cmd.speed;
      if (this.takeOwn()) this.playOwn();
      else this.deferLink({ seq: null, t: null, play: true });
    } else if (action === "pause") {
      if (this.takeOwn()) this.pauseOwn();
    } else if (action === "follow") {
      this.follow();
    }
    this.render();
  }

  /** A command that came before the history: go to the own playhead now, act when it comes. */
  private deferLink(link: DeepLink): void {
    if (this.mode !== "own") {
      this.mode = "own";
      this.view.useOwn();
      if (link.seq === null && this.view.mirror.snapshot) this.playhead.start(structuredClone(this.view.mirror.snapshot));
    }
    if (link.seq !== null) void this.playhead.seek(link.seq);
    if (link.play) this.pendingPlay = true;
  }

  private barActions() {
    return {
      togglePlay: () => this.togglePlay(),
      stepBack: () => this.stepBack(),
      stepForward: () => this.stepForward(),
      prevMarker: () => this.jumpToMarker(true),
      nextMarker: () => this.jumpToMarker(false),
      nextFailure: () => this.jumpToMarker(false, ["failure"]),
      setSpeed: (s: number) => this.setSpeed(s),
      togglePauseOnMarker: () => this.togglePauseOnMarker(),
      seek: (seq: number) => void this.jump(seq),
      scrub: (seq: number) => {
        if (!this.presenting()) void this.jump(seq);
      },
      follow: () => this.followButton(),
    };
  }

  private listenKeys(target: HTMLElement | Document): void {
    const onKey = (e: Event) => {
      const k = e as KeyboardEvent;
      if (k.ctrlKey || k.metaKey || k.altKey || !this.bar.visible || typing(k.target)) return;
      const key = k.key;
      if (key === " " || key === "Spacebar") {
        if (k.target instanceof HTMLButtonElement) return; // Space presses the focused button
        this.togglePlay();
      } else if (key === ",") this.stepBack();
      else if (key === ".") this.stepForward();
      else if (key === "[") this.jumpToMarker(true);
      else if (key === "]") this.jumpToMarker(false);
      else return;
      k.preventDefault();
      k.stopPropagation();
    };
    target.addEventListener("keydown", onKey);
    this.cleanups.push(() => target.removeEventListener("keydown", onKey));
  }

  // -- showing ---------------------------------------------------------------------------

  render(): void {
    if (this.renderQueued || this.closed) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      if (!this.closed) this.renderNow();
    });
  }

  private renderNow(): void {
    const view = this.view;
    const replay = view.replay;
    const live = view.mirror.seq;
    const own = this.mode === "own";
    const p = this.playhead;
    // Always there, from the first frame: a game without events yet shows an empty timeline
    // (and the town keeps its size when the first event comes).
    if (!this.bar.visible) {
      this.bar.show(true);
      this.opts.onVisible?.(true);
    }
    const total = own ? Math.max(p.total, this.timeline.n) : replay ? replay.total : Math.max(live, this.timeline.n);
    const state: BarState = {
      mode: this.mode,
      controller: this.controller,
      at: own ? p.at : live,
      live,
      total,
      playing: own ? p.playing || this.pendingPlay : this.mode === "presenter" ? !!replay?.playing : true,
      speed: own ? p.speed : this.mode === "presenter" && replay ? replay.speed : this.speed,
      pauseOnMarker: this.pauseOnMarker,
      timeline: this.history === "ok" ? this.timeline : null,
      replayGame: !!replay,
      message: this.message,
    };
    this.bar.update(state);
  }

  debug(): PlayerDebug {
    const player = this;
    return {
      get mode() {
        return player.mode;
      },
      get status() {
        return player.statusText;
      },
      get visible() {
        return player.bar.visible;
      },
      get at() {
        return player.shownSeq;
      },
      get live() {
        return player.view.mirror.seq;
      },
      get total() {
        return player.mode === "own" ? player.playhead.total : (player.view.replay?.total ?? Math.max(player.view.mirror.seq, player.timeline.n));
      },
      get playing() {
        if (player.mode === "own") return player.playhead.playing;
        return player.mode === "presenter" ? !!player.view.replay?.playing : true;
      },
      get speed() {
        return player.mode === "own" ? player.playhead.speed : (player.view.replay?.speed ?? player.speed);
      },
      get pauseOnMarker() {
        return player.pauseOnMarker;
      },
      get controller() {
        return player.controller;
      },
      get history() {
        return player.history;
      },
      get markers() {
        return player.timeline.markers.length;
      },
      get lanes() {
        return player.timeline.lanes.length;
      },
      get zoomed() {
        return player.bar.zoom !== null;
      },
      get message() {
        return player.message;
      },
      point: (seq: number) => player.bar.pointOf(seq),
      async seek(seq: number): Promise<number> {
        const started = performance.now();
        if (!player.takeOwn()) throw new Error(player.message || "no history");
        await player.playhead.seek(seq);
        await player.view.nextFrame();
        return performance.now() - started;
      },
    };
  }
}

/** Focus in something that takes typing: the shortcuts stay out of its way. */
function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== "string") return false;
  const tag = el.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
}
