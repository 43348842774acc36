// The town scene: draws what the mirror holds, diffing each new state against what is on
// screen so that only changed characters and texts are touched.
import * as Phaser from "phaser";
import type { Delta } from "../deltas";
import type { Agent, Effect, Place, ReplayState, Snapshot } from "../types";
import { isBubbleKind, paintTown, type BubbleKind, type SignBox } from "./art";
import { Character, DEPTH, toolTag } from "./character";
import { Board, Hud, Ticker, type HudText, type TickerEntry } from "./hud";
import { DEFAULT_PLACES, HOME, WAITING, WORLD_H, WORLD_W } from "./facts";
import { layoutTexts } from "./labels";
import {
  assignSpots,
  boothPoint,
  buildingBox,
  familyOrder,
  HUD_PANEL,
  PLAZA_R,
  plazaCentre,
  route,
  TICKER,
  type Pt,
  type Route,
} from "./layout";
import { C, FONT, LOOKS } from "./palette";
import { above, clampInto, Placer, type Box } from "./placer";
import { Overlay } from "./overlay";
import { Skin } from "./skin";
import { px, SIZE, textScale } from "./text";

const MAX_QUEUED_EFFECTS = 64;
const MAX_BURSTS = 6;
/** A place with this many visitors is a crowd: their names show in the short form ("#3"). */
const CROWD = 4;
/** The last actions kept per agent (for the look-closer panel). */
const HISTORY = 8;
/** The help button, in the ticker's header. */
const HELP = { x: TICKER.x + TICKER.w - 13, y: TICKER.y + 11, r: 9 };

/** A text on screen, in CSS pixels of the canvas (the debug handle's `texts()`). */
export interface TextView {
  kind: "label" | "tag" | "bubble" | "fold" | "sign" | "hud" | "caption" | "ticker" | "board";
  /** The agent (label, tag, bubble), the place (sign; fold: a crowd's tool, "+N more"), or
   * null. */
  id: string | null;
  text: string;
  x: number;
  y: number;
  w: number;
  h: number;
  /** The font size on screen, CSS pixels. */
  px: number;
}

/** What the pointer is over: a character, a building, a ticker line, the HUD, the help button. */
export type Hit =
  | { kind: "agent"; id: string }
  | { kind: "place"; id: string }
  | { kind: "event"; entry: TickerEntry }
  | { kind: "hud" }
  | { kind: "help" };

/** One thing an agent did, as the view saw it arrive. */
export interface Action {
  kind: string;
  text: string;
  seq: number | null;
  at: number;
}

export interface AgentView {
  id: string;
  /** The place the snapshot says (where the character is, or walks to). */
  place: string;
  /** Where the character is now, in CSS pixels of the canvas. */
  x: number;
  y: number;
  /** Where it will stand at that place (its spot among the visitors, or its booth). */
  spot: { x: number; y: number };
  visible: boolean;
  state: string;
  walking: boolean;
}

export class TownScene extends Phaser.Scene {
  snapshot: Snapshot | null = null;
  replay: ReplayState | null = null;
  /** The snapshot's places once there is one; the town's defaults until then. */
  places: Readonly<Record<string, Place>> = DEFAULT_PLACES;
  private placesKey = "";
  private chars = new Map<string, Character>();
  skin!: Skin;
  /** The static town, painted with Canvas 2D into a canvas element under the game's (cheaper
   * than drawing a full-window textured quad every frame, and sharp at any size). */
  private backdrop: HTMLCanvasElement | null;
  private backdropDirty = true;
  private backdropAt = -Infinity;
  private hud!: Hud;
  private ticker!: Ticker;
  /** The next agent layout puts everyone in place at once (after a seek). */
  private jumpNext = false;
  private board!: Board;
  private glow!: Phaser.GameObjects.Image;
  private bursts: { img: Phaser.GameObjects.Image; start: number }[] = [];
  private tethers!: Phaser.GameObjects.Graphics;
  private leaders!: Phaser.GameObjects.Graphics;
  private helpButton!: Phaser.GameObjects.Image;
  private chips = new Map<string, Phaser.GameObjects.Text>();
  private signs: SignBox[] = [];
  private placer = new Placer({ x: 2, y: 2, w: WORLD_W - 4, h: WORLD_H - 4 }, 1);
  private crowded = new Set<string>();
  /** Crowds where many use one tool: that tool's tag shows once, by the place's sign. */
  private groupTags = new Map<string, { place: string; tool: string; ids: string[] }>();
  private order: Character[] = [];
  private layoutDirty = true;
  private lastLayout = -Infinity;
  /** Texts grow by this much in a view drawn smaller than the world (text.ts). */
  ts = 1;
  /** The agent whose family the tethers show brighter (hovered or picked), or null. */
  focus: string | null = null;
  /** The last actions per agent, newest last. */
  readonly history = new Map<string, Action[]>();
  /** Called after each new state or effect (the look-closer panel refreshes). */
  onChange: () => void = () => {};
  private effects: Effect[] = [];
  /** Effects from before the state shown, for the next frame (backfill). */
  private pendingBackfill: readonly Effect[] | null = null;
  private dirtyAgents = false;
  private dirtyHud = false;
  private dirtyTodos = false;
  private dirtyPlaces = false;
  private hasDrawnState = false;
  private lastHudTick = 0;
  private size = { w: WORLD_W, h: WORLD_H, dpr: 1 };
  private created = false;
  frames = 0;
  onError: (message: string) => void = () => {};
  /** Called once, after the first snapshot has been drawn. */
  onReady: () => void = () => {};
  private readyFired = false;

