// The heads-up display (title, folder, counters, status, elapsed time), the ticker of recent
// events and the quest board's todo lines. Texts are created once and only re-set on change.
import type * as Phaser from "phaser";
import type { Effect, Place, ReplayState, Snapshot, Todo } from "../types";
import { fitText } from "./art";
import { Label } from "./label";
import { WORLD_W } from "./facts";
import { buildingBox, TICKER } from "./layout";
import { C, FONT, LOOKS, STATUS_COLOURS } from "./palette";

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
    plural(tools, "tool call"),
    plural(st?.failures ?? 0, "failure"),
    plural(st?.subagents ?? 0, "subagent"),
  ];
  if (st?.tokens && typeof st.tokens.total === "number") parts.push(`${formatCount(st.tokens.total)} tokens`);
  return parts.join("  ·  ");
}

export class Hud {
  private title: Label;
  private cwd: Label;
  private stats: Label;
  private elapsed: Label;
  private status: Label;
  private texts: Text[];
  private statusKey = "";
  private lastEventAt: number | null = null;
  private seenAt = 0;

  constructor(scene: Phaser.Scene, k: number) {
    const add = scene.add;
    const style = (size: string, colour: string, bold = false) => ({
      fontFamily: FONT,
      fontSize: size,
      fontStyle: bold ? "bold" : "",
      color: colour,
      resolution: k,
    });
    this.title = new Label(add.text(13, 5, "", style("11.5px", C.panelText, true)).setDepth(20001));
    this.cwd = new Label(add.text(13, 19, "", style("9px", C.panelMuted)).setDepth(20001));
    this.stats = new Label(add.text(WORLD_W - 13, 19.5, "", style("9px", "#dfe5f5")).setOrigin(1, 0).setDepth(20001));
    this.status = new Label(
      add
        .text(WORLD_W - 13, 5.5, "", { ...style("8.5px", "#ffffff", true), padding: { x: 4, y: 1 } })
        .setOrigin(1, 0)
        .setDepth(20001),
    );
    this.elapsed = new Label(add.text(WORLD_W - 13, 5.5, "", style("10px", "#ffffff", true)).setOrigin(1, 0).setDepth(20001));
    this.texts = [this.title.text, this.cwd.text, this.stats.text, this.status.text, this.elapsed.text];
  }

  applySkin(k: number): void {
    for (const t of this.texts) t.setResolution(k);
  }

