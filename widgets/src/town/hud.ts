// The heads-up display (title, folder, counters, status, elapsed time), the ticker of recent
// events and the quest board's todo lines. Texts are created once and only re-set on change.
import type * as Phaser from "phaser";
import type { Effect, Place, ReplayState, Snapshot, Todo } from "../types";
import { fitText, hudLine2 } from "./art";
import { Label } from "./label";
import { WORLD_W } from "./facts";
import { buildingBox, HUD_PANEL, TICKER } from "./layout";
import { C, FONT, LOOKS, STATUS_COLOURS } from "./palette";
import type { Box } from "./placer";
import { px, SIZE } from "./text";

type Text = Phaser.GameObjects.Text;

const measureCtx = (() => {
  let ctx: CanvasRenderingContext2D | null = null;
  return () => (ctx ??= document.createElement("canvas").getContext("2d")!);
})();

function fit(text: string, font: string, maxW: number): string {
  const ctx = measureCtx();
  ctx.font = font;
  return fitText(ctx, text, maxW);
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0");
  return h ? `${h}:${mm}:${String(sec).padStart(2, "0")}` : `${mm}:${String(sec).padStart(2, "0")}`;
}

const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`;

export function statsLine(snap: Snapshot): string {
  const st = snap.stats;
  const tools = Object.values(st?.toolCalls ?? {}).reduce((a, b) => a + b, 0);
  const parts = [
    plural(st?.prompts ?? 0, "prompt"),
    plural(tools, "call"),
    plural(st?.failures ?? 0, "failure"),
    plural(st?.subagents ?? 0, "subagent"),
  ];
  if (st?.tokens && typeof st.tokens.total === "number") parts.push(`${formatCount(st.tokens.total)} tokens`);
  return parts.join("  ·  ");
}

/** Something the HUD, the ticker or the board wrote, for the layout and the debug handle. */
export interface HudText {
  obj: Text;
  kind: "hud" | "caption" | "ticker" | "board";
}

const textStyle = (size: number, ts: number, colour: string, bold = false, k = 1) => ({
  fontFamily: FONT,
  fontSize: px(size, ts),
  fontStyle: bold ? "bold" : "",
  color: colour,
  resolution: k,
});

/** The HUD bar: the prompt being worked on (else the title), elapsed time and status on the
 * first line; the caption (what is happening now; else folder and model) and the counters on
 * the second. */
export class Hud {
  private title: Label;
  private line2: Label;
  private stats: Label;
  private elapsed: Label;
  private status: Label;
  private texts: Text[];
  private statusKey = "";
  private lastEventAt: number | null = null;
  private seenAt = 0;
  private ts = 1;
  /** The bar's height (it grows with the text scale), and its first line's. */
  height = HUD_PANEL.h;
  line1 = HUD_PANEL.h;
  /** Where the second line must stop short of (a sign right under the bar), or Infinity. */
  private signs: readonly Box[] = [];
  private shown: { caption: boolean } = { caption: false };

  constructor(scene: Phaser.Scene, k: number) {
    const add = scene.add;
    const t = (x: number, size: number, colour: string, bold = false) =>
      add.text(x, 0, "", textStyle(size, 1, colour, bold, k)).setDepth(20001);
    this.title = new Label(t(13, SIZE.prompt, C.panelText, true));
    this.line2 = new Label(t(13, SIZE.hud, C.panelMuted));
    this.stats = new Label(t(WORLD_W - 13, SIZE.hud, "#dfe5f5").setOrigin(1, 0));
    this.status = new Label(t(WORLD_W - 13, SIZE.hud, "#ffffff", true).setOrigin(1, 0).setPadding(4, 1, 4, 1));
    this.elapsed = new Label(t(WORLD_W - 13, SIZE.elapsed, "#ffffff", true).setOrigin(1, 0));
    this.texts = [this.title.text, this.line2.text, this.stats.text, this.status.text, this.elapsed.text];
    this.setTextScale(1);
  }

  applySkin(k: number): void {
    for (const t of this.texts) t.setResolution(k);
  }

  setTextScale(ts: number): void {
    this.ts = ts;
    this.title.text.setFontSize(px(SIZE.prompt, ts));
    this.line2.text.setFontSize(px(SIZE.hud, ts));
    this.stats.text.setFontSize(px(SIZE.hud, ts));
    this.status.text.setFontSize(px(SIZE.hud, ts));
    this.elapsed.text.setFontSize(px(SIZE.elapsed, ts));
    const l1 = HUD_PANEL.y + 1.5;
    const h1 = Math.max(this.title.text.height, this.status.text.height, this.elapsed.text.height);
    const l2 = l1 + h1 - 1;
    this.title.text.setY(l1);
    this.elapsed.text.setY(l1 + Math.max(0, (this.status.text.height - this.elapsed.text.height) / 2));
    this.status.text.setY(l1 + 0.5);
    this.line2.text.setY(l2);
    this.stats.text.setY(l2);
    this.line1 = l2 - HUD_PANEL.y;
    this.height = Math.max(HUD_PANEL.h, l2 + this.line2.text.height + 1 - HUD_PANEL.y);
  }

  /** The signs the second line must not run into (after a repaint of the town). */
  setSigns(signs: readonly Box[]): void {
    this.signs = signs;
  }

  /** Every text of the bar that shows something. */
  items(out: HudText[]): void {
    for (const t of this.texts)
      if (t.visible && t.text) out.push({ obj: t, kind: t === this.line2.text && this.shown.caption ? "caption" : "hud" });
  }

  update(snap: Snapshot, replay: ReplayState | null): void {
    if (snap.lastEventAt !== this.lastEventAt) {
      this.lastEventAt = snap.lastEventAt;
      this.seenAt = Date.now();
    }
    const ts = this.ts;
    const statusWord = String(snap.status ?? "idle");
    const label = replay ? `${statusWord} · replay${replay.playing ? "" : " (paused)"}` : statusWord;
    if (label !== this.statusKey) {
      this.statusKey = label;
      const [bg, fg] = STATUS_COLOURS[statusWord] ?? STATUS_COLOURS.idle;
      this.status.set(label.toUpperCase(), fg, bg);
    }
    // The second line leaves notches for signs under the bar (art.ts paints it so): the
    // counters take the last piece, the caption the first (or the widest when that is short).
    const top = this.line2.text.y;
    const pieces = hudLine2(this.signs, top, top + this.line2.text.height, 13, WORLD_W - 13).map((q, i, all) => ({
      x0: q.x0 + (i ? 4 : 0),
      x1: q.x1 - (i < all.length - 1 ? 4 : 0),
    }));
    const font2 = `${px(SIZE.hud, ts)} ${FONT}`;
    const last = pieces[pieces.length - 1] ?? { x0: WORLD_W / 2, x1: WORLD_W - 13 };
    const statsW = pieces.length > 1 ? last.x1 - last.x0 : (WORLD_W - 26) / 2;
    const stats = statsW >= 60 ? fit(statsLine(snap), font2, statsW) : "";
    this.stats.set(stats);
    this.stats.text.setVisible(!!stats);
    this.tick(snap, replay);
    const right1 = this.status.text.width + 6 + this.elapsed.text.width;
    const maxW1 = WORLD_W - 13 - right1 - 13 - 14;
    const prompt = oneLine(snap.prompt);
    const title = prompt ? `“${prompt}”` : oneLine(snap.title) || "Waiting for a Claude Code session…";
    this.title.set(fit(title, `bold ${px(SIZE.prompt, ts)} ${FONT}`, maxW1));
    // The second line: the caption, else where and with which model; it stops short of the
    // counters and of any sign that reaches up under the bar.
    const free = pieces.map((q, i) => ({
      x0: q.x0,
      x1: i === pieces.length - 1 && stats ? Math.min(q.x1, WORLD_W - 13 - this.stats.text.width - 14) : q.x1,
    }));
    let piece = free[0] ?? { x0: 13, x1: 13 };
    if (piece.x1 - piece.x0 < 160) for (const q of free) if (q.x1 - q.x0 > piece.x1 - piece.x0) piece = q;
    const caption = oneLine(snap.caption);
    this.shown.caption = !!caption;
    const folder = snap.cwd ? snap.cwd : "";
    const model = snap.model ? `  ·  ${snap.model}` : "";
    const text = caption || folder + model;
    const width = piece.x1 - piece.x0;
    this.line2.text.setX(piece.x0);
    this.line2.set(width >= 40 ? fit(text, font2, width) : "", caption ? "#ffe7a3" : C.panelMuted);
    this.line2.text.setVisible(width >= 40);
  }

  /** Elapsed time: lastEventAt − startedAt, ticking on while the game is active. */
  tick(snap: Snapshot, replay: ReplayState | null): void {
    let ms = 0;
    if (snap.startedAt != null && snap.lastEventAt != null) {
      ms = snap.lastEventAt - snap.startedAt;
      const live = snap.status === "active";
      if (live && (!replay || replay.playing)) {
        const extra = (Date.now() - this.seenAt) * (replay ? replay.speed || 1 : 1);
        ms += Math.min(Math.max(0, extra), 10 * 60_000);
      }
    }
    this.elapsed.set(snap.startedAt != null ? formatElapsed(ms) : "");
    this.elapsed.text.setX(WORLD_W - 13 - this.status.text.width - 6);
  }
}

/** A text of the snapshot as one line ("" for none). */
function oneLine(v: unknown): string {
  return typeof v === "string" ? v.replace(/\s+/g, " ").trim() : "";
}

interface TickerLine {
  dot: Phaser.GameObjects.Image;
  text: Label;
}

/** One line of the ticker: what it says, and the event it says it about. */
export interface TickerEntry {
  colour: number;
  text: string;
  flash: boolean;
  effect: Effect;
  /** The agent's name when the event arrived. */
  name: string | null;
  /** When it arrived (Date.now()). */
  at: number;
}

/** The last events, newest at the bottom; a line can be clicked for the event's fields. */
export class Ticker {
  private lines: TickerLine[] = [];
  private entries: TickerEntry[] = [];
  private dirty = false;
  private header: Text;
  private lastRender = 0;
  private ts = 1;
  private shown = 0;
  private spacing = 16.5;
  static readonly MAX_LINES = 6;

  constructor(scene: Phaser.Scene, private dotKey: () => string, k: number) {
    const add = scene.add;
    this.header = add.text(TICKER.x + 8, TICKER.y + 4, "RECENT EVENTS", textStyle(SIZE.ticker, 1, C.panelMuted, true, k)).setDepth(20001);
    for (let i = 0; i < Ticker.MAX_LINES; i++) {
      const dot = add.image(TICKER.x + 11, 0, dotKey()).setDepth(20001).setVisible(false);
      const text = add.text(TICKER.x + 18, 0, "", textStyle(SIZE.ticker, 1, "#e9edf7", false, k)).setOrigin(0, 0.5).setDepth(20001);
      this.lines.push({ dot, text: new Label(text) });
    }
    this.setTextScale(1);
  }

  applySkin(k: number): void {
    this.header.setResolution(k);
    for (const l of this.lines) {
      l.text.text.setResolution(k);
      l.dot.setTexture(this.dotKey()).setScale(1 / k);
    }
  }

  setTextScale(ts: number): void {
    this.ts = ts;
    this.header.setFontSize(px(SIZE.ticker, ts));
    for (const l of this.lines) l.text.text.setFontSize(px(SIZE.ticker, ts));
    const lineH = this.lines[0].text.text.height || SIZE.ticker * ts * 1.25;
    this.spacing = Math.max(16.5, lineH + 1.5);
    const first = this.header.y + this.header.height + 1 + lineH / 2;
    const room = TICKER.y + TICKER.h - 3 - (first - lineH / 2);
    this.shown = Math.max(1, Math.min(Ticker.MAX_LINES, Math.floor((room - lineH) / this.spacing) + 1));
    this.lines.forEach((l, i) => {
      const y = first + i * this.spacing;
      l.dot.setY(y);
      l.text.text.setY(y);
    });
    this.dirty = true;
  }

  /** Forget every line (the view jumped to another moment). */
  clear(): void {
    this.entries = [];
    this.dirty = true;
  }

  push(effect: Effect, name: string | null, look: string | null): void {
    const entry = this.entry(effect, name, look);
    if (!entry) return;
    this.entries.push(entry);
    if (this.entries.length > Ticker.MAX_LINES) this.entries.splice(0, this.entries.length - Ticker.MAX_LINES);
    this.dirty = true;
  }

  /** The events that came before what the ticker shows (a viewer that joined or jumped in
   * the middle of a game): put above its lines, oldest first, and only those older than
   * its oldest line. */
  prepend(older: readonly { effect: Effect; name: string | null; look: string | null }[]): void {
    const first = this.entries.find((e) => typeof e.effect.seq === "number")?.effect.seq ?? Infinity;
    const room = Ticker.MAX_LINES - this.entries.length;
    if (room <= 0) return;
    const kept: TickerEntry[] = [];
    for (const o of older) {
      if (typeof o.effect.seq !== "number" || o.effect.seq >= first) continue;
      const entry = this.entry(o.effect, o.name, o.look);
      if (entry) kept.push(entry);
    }
    if (!kept.length) return;
    this.entries.unshift(...kept.slice(-room));
    this.dirty = true;
  }

  private entry(effect: Effect, name: string | null, look: string | null): TickerEntry | null {
    const text = describe(effect, name);
    if (!text) return null;
    const colour = look ? parseInt((LOOKS[look]?.coat ?? "#aab3cc").slice(1), 16) : 0xaab3cc;
    return { colour, text, flash: effect.kind === "flash", effect, name, at: Date.now() };
  }

  /** Every text of the panel that shows something. */
  items(out: HudText[]): void {
    out.push({ obj: this.header, kind: "ticker" });
    for (const l of this.lines) if (l.text.text.visible && l.text.text.text) out.push({ obj: l.text.text, kind: "ticker" });
  }

  /** The entry drawn at world point (x, y), if any. */
  entryAt(x: number, y: number): TickerEntry | null {
    if (x < TICKER.x || x > TICKER.x + TICKER.w) return null;
    const n = this.entries.length;
    for (let i = 0; i < this.shown; i++) {
      const t = this.lines[i].text.text;
      if (!t.visible || !t.text) continue;
      if (Math.abs(y - t.y) <= this.spacing / 2) return this.entries[n - this.shown + i] ?? null;
    }
    return null;
  }

  /** Re-render at most a few times a second. */
  render(now: number, k: number, force = false): void {
    if (!force && (!this.dirty || now - this.lastRender < 150)) return;
    this.dirty = false;
    this.lastRender = now;
    const n = this.entries.length;
    const font = `${px(SIZE.ticker, this.ts)} ${FONT}`;
    this.lines.forEach((line, i) => {
      // Newest at the bottom.
      const e = i < this.shown ? this.entries[n - this.shown + i] : undefined;
      if (!e) {
        line.text.set("");
        line.text.text.setVisible(false);
        line.dot.setVisible(false);
        return;
      }
      line.text.text.setVisible(true);
      line.dot.setVisible(true).setTint(e.colour).setScale(1.25 / k);
      line.text.set(fit(e.text, font, TICKER.w - 24), e.flash ? "#ff9a8f" : "#e9edf7");
    });
  }
}

function describe(effect: Effect, name: string | null): string {
  const text = (effect.text ?? "").replace(/\s+/g, " ").trim();
  const who = name ?? "Town";
  switch (effect.kind) {
    case "prompt":
      return `Prompt: ${text}`;
    case "spawn":
      return `${who} joins`;
    case "leave":
      return text ? `${who}: ${text}` : `${who} left`;
    default:
      return text ? `${who}: ${text}` : "";
  }
}

/** The todo list written on the quest board. */
export class Board {
  private lines: Label[] = [];
  private count: Label;
  private key = "";
  private ts = 1;
  static readonly LINES = 5;

  constructor(scene: Phaser.Scene, k: number) {
    for (let i = 0; i < Board.LINES; i++)
      this.lines.push(new Label(scene.add.text(0, 0, "", textStyle(SIZE.board, 1, C.ink, false, k)).setOrigin(0, 0.5).setDepth(50)));
    this.count = new Label(
      scene.add.text(0, 0, "", textStyle(SIZE.board, 1, "#8a6a3f", true, k)).setOrigin(1, 0.5).setDepth(50),
    );
  }

  applySkin(k: number): void {
    for (const l of this.lines) l.text.setResolution(k);
    this.count.text.setResolution(k);
  }

  setTextScale(ts: number): void {
    this.ts = ts;
    for (const l of this.lines) l.text.setFontSize(px(SIZE.board, ts));
    this.count.text.setFontSize(px(SIZE.board, ts));
    this.key = "";
  }

  /** Every text of the board that shows something. */
  items(out: HudText[]): void {
    for (const l of [...this.lines, this.count]) if (l.text.visible && l.text.text) out.push({ obj: l.text, kind: "board" });
  }

  update(todos: Todo[], place: Place | undefined): void {
    const key = JSON.stringify([todos, place?.x, place?.y]);
    if (key === this.key) return;
    this.key = key;
    const visible = !!place;
    const { w, h } = place ? buildingBox(place) : { w: 0, h: 0 };
    const x0 = (place?.x ?? 0) - w / 2 + 9;
    const top = (place?.y ?? 0) - h;
    const done = todos.filter((t) => t.status === "completed").length;
    // The paper: from top + 17 to bottom − 17 (art.ts); as many lines as fit; the count of
    // done quests at the right of the first.
    const lineH = this.lines[0].text.height || SIZE.board * this.ts * 1.25;
    const spacing = Math.max(15.5, lineH + 1);
    const paperTop = top + 17;
    this.count.text.setPosition((place?.x ?? 0) + w / 2 - 9, paperTop + 2 + lineH / 2).setVisible(visible && todos.length > 0);
    this.count.set(todos.length ? `${done}/${todos.length}` : "");
    const countW = todos.length ? this.count.text.width + 6 : 0;
    const paperH = h - 34;
    const n = Math.max(1, Math.min(Board.LINES, Math.floor((paperH - 4 - lineH) / spacing) + 1));
    const shown = pickTodos(todos, n);
    const font = `${px(SIZE.board, this.ts)} ${FONT}`;
    this.lines.forEach((line, i) => {
      line.text.setPosition(x0, paperTop + 2 + lineH / 2 + i * spacing).setVisible(visible && i < n);
      const item = shown[i];
      if (!item || i >= n) {
        line.set(i === 0 && !todos.length ? "No quests yet" : "", "#9a8f7a");
        return;
      }
      if (typeof item === "string") {
        line.set(item, "#8a7f6a");
        return;
      }
      const glyph = item.status === "completed" ? "✓" : item.status === "in_progress" ? "▸" : "○";
      line.set(
        fit(`${glyph} ${item.content}`, font, w - 18 - (i === 0 ? countW : 0)),
        item.status === "completed" ? "#7f9a74" : item.status === "in_progress" ? "#b4570f" : C.ink,
      );
    });
  }
}

/** Up to `n` lines: from just before the first unfinished item, with "+N more" when cut. */
export function pickTodos(todos: Todo[], n: number): (Todo | string)[] {
  if (todos.length <= n) return todos;
  const first = todos.findIndex((t) => t.status !== "completed");
  let start = first < 0 ? todos.length - (n - 1) : Math.max(0, first - 1);
  start = Math.min(start, todos.length - (n - 1));
  const out: (Todo | string)[] = todos.slice(start, start + n - 1);
  const hidden = todos.length - out.length;
  out.push(`+${hidden} more`);
  return out;
}