  constructor(backdrop: HTMLCanvasElement | null = null) {
    super({ key: "town" });
    this.backdrop = backdrop;
  }

  create(): void {
    this.skin = new Skin(this.textures);
    const k = this.scaleFor(this.zoomFor());
    this.skin.build(k, this.places);
    this.placesKey = placesSignature(this.places);
    this.glow = this.add.image(0, 0, this.skin.key("glow")).setScale(1 / k).setDepth(60).setVisible(false);
    this.tethers = this.add.graphics().setDepth(DEPTH.tether);
    this.leaders = this.add.graphics().setDepth(DEPTH.leader);
    this.helpButton = this.add.image(HELP.x, HELP.y, this.skin.key("help")).setScale(1 / k).setDepth(20002);
    this.hud = new Hud(this, k);
    this.ticker = new Ticker(this, () => this.skin.key("dot"), k);
    this.board = new Board(this, k);
    this.board.update([], this.places.questboard);
    this.skin.flush();
    this.created = true;
    this.events.once(Phaser.Scenes.Events.DESTROY, () => this.overlay?.destroy());
    this.layoutCamera();
    this.game.events.on(Phaser.Core.Events.POST_RENDER, () => {
      this.frames++;
      if (this.hasDrawnState && !this.readyFired) {
        this.readyFired = true;
        this.onReady();
      }
    });
    if (this.snapshot) this.markAll();
  }

  // -- input from the mirror ---------------------------------------------------------------

  /** `jump`: the state is another moment (a seek), not the next one: characters are put
   * where it says without walking, and the ticker of the old moment is cleared. */
  setState(snapshot: Snapshot, full: boolean, deltas: readonly Delta[], jump = false): void {
    this.snapshot = snapshot;
    this.onChange();
    if (jump) {
      this.jumpNext = true;
      this.effects = [];
      this.pendingBackfill = null;
      this.ticker?.clear();
    }
    if (full) return this.markAll();
    for (const d of deltas) {
      const top = d[1][0];
      if (top === "agents") this.dirtyAgents = true;
      else if (top === "places") {
        this.dirtyPlaces = true;
        this.dirtyAgents = true;
      } else if (top === "todos") this.dirtyTodos = true;
      else this.dirtyHud = true;
    }
  }

  setReplay(replay: ReplayState | null): void {
    this.replay = replay;
    this.dirtyHud = true;
  }

  addEffect(effect: Effect): void {
    const kind: unknown = effect.kind;
    if (effect.agentId && typeof kind === "string") {
      const list = this.history.get(effect.agentId) ?? [];
      list.push({ kind, text: String(effect.text ?? ""), seq: typeof effect.seq === "number" ? effect.seq : null, at: Date.now() });
      if (list.length > HISTORY) list.splice(0, list.length - HISTORY);
      this.history.set(effect.agentId, list);
    }
    this.effects.push(effect);
    if (this.effects.length > MAX_QUEUED_EFFECTS) this.effects.splice(0, this.effects.length - MAX_QUEUED_EFFECTS);
  }

  /** The effects of the events just before the state shown (a viewer that joined or jumped
   * in the middle): they fill the ticker and the agents' recent lists, without bubbles,
   * flashes or walks. Taken at the next frame, once the characters of the state exist. */
  backfill(effects: readonly Effect[]): void {
    this.pendingBackfill = effects;
  }