  update(snap: Snapshot, replay: ReplayState | null): void {
    if (snap.lastEventAt !== this.lastEventAt) {
      this.lastEventAt = snap.lastEventAt;
      this.seenAt = Date.now();
    }
    const statusWord = String(snap.status ?? "idle");
    const label = replay ? `${statusWord} · replay${replay.playing ? "" : " (paused)"}` : statusWord;
    if (label !== this.statusKey) {
      this.statusKey = label;
      const [bg, fg] = STATUS_COLOURS[statusWord] ?? STATUS_COLOURS.idle;
      this.status.set(label.toUpperCase(), fg, bg);
    }
    this.stats.set(statsLine(snap));
    this.tick(snap, replay);
    const right = Math.max(this.stats.text.width, this.status.text.width + 60);
    const maxW = WORLD_W - 13 - right - 13 - 16;
    const title = snap.title || "Waiting for a Claude Code session…";
    this.title.set(fit(title.replace(/\s+/g, " "), `bold 11.5px ${FONT}`, maxW));
    const folder = snap.cwd ? snap.cwd : "";
    const model = snap.model ? `  ·  ${snap.model}` : "";
    this.cwd.set(fit(folder + model, `9px ${FONT}`, maxW));
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

interface TickerLine {
  dot: Phaser.GameObjects.Image;
  text: Label;
}


export class Ticker {
  private lines: TickerLine[] = [];
  private entries: { colour: number; text: string; flash: boolean }[] = [];
  private dirty = false;
  private header: Text;
  private lastRender = 0;

  constructor(scene: Phaser.Scene, private dotKey: () => string, k: number) {
    const add = scene.add;
    this.header = add
      .text(TICKER.x + 8, TICKER.y + 5, "RECENT EVENTS", {
        fontFamily: FONT,
        fontSize: "8px",
        fontStyle: "bold",
        color: C.panelMuted,
        resolution: k,
      })
      .setDepth(20001);
    for (let i = 0; i < TICKER.lines; i++) {
      const y = TICKER.y + 26 + i * 16.5;
      const dot = add.image(TICKER.x + 11, y, dotKey()).setDepth(20001).setVisible(false);
      const text = add
        .text(TICKER.x + 18, y, "", { fontFamily: FONT, fontSize: "8.5px", color: "#e9edf7", resolution: k })
        .setOrigin(0, 0.5)
        .setDepth(20001);
      this.lines.push({ dot, text: new Label(text) });
    }
  }

  applySkin(k: number): void {
    this.header.setResolution(k);
    for (const l of this.lines) {
      l.text.text.setResolution(k);
      l.dot.setTexture(this.dotKey()).setScale(1 / k);
    }
  }

  push(effect: Effect, name: string | null, look: string | null): void {
    const text = describe(effect, name);
    if (!text) return;
    const colour = look ? parseInt((LOOKS[look]?.coat ?? "#aab3cc").slice(1), 16) : 0xaab3cc;
    this.entries.push({ colour, text, flash: effect.kind === "flash" });
    if (this.entries.length > TICKER.lines) this.entries.splice(0, this.entries.length - TICKER.lines);
    this.dirty = true;
  }

  /** Re-render at most a few times a second. */
  render(now: number, k: number, force = false): void {
    if (!force && (!this.dirty || now - this.lastRender < 150)) return;
    this.dirty = false;
    this.lastRender = now;
    const n = this.entries.length;
    this.lines.forEach((line, i) => {
      // Newest at the bottom.
      const e = this.entries[n - TICKER.lines + i];
      if (!e) {
        line.text.set("");
        line.dot.setVisible(false);
        return;
      }
      line.dot.setVisible(true).setTint(e.colour).setScale(1.25 / k);
      line.text.set(fit(e.text, `8.5px ${FONT}`, TICKER.w - 24), e.flash ? "#ff9a8f" : "#e9edf7");
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
  static readonly LINES = 5;

  constructor(scene: Phaser.Scene, k: number) {
    for (let i = 0; i < Board.LINES; i++)
      this.lines.push(
        new Label(
          scene.add
            .text(0, 0, "", { fontFamily: FONT, fontSize: "8.5px", color: C.ink, resolution: k })
            .setOrigin(0, 0.5)
            .setDepth(50),
        ),
      );
    this.count = new Label(
      scene.add
        .text(0, 0, "", { fontFamily: FONT, fontSize: "7.5px", fontStyle: "bold", color: "#fbe7c0", resolution: k })
        .setOrigin(1, 0.5)
        .setDepth(50),
    );
  }

  applySkin(k: number): void {
    for (const l of this.lines) l.text.setResolution(k);
    this.count.text.setResolution(k);
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
    this.count.text.setPosition((place?.x ?? 0) + w / 2 - 5, top + 9).setVisible(visible && todos.length > 0);
    this.count.set(todos.length ? `${done}/${todos.length}` : "");
    const shown = pickTodos(todos, Board.LINES);
    const font = `8.5px ${FONT}`;
    this.lines.forEach((line, i) => {
      line.text.setPosition(x0, top + 25 + i * 13.5).setVisible(visible);
      const item = shown[i];
      if (!item) {
        line.set(i === 0 && !todos.length ? "No quests yet" : "", "#9a8f7a");
        return;
      }
      if (typeof item === "string") {
        line.set(item, "#8a7f6a");
        return;
      }
      const glyph = item.status === "completed" ? "✓" : item.status === "in_progress" ? "▸" : "○";
      line.set(
        fit(`${glyph} ${item.content}`, font, w - 18),
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
