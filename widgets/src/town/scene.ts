// The town scene: draws what the mirror holds, diffing each new state against what is on
// screen so that only changed characters and texts are touched.
import * as Phaser from "phaser";
import type { Delta } from "../deltas";
import type { Agent, Effect, Place, ReplayState, Snapshot } from "../types";
import { isBubbleKind, paintTown, type BubbleKind } from "./art";
import { Character } from "./character";
import { Board, Hud, Ticker } from "./hud";
import { DEFAULT_PLACES, HOME, WAITING, WORLD_H, WORLD_W } from "./facts";
import { assignSpots, boothPoint, plazaCentre, route, type Pt, type Route } from "./layout";
import { C } from "./palette";
import { Skin } from "./skin";

const MAX_QUEUED_EFFECTS = 64;
const MAX_BURSTS = 6;

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
  private places: Readonly<Record<string, Place>> = DEFAULT_PLACES;
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
  private board!: Board;
  private glow!: Phaser.GameObjects.Image;
  private bursts: { img: Phaser.GameObjects.Image; start: number }[] = [];
  private effects: Effect[] = [];
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
    this.hud = new Hud(this, k);
    this.ticker = new Ticker(this, () => this.skin.key("dot"), k);
    this.board = new Board(this, k);
    this.board.update([], this.places.questboard);
    this.skin.flush();
    this.created = true;
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

  setState(snapshot: Snapshot, full: boolean, deltas: readonly Delta[]): void {
    this.snapshot = snapshot;
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
    this.effects.push(effect);
    if (this.effects.length > MAX_QUEUED_EFFECTS) this.effects.splice(0, this.effects.length - MAX_QUEUED_EFFECTS);
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
  }

  private reskin(k: number): void {
    this.skin.build(k, this.places);
    this.glow.setTexture(this.skin.key("glow")).setScale(1 / k);
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
      if (this.effects.length) this.runEffects(now);
      if (now - this.lastHudTick > 250) {
        this.lastHudTick = now;
        this.hud.tick(snap, this.replay ?? snap.replay ?? null);
      }
      this.hasDrawnState = true;
    }
    let waiting = false;
    for (const ch of this.chars.values()) {
      ch.tick(now, dt);
      if (ch.visible && ch.agent.state === "waiting") waiting = true;
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
    paintTown(canvas, pw / WORLD_W, this.places);
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
    const first = !this.readyFiredOrDrawn();
    const spots = assignSpots(agents, this.places);
    const plaza = plazaCentre(this.places);
    for (const [id, ch] of this.chars)
      if (!agents[id]) {
        ch.destroy();
        this.chars.delete(id);
      }
    // Parents first, so a newcomer can start from where its parent stands.
    for (const agent of Object.values(agents)) {
      let ch = this.chars.get(agent.id);
      const isNew = !ch;
      if (!ch) {
        ch = new Character(this, this.skin, agent);
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
      ch.setDrop(!!spot.drop);
      ch.spotKey = key;
      ch.place = spot.place;
    }
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
      if (to === ch.place) {
        // Same destination, another spot: keep the way, change the end.
        return { points: [...points.slice(leg, -1), spot], ringIn: ringIn - leg, ringOut: ringOut - leg };
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