  private runBackfill(): void {
    const effects = this.pendingBackfill;
    this.pendingBackfill = null;
    if (!effects) return;
    const older: { effect: Effect; name: string | null; look: string | null }[] = [];
    const perAgent = new Map<string, Action[]>();
    for (const e of effects) {
      const ch = e.agentId ? this.chars.get(e.agentId) : undefined;
      if (e.agentId && !ch) continue; // an agent no longer in the town: no name to give it
      older.push({ effect: e, name: ch ? ch.agent.name : null, look: ch ? ch.look : null });
      if (e.agentId && typeof e.seq === "number") {
        const list = perAgent.get(e.agentId) ?? [];
        list.push({ kind: e.kind, text: String(e.text ?? ""), seq: e.seq, at: Date.now() });
        perAgent.set(e.agentId, list);
      }
    }
    this.ticker.prepend(older);
    for (const [id, notes] of perAgent) {
      const list = this.history.get(id) ?? [];
      const first = list.find((n) => n.seq !== null)?.seq ?? Infinity;
      const merged = [...notes.filter((n) => (n.seq ?? 0) < first), ...list];
      this.history.set(id, merged.slice(-HISTORY));
    }
    this.layoutDirty = true;
    this.onChange();
  }

  private markAll(): void {
    this.dirtyAgents = this.dirtyHud = this.dirtyTodos = this.dirtyPlaces = true;
  }

  // -- sizing ----------------------------------------------------------------------------

  /** The canvas is `w`×`h` device pixels (CSS size × dpr). */
  resize(w: number, h: number, dpr: number): void {
    this.size = { w, h, dpr };
    if (this.created) this.layoutCamera();
  }

  private zoomFor(): number {
    return Math.max(0.1, Math.min(this.size.w / WORLD_W, this.size.h / WORLD_H));
  }

  private scaleFor(zoom: number): number {
    return Math.min(3, Math.max(1, Math.ceil(zoom * 2) / 2));
  }

  private layoutCamera(): void {
    const cam = this.cameras.main;
    const zoom = this.zoomFor();
    cam.setSize(this.size.w, this.size.h);
    cam.setZoom(zoom);
    cam.centerOn(WORLD_W / 2, WORLD_H / 2);
    this.backdropDirty = true;
    const k = this.scaleFor(zoom);
    if (k !== this.skin.k) this.reskin(k);
    const ts = textScale(zoom / this.size.dpr);
    if (ts !== this.ts || !this.tsApplied) this.setTextScale(ts);
  }

  private tsApplied = false;

  /** Font sizes for a new text scale: every text, and the signs on the next repaint. */
  private setTextScale(ts: number): void {
    this.ts = ts;
    this.tsApplied = true;
    this.hud.setTextScale(ts);
    this.ticker.setTextScale(ts);
    this.board.setTextScale(ts);
    this.dirtyTodos = this.dirtyHud = true;
    for (const ch of this.chars.values()) ch.setTextScale(ts);
    for (const chip of this.chips.values()) chip.setFontSize(px(SIZE.chip, ts));
    this.backdropDirty = true;
    this.layoutDirty = true;
  }

  private reskin(k: number): void {
    this.skin.build(k, this.places);
    this.glow.setTexture(this.skin.key("glow")).setScale(1 / k);
    this.helpButton.setTexture(this.skin.key("help")).setScale(1 / k);
    for (const chip of this.chips.values()) chip.setResolution(k);
    for (const b of this.bursts) b.img.setTexture(this.skin.key("ring"));
    for (const ch of this.chars.values()) ch.applySkin();
    this.hud.applySkin(k);
    this.ticker.applySkin(k);
    this.board.applySkin(k);
    this.ticker.render(this.time.now, k, true);
    this.skin.flush();
  }

  /** World point → CSS pixels in the canvas. */
  toCanvas(p: Pt): { x: number; y: number } {
    const zoom = this.zoomFor();
    const { w, h, dpr } = this.size;
    return {
      x: ((p.x - WORLD_W / 2) * zoom + w / 2) / dpr,
      y: ((p.y - WORLD_H / 2) * zoom + h / 2) / dpr,
    };
  }

  /** A place's point (or one embassy booth's) in CSS pixels of the canvas. */
  placeXY(placeId: string, booth?: string): { x: number; y: number } | null {
    const p = this.places[placeId];
    if (!p) return null;
    if (booth !== undefined) {
      const b = boothPoint(p, (p.booths ?? []).indexOf(booth));
      return b ? this.toCanvas(b) : null;
    }
    return this.toCanvas(p);
  }

  agentViews(): AgentView[] {
    const out: AgentView[] = [];
    for (const [id, ch] of this.chars) {
      const c = this.toCanvas(ch);
      out.push({
        id,
        place: ch.agent.place,
        x: c.x,
        y: c.y,
        spot: this.toCanvas(ch.target),
        visible: ch.visible,
        state: ch.agent.state,
        walking: ch.walking || this.dirtyAgents, // a new place is not walked to until the next frame
      });
    }
    for (const agent of Object.values(this.snapshot?.agents ?? {}))
      if (!this.chars.has(agent.id)) {
        const home = this.toCanvas({ x: 0, y: 0 });
        out.push({ id: agent.id, place: agent.place, ...home, spot: home, visible: false, state: agent.state, walking: false });
      }
    return out;
  }

  // -- the frame loop ----------------------------------------------------------------------

  update(time: number, delta: number): void {
    try {
      this.step(time, Math.min(delta, 100));
    } catch (err) {
      this.onError(`scene: ${(err as Error)?.stack ?? err}`);
    }
  }

  private step(now: number, dt: number): void {
    const snap = this.snapshot;
    if (snap) {
      if (this.dirtyPlaces) {
        this.dirtyPlaces = false;
        this.syncPlaces(snap.places ?? {});
      }
      if (this.dirtyAgents) {
        this.dirtyAgents = false;
        this.syncAgents(snap.agents ?? {}, now);
      }
      if (this.dirtyTodos) {
        this.dirtyTodos = false;
        this.board.update(snap.todos ?? [], this.places.questboard);
      }
      if (this.dirtyHud) {
        this.dirtyHud = false;
        this.hud.update(snap, this.replay ?? snap.replay ?? null);
      }
      if (this.pendingBackfill) this.runBackfill();
      if (this.effects.length) this.runEffects(now);
      if (now - this.lastHudTick > 250) {
        this.lastHudTick = now;
        this.hud.tick(snap, this.replay ?? snap.replay ?? null);
      }
      this.hasDrawnState = true;
    }
    let waiting = false;
    let moving = false;
    for (const ch of this.chars.values()) {
      ch.tick(now, dt);
      if (ch.visible && ch.agent.state === "waiting") waiting = true;
      if (ch.visible && (ch.walking || ch.popping)) moving = true;
    }
    const desk = this.places[WAITING];
    if (waiting && desk) {
      this.glow
        .setVisible(true)
        .setPosition(desk.x + 24, desk.y - 18)
        .setAlpha(0.55 + 0.45 * Math.sin(now / 180));
    } else if (this.glow.visible) this.glow.setVisible(false);
    this.tickBursts(now);
    this.ticker.render(now, this.skin.k);
    // Repaint the backdrop after a change of size or places (at most ~8 times a second while
    // a window is being dragged).
    if (this.backdropDirty && now - this.backdropAt > 120) {
      this.backdropDirty = false;
      this.backdropAt = now;
      this.paintBackdrop();
    }
    // Lay the texts out again when anything moved or changed (and a few times a second for
    // bubbles running out).
    if (moving || this.layoutDirty || now - this.lastLayout > 200) {
      this.layoutDirty = false;
      this.lastLayout = now;
      this.layout(now);
    }
  }

  /** Every name, tag and bubble in a free place (labels.ts); then the lines that tie
   * subagents to their parents and bubbles to their far speakers, and the "+N more" chips. */
  private layout(now: number): void {
    const placer = this.placer;
    placer.clear();
    placer.add({ x: HUD_PANEL.x, y: HUD_PANEL.y, w: HUD_PANEL.w, h: this.hud.height });
    placer.add(TICKER);
    const board = this.places.questboard;
    if (board) {
      const { w, h } = buildingBox(board);
      placer.add({ x: board.x - w / 2, y: board.y - h, w, h: h - 10 });
    }
    for (const b of this.signs) placer.add(b);
    // A crowd using one tool shows it once, by its place's sign ("Read ×12"), not over every
    // head.
    const folded = new Set<string>();
    const seen = new Set<string>();
    for (const [key, g] of this.groupTags) {
      seen.add(`tag:${key}`);
      const chip = this.chip(`tag:${key}`, "#ffffff", this.skin.placeColour(g.place));
      const text = `${g.tool} ×${g.ids.length}`;
      if (chip.text !== text) chip.setText(text);
      if (this.placeChip(chip, key, g.ids)) for (const id of g.ids) folded.add(id);
    }
    const result = layoutTexts(this.order, placer, now, this.crowded, folded, this.signs);
    // Folded bubbles: "+N more" by the crowd that said them.
    for (const [place, f] of result.folded) {
      seen.add(`more:${place}`);
      const chip = this.chip(`more:${place}`, "#2d2622", "#ffffff");
      const text = `+${f.count} more`;
      if (chip.text !== text) chip.setText(text);
      const w = chip.width;
      const h = chip.height;
      const near: Box[] = [];
      for (const dy of [8, 24, 44]) for (const dx of [0, -w, w]) near.push(above(f.x + dx, f.y - dy, w, h));
      this.placeChip(chip, place, [], near);
    }
    for (const [key, chip] of this.chips) if (!seen.has(key)) chip.setVisible(false);
    this.drawLines(result.leaders);
  }

  /** The chip `key` (a group's tag, or a "+N more"), made on first use. */
  private chip(key: string, colour: string, background: string): Phaser.GameObjects.Text {
    let chip = this.chips.get(key);
    if (!chip) {
      chip = this.add
        .text(0, 0, "", {
          fontFamily: FONT,
          fontSize: px(SIZE.chip, this.ts),
          fontStyle: "bold",
          color: colour,
          backgroundColor: background,
          padding: { x: 4, y: 1 },
          resolution: this.skin.k,
        })
        .setDepth(DEPTH.bubble + 1);
      this.chips.set(key, chip);
    } else if (chip.style.backgroundColor !== background) chip.setBackgroundColor(background);
    return chip;
  }

  /** Put a chip next to the sign of the place (or booth) `key`, else near its crowd, else by
   * `near`; hide it when nothing is free. Returns whether it found a place. */
  private placeChip(chip: Phaser.GameObjects.Text, key: string, ids: readonly string[], near: Box[] = []): boolean {
    const w = chip.width;
    const h = chip.height;
    const cands: Box[] = [];
    const [placeId, booth] = key.split("#");
    const sign = this.signs.find((b) => b.id === (booth ? `${placeId}#${booth}` : placeId));
    if (sign) {
      const cy = sign.y + sign.h / 2 - h / 2;
      cands.push(
        { x: sign.x + sign.w + 4, y: cy, w, h },
        { x: sign.x - w - 4, y: cy, w, h },
        { x: sign.x + sign.w / 2 - w / 2, y: sign.y - h - 3, w, h },
        { x: sign.x + sign.w + 4, y: cy + h + 2, w, h },
        { x: sign.x - w - 4, y: cy + h + 2, w, h },
        { x: sign.x + sign.w / 2 - w / 2, y: sign.y + sign.h + 3, w, h },
      );
    }
    cands.push(...near);
    let top = Infinity;
    let sx = 0;
    for (const id of ids) {
      const ch = this.chars.get(id);
      if (!ch) continue;
      top = Math.min(top, ch.y - ch.height);
      sx += ch.x / ids.length;
    }
    if (top < Infinity) for (const dy of [6, 22, 40]) for (const dx of [0, -w, w]) cands.push(above(sx + dx, top - dy, w, h));
    const i = this.placer.place(cands.map((b) => clampInto(b, this.placer.bounds)));
    if (i < 0) {
      chip.setVisible(false);
      return false;
    }
    const b = clampInto(cands[i], this.placer.bounds);
    chip.setVisible(true).setPosition(b.x, b.y);
    return true;
  }

  /** Tethers (a subagent to its parent, at their feet, in the child's colour) and leaders (a
   * bubble moved aside to its speaker's head). */
  private drawLines(leaders: [Pt, Pt][]): void {
    const g = this.tethers;
    g.clear();
    const focus = this.focus;
    for (const ch of this.order) {
      const parentId = ch.agent.parent;
      if (!ch.visible || !parentId) continue;
      const parent = this.chars.get(parentId);
      if (!parent || !parent.visible) continue;
      const lit = focus !== null && (focus === ch.agent.id || focus === parentId);
      const colour = parseInt((LOOKS[ch.look]?.coat ?? "#888888").slice(1), 16);
      const a = { x: ch.x, y: ch.y - 2 };
      const b = { x: parent.x, y: parent.y - 2 };
      // Near: a clear thread; across the town: a faint one (unless its family is looked at).
      const len = Math.hypot(b.x - a.x, b.y - a.y);
      const faint = clampN(1 - (len - 90) / 260, 0.28, 1);
      g.lineStyle(lit ? 2.5 : 1.6, colour, (lit ? 0.95 : 0.55 * faint) * Math.min(ch.alpha, parent.alpha));
      // A gentle sag, like a string on the ground.
      const mx = (a.x + b.x) / 2;
      const my = (a.y + b.y) / 2 + Math.min(18, Math.hypot(b.x - a.x, b.y - a.y) / 8);
      g.beginPath();
      g.moveTo(a.x, a.y);
      for (let t = 1; t <= 8; t++) {
        const u = t / 8;
        const v = 1 - u;
        g.lineTo(v * v * a.x + 2 * v * u * mx + u * u * b.x, v * v * a.y + 2 * v * u * my + u * u * b.y);
      }
      g.strokePath();
      g.fillStyle(colour, 0.8 * ch.alpha);
      g.fillCircle(b.x, b.y, 1.8);
    }
    const l = this.leaders;
    l.clear();
    l.lineStyle(1.2, 0x4a3b32, 0.7);
    for (const [a, b] of leaders) l.lineBetween(a.x, a.y, b.x, b.y);
  }

  // -- looking closer --------------------------------------------------------------------

  /** CSS pixels of the canvas → world units. */
  toWorld(x: number, y: number): Pt {
    const zoom = this.zoomFor();
    const { w, h, dpr } = this.size;
    return { x: (x * dpr - w / 2) / zoom + WORLD_W / 2, y: (y * dpr - h / 2) / zoom + WORLD_H / 2 };
  }

  /** What is drawn at CSS point (x, y) of the canvas, nearest the viewer first. */
  hitTest(x: number, y: number): Hit | null {
    const p = this.toWorld(x, y);
    const inside = (b: Box) => p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h;
    if (Math.hypot(p.x - HELP.x, p.y - HELP.y) <= HELP.r + 2) return { kind: "help" };
    if (inside(TICKER)) {
      const entry = this.ticker.entryAt(p.x, p.y);
      return entry ? { kind: "event", entry } : null;
    }
    if (inside({ x: HUD_PANEL.x, y: HUD_PANEL.y, w: HUD_PANEL.w, h: this.hud.height })) return { kind: "hud" };
    // Characters: the body, or its name or tag; the one in front wins.
    let best: Character | null = null;
    for (const ch of this.chars.values()) {
      if (!ch.visible || ch.alpha < 0.3) continue;
      const half = 11 * (ch.agent.kind === "main" ? 1.2 : 1);
      const hit =
        inside({ x: ch.x - half, y: ch.y - ch.height, w: 2 * half, h: ch.height + 3 }) ||
        (ch.label.visible && inside(boxOf(ch.label))) ||
        (ch.tag.visible && inside(boxOf(ch.tag)));
      if (hit && (!best || ch.y > best.y)) best = ch;
    }
    if (best) return { kind: "agent", id: best.agent.id };
    for (const b of this.signs) if (inside(b)) return { kind: "place", id: b.id.split("#")[0] };
    for (const place of Object.values(this.places)) {
      if (place.id === HOME) {
        if (Math.hypot(p.x - place.x, p.y - place.y) <= PLAZA_R) return { kind: "place", id: place.id };
        continue;
      }
      const { w, h } = buildingBox(place);
      if (inside({ x: place.x - w / 2, y: place.y - h, w, h: h + 6 })) return { kind: "place", id: place.id };
      for (const [i] of (place.booths ?? []).entries()) {
        const b = boothPoint(place, i);
        if (b && inside({ x: b.x - 15, y: b.y - 24, w: 30, h: 38 })) return { kind: "place", id: place.id };
      }
    }
    return null;
  }

  /** Every text on screen, in CSS pixels (for tests: none may cover another). */
  textViews(): TextView[] {
    const out: TextView[] = [];
    const scale = this.zoomFor() / this.size.dpr;
    const push = (kind: TextView["kind"], id: string | null, text: string, b: Box, size: number) => {
      const c = this.toCanvas(b);
      out.push({ kind, id, text, x: c.x, y: c.y, w: b.w * scale, h: b.h * scale, px: size * scale });
    };
    const fontOf = (t: Phaser.GameObjects.Text) => parseFloat(String(t.style.fontSize)) || 0;
    const shows = (o: { visible: boolean; alpha: number }) => o.visible && o.alpha > 0.02;
    for (const ch of this.chars.values()) {
      if (!ch.visible) continue;
      const id = ch.agent.id;
      if (shows(ch.label) && ch.label.text) push("label", id, ch.label.text, boxOf(ch.label), fontOf(ch.label));
      if (shows(ch.tag) && ch.tag.text) push("tag", id, ch.tag.text, boxOf(ch.tag), fontOf(ch.tag));
      const b = ch.bubble;
      if (b && shows(b) && ch.bubbleText) {
        const box = { x: b.x - ch.bubbleW / 2, y: b.y - ch.bubbleH, w: ch.bubbleW, h: ch.bubbleH };
        push("bubble", id, ch.bubbleText.text, box, fontOf(ch.bubbleText));
      }
    }
    // Chips: a crowd's one tool tag ("tag:<place>") and folded bubbles ("more:<place>").
    for (const [key, chip] of this.chips) if (shows(chip)) push("fold", key.slice(key.indexOf(":") + 1), chip.text, boxOf(chip), fontOf(chip));
    for (const sgn of this.signs) push("sign", sgn.id, sgn.text, sgn, SIZE.sign * this.ts);
    const items: HudText[] = [];
    this.hud.items(items);
    this.ticker.items(items);
    this.board.items(items);
    for (const it of items) if (shows(it.obj)) push(it.kind, null, it.obj.text, boxOf(it.obj), fontOf(it.obj));
    return out;
  }

  /** A place's label (its id when the town has no such place). */
  placeLabel(id: string): string {
    return this.places[id]?.label ?? id;
  }

  /** A place's roof colour, as CSS. */
  placeColour(id: string): string {
    return this.skin ? this.skin.placeColour(id) : "#4b566f";
  }

  /** The look-closer panels and the legend, over `root` (the view's element). */
  overlay: Overlay | null = null;

  attachOverlay(root: HTMLElement): Overlay {
    this.overlay?.destroy();
    this.overlay = new Overlay(root, this);
    return this.overlay;
  }

  private paintBackdrop(): void {
    const canvas = this.backdrop;
    if (!canvas) return;
    const zoom = this.zoomFor();
    const { w, h, dpr } = this.size;
    const pw = Math.round(WORLD_W * zoom);
    const ph = Math.round(WORLD_H * zoom);
    if (canvas.width !== pw || canvas.height !== ph) {
      canvas.width = pw;
      canvas.height = ph;
    }
    this.signs = paintTown(canvas, pw / WORLD_W, this.places, this.ts, { h: this.hud.height, h1: this.hud.line1 });
    this.hud.setSigns(this.signs);
    this.dirtyHud = true;
    this.layoutDirty = true;
    Object.assign(canvas.style, {
      left: `${(w / 2 - pw / 2) / dpr}px`,
      top: `${(h / 2 - ph / 2) / dpr}px`,
      width: `${pw / dpr}px`,
      height: `${ph / dpr}px`,
    });
  }

  private syncPlaces(places: Record<string, Place>): void {
    const sig = placesSignature(places);
    this.places = places;
    if (sig === this.placesKey) return;
    this.placesKey = sig;
    this.skin.places = places;
    this.backdropDirty = true;
    this.dirtyTodos = true;
  }

  private syncAgents(agents: Record<string, Agent>, now: number): void {
    const first = !this.readyFiredOrDrawn() || this.jumpNext;
    this.jumpNext = false;
    const spots = assignSpots(agents, this.places);
    const plaza = plazaCentre(this.places);
    this.layoutDirty = true;
    // Crowds: places (or booths) with CROWD visitors or more.
    const groups = new Map<string, string[]>();
    for (const [id, spot] of spots) {
      const key = `${spot.place}#${spot.booth ?? ""}`;
      const g = groups.get(key);
      if (g) g.push(id);
      else groups.set(key, [id]);
    }
    this.crowded.clear();
    this.groupTags.clear();
    for (const [key, ids] of groups) {
      if (ids.length < CROWD) continue;
      for (const id of ids) this.crowded.add(id);
      const byTool = new Map<string, string[]>();
      for (const id of ids) {
        const a = agents[id];
        if (a?.state !== "working" || !a.tool) continue;
        const t = toolTag(a.tool.name);
        const list = byTool.get(t);
        if (list) list.push(id);
        else byTool.set(t, [id]);
      }
      let best: [string, string[]] | null = null;
      for (const entry of byTool) if (!best || entry[1].length > best[1].length) best = entry;
      if (best && best[1].length >= 3) {
        const [place, booth] = key.split("#");
        this.groupTags.set(booth ? `${place}#${booth}` : place, { place, tool: best[0], ids: best[1] });
      }
    }
    for (const [id, ch] of this.chars)
      if (!agents[id]) {
        ch.destroy();
        this.chars.delete(id);
      }
    // Parents first, so a newcomer can start from where its parent stands.
    for (const agent of Object.values(agents)) {
      let ch = this.chars.get(agent.id);
      const isNew = !ch;
      // A character that left before we ever drew it is never seen: make it only if it
      // comes back (a long session joins with a hundred of them: this keeps joins fast).
      if (!ch && agent.state === "left") continue;
      if (!ch) {
        ch = new Character(this, this.skin, agent);
        ch.setTextScale(this.ts);
        this.chars.set(agent.id, ch);
      } else ch.setAgent(agent);
      if (agent.state === "left") {
        if (first || isNew) ch.hide();
        else if (ch.visible) ch.leave(now, plaza);
        continue;
      }
      const spot = spots.get(agent.id);
      if (!spot) continue;
      const key = `${spot.place}#${spot.booth ?? ""}`;
      if (!ch.visible || ch.leavingSince >= 0) {
        const parent = agent.parent ? this.chars.get(agent.parent) : undefined;
        const start = !first && parent?.visible ? { x: parent.x + 10, y: parent.y + 4 } : spot;
        ch.teleport(start);
        ch.show(now, !first);
        ch.place = start === spot ? spot.place : (parent?.place ?? spot.place);
        ch.spotKey = start === spot ? key : "";
        if (start !== spot) ch.walk(route(start, ch.place, spot.place, spot, this.places));
      } else if (key !== ch.spotKey || dist(spot, ch.target) > 0.5) {
        if (first) ch.teleport(spot);
        else ch.walk(this.reroute(ch, spot.place, spot, key));
      }
      ch.target = { x: spot.x, y: spot.y };
      ch.spotKey = key;
      ch.place = spot.place;
    }
    this.order = familyOrder(agents)
      .map((a) => this.chars.get(a.id))
      .filter((c): c is Character => !!c);
  }

  private readyFiredOrDrawn(): boolean {
    return this.hasDrawnState;
  }

  /** A route from wherever `ch` is (standing, or mid-walk) to `spot` at `to`. */
  private reroute(ch: Character, to: string, spot: Pt, key: string): Route {
    const pos = { x: ch.x, y: ch.y };
    const st = ch.routeState();
    if (key.split("#")[0] === ch.place && !st) return route(pos, to, to, spot, this.places);
    if (st && st.route.ringIn >= 0) {
      const { points, ringIn, ringOut } = st.route;
      const leg = st.leg;
      if (to === ch.place && leg <= ringOut) {
        // Same destination, another spot: keep the way to the ring, then a new end.
        return route(pos, null, to, spot, this.places, points.slice(leg, ringOut + 1));
      }
      if (leg <= ringIn) return route(pos, null, to, spot, this.places, points.slice(leg, ringIn + 1));
      if (leg <= ringOut) return route(pos, HOME, to, spot, this.places);
      // Heading out to the old place: turn back along the way we came, to the ring.
      const back = points.slice(ringOut, leg).reverse();
      return route(pos, null, to, spot, this.places, back);
    }
    return route(pos, ch.place, to, spot, this.places);
  }

  private runEffects(now: number): void {
    const queue = this.effects;
    this.effects = [];
    // Only the newest bubble per agent is worth rendering in one frame.
    const lastBubble = new Map<string, { kind: BubbleKind; text: string }>();
    for (const e of queue) {
      const ch = e.agentId ? this.chars.get(e.agentId) : undefined;
      this.ticker.push(e, ch ? ch.agent.name : null, ch ? ch.look : null);
      if (!ch) continue;
      if (e.kind === "flash") ch.flash(now);
      else if (e.kind === "compact") ch.swirl(now);
      else if (e.kind === "spawn") this.burst(ch, now);
      if (isBubbleKind(e.kind) && e.text) lastBubble.set(ch.agent.id, { kind: e.kind, text: e.text });
    }
    for (const [id, b] of lastBubble) this.chars.get(id)?.say(b.kind, b.text, now);
    this.layoutDirty = true;
    this.onChange();
  }

  private burst(ch: Character, now: number): void {
    let slot = this.bursts.find((b) => !b.img.visible);
    if (!slot) {
      if (this.bursts.length >= MAX_BURSTS) slot = this.bursts.reduce((a, b) => (a.start < b.start ? a : b));
      else {
        slot = { img: this.add.image(0, 0, this.skin.key("ring")).setDepth(8000), start: now };
        this.bursts.push(slot);
      }
    }
    slot.start = now;
    slot.img.setVisible(true).setPosition(ch.x, ch.y - 14).setTint(0xfff3b0);
  }

  private tickBursts(now: number): void {
    for (const b of this.bursts) {
      if (!b.img.visible) continue;
      const t = (now - b.start) / 550;
      if (t >= 1) b.img.setVisible(false);
      else b.img.setScale(((0.4 + t * 1.1) * 1) / this.skin.k).setAlpha(1 - t);
    }
  }
}

function placesSignature(places: Record<string, Place>): string {
  return JSON.stringify(
    Object.values(places).map((p) => [p.id, p.label, p.x, p.y, p.booths ?? null]),
  );
}

function dist(a: Pt, b: Pt): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

export { C };

function clampN(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** A text's box in world units (texts of the town are never in a container or scaled). */
function boxOf(t: Phaser.GameObjects.Text): Box {
  const w = t.displayWidth;
  const h = t.displayHeight;
  return { x: t.x - t.originX * w, y: t.y - t.originY * h, w, h };
}
