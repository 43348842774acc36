// One agent on screen: body, state cues, walking and effects; its name, tool tag and speech
// bubble are texts that the scene's layout (labels.ts) places each frame so that none covers
// another.
import * as Phaser from "phaser";
import type { Agent, Place } from "../types";
import { BUBBLES, BUBBLE_BOX, CHAR_H, FEET_Y, fitText, type BubbleKind } from "./art";
import { clamp, pathLength, type Pt, type Route } from "./layout";
import { C, FONT, LOOKS, lookKey } from "./palette";
import { Label } from "./label";
import type { Box } from "./placer";
import type { Skin } from "./skin";
import { px, SIZE } from "./text";

const WALK_SPEED = 140; // world units per second
const MAX_TRIP_S = 1.8;
const LEAVE_MS = 1300;
const SPAWN_MS = 450;

const BUBBLE_MAX_W = 160;
/** The depths of the texts: above every body, bubbles on top. */
export const DEPTH = { tether: 95, label: 8500, tag: 8600, leader: 8990, bubble: 9000 } as const;

const measureCtx = (() => {
  let ctx: CanvasRenderingContext2D | null = null;
  return () => (ctx ??= document.createElement("canvas").getContext("2d")!);
})();

/** The short form of a name in a crowd: "#3" for "Explore #3", else its first word, cut. */
export function shortName(name: string): string {
  const m = /#\d+$/.exec(name.trim());
  if (m) return m[0];
  const first = name.trim().split(/\s+/)[0] ?? name;
  return shorten(first, 8);
}

/** The priority of a bubble in the layout (lower first): a wait for the user beats a failure,
 * a prompt, then the rest. */
export const BUBBLE_RANK: Record<BubbleKind, number> = { wait: 0, flash: 1, prompt: 2, note: 3, compact: 3, say: 4 };

export class Character {
  readonly root: Phaser.GameObjects.Container;
  private shadow: Phaser.GameObjects.Image;
  private body: Phaser.GameObjects.Image;
  readonly label: Phaser.GameObjects.Text;
  readonly tag: Phaser.GameObjects.Text;
  private tagLabel: Label;
  private badge: Phaser.GameObjects.Image;
  private failBadge: Phaser.GameObjects.Image;
  private dots: Phaser.GameObjects.Image[] = [];
  private sparks: Phaser.GameObjects.Image[] = [];
  bubble: Phaser.GameObjects.Container | null = null;
  private bubbleBg: Phaser.GameObjects.NineSlice | null = null;
  private bubbleTail: Phaser.GameObjects.Image | null = null;
  bubbleText: Phaser.GameObjects.Text | null = null;
  bubbleKind: BubbleKind = "say";
  bubbleW = 0;
  bubbleH = 0;
  private bubbleUntil = 0;
  /** When the bubble's text was said (the newest bubbles win a place first). */
  bubbleSince = 0;
  private bubbleKey = "";
  private ts = 1;

  // Where the layout put the texts last frame (offsets from the feet), to keep them still.
  labelAt: Pt | null = null;
  tagAt: Pt | null = null;
  bubbleAt: Pt | null = null;
  /** The bubble has a place this frame (the layout decides; folded bubbles have none). */
  bubbleShown = false;
  /** Hidden by the layout since (ms), for not popping straight back. */
  labelHiddenAt = -1;
  tagHiddenAt = -1;
  /** Shown again since (ms): it fades in (being hidden is at once: nothing may overlap). */
  private labelShownAt = -Infinity;
  private tagShownAt = -Infinity;
  bubbleHiddenAt = -1;
  /** The name shows in its short form ("#3") since (ms), or -1. */
  shortSince = -1;
  private fullW = 0;
  private shortW = 0;

  agent: Agent;
  look: string;
  x = 0;
  y = 0;
  /** The place (and booth) the character stands at or walks to. */
  place = "";
  spotKey = "";
  target: Pt = { x: 0, y: 0 };
  route: Route | null = null;
  private leg = 0; // index of the next route point
  private speed = WALK_SPEED;
  visible = false;
  leavingSince = -1;
  private leaveMs = LEAVE_MS;
  private leaveFrom: Pt = { x: 0, y: 0 };
  private leaveDir: Pt = { x: 0, y: 1 };
  private spawnSince = -1;
  private flashUntil = 0;
  private swirlUntil = 0;
  private stepPhase = 0;
  private frame = 0;
  private tagText = "";
  private tagValue = "";
  private labelText = "";
  private badgeKind = "";
  private scaleBase: number;

  constructor(
    private scene: Phaser.Scene,
    private skin: Skin,
    agent: Agent,
  ) {
    this.agent = agent;
    this.look = lookKey(agent.kind, agent.type);
    this.scaleBase = agent.kind === "main" ? 1.2 : 1;
    const add = scene.add;
    this.shadow = add.image(0, 0, skin.key("shadow")).setOrigin(0.5, 0.5);
    this.body = add.image(0, 0, skin.key(`char-${this.look}-0`)).setOrigin(0.5, FEET_Y / CHAR_H);
    this.label = add
      .text(0, 0, "", {
        fontFamily: FONT,
        fontSize: px(this.nameSize, 1),
        fontStyle: "bold",
        color: agent.kind === "main" ? "#fff1c9" : "#ffffff",
        stroke: "#2b2230",
        strokeThickness: 3,
        resolution: skin.k,
      })
      .setOrigin(0.5, 0)
      .setDepth(DEPTH.label)
      .setVisible(false);
    this.tag = add
      .text(0, 0, "", {
        fontFamily: FONT,
        fontSize: px(SIZE.tag, 1),
        fontStyle: "bold",
        color: "#ffffff",
        backgroundColor: "#4b566f",
        padding: { x: 3, y: 1 },
        resolution: skin.k,
      })
      .setOrigin(0.5, 1)
      .setDepth(DEPTH.tag)
      .setVisible(false);
    this.tagLabel = new Label(this.tag);
    this.badge = add.image(0, 0, skin.key("ask")).setVisible(false);
    this.failBadge = add.image(0, 0, skin.key("fail")).setVisible(false);
    for (let i = 0; i < 3; i++) this.dots.push(add.image(0, 0, skin.key("dot")).setVisible(false));
    this.root = add.container(0, 0, [
      this.shadow,
      this.body,
      this.badge,
      this.failBadge,
      ...this.dots,
    ]);
    this.root.setVisible(false);
    this.applySkin();
    this.setAgent(agent);
  }

  get walking(): boolean {
    return this.route !== null || this.leavingSince >= 0;
  }

  /** Popping in (the spawn animation runs). */
  get popping(): boolean {
    return this.spawnSince >= 0;
  }

  private get nameSize(): number {
    return this.agent.kind === "main" ? SIZE.mainName : SIZE.name;
  }

  /** How tall the body stands (feet to the top of the head), in world units. */
  get height(): number {
    return FEET_Y * this.scaleBase;
  }

  /** The fade of the whole character (popping in, walking off). */
  get alpha(): number {
    return this.root.alpha;
  }

  /** The text the tag shows, or "" (not working, not waiting). */
  get tagShown(): boolean {
    return this.tagValue !== "";
  }

  /** Font sizes for text scale `ts` (a view drawn small keeps its texts readable). */
  setTextScale(ts: number): void {
    if (ts === this.ts) return;
    this.ts = ts;
    this.label.setFontSize(px(this.nameSize, ts));
    this.tag.setFontSize(px(SIZE.tag, ts));
    this.measureName();
    if (this.bubbleText) {
      this.bubbleText.setFontSize(px(SIZE.bubble, ts)).setWordWrapWidth(BUBBLE_MAX_W * ts, true);
      this.sizeBubble();
    }
  }

  /** The name's width in its full and short forms (for the layout's candidates). */
  private measureName(): void {
    const ctx = measureCtx();
    ctx.font = `bold ${px(this.nameSize, this.ts)} ${FONT}`;
    const stroke = 3;
    this.fullW = ctx.measureText(this.fullName()).width + stroke;
    this.shortW = ctx.measureText(shortName(this.agent.name)).width + stroke;
  }

  fullName(): string {
    const ctx = measureCtx();
    ctx.font = `bold ${px(this.nameSize, this.ts)} ${FONT}`;
    return fitText(ctx, this.agent.name, 150);
  }

  /** The name's box size in the full or the short form. */
  nameSizeFor(short: boolean): { w: number; h: number } {
    const h = this.label.height || this.nameSize * this.ts * 1.3;
    return { w: short ? this.shortW : this.fullW, h };
  }

  /** Show the name in its short form ("#3") or in full. */
  setShort(short: boolean, now: number): void {
    if (short === this.shortSince >= 0) return;
    this.shortSince = short ? now : -1;
    this.label.setText(short ? shortName(this.agent.name) : this.fullName());
  }

  /** Put the name with its top middle at (x, y), or hide it (null). */
  placeLabel(at: Pt | null, now: number): void {
    if (!at) {
      if (this.label.visible) this.labelHiddenAt = now;
      this.label.setVisible(false);
      this.labelAt = null;
      return;
    }
    if (!this.label.visible) this.labelShownAt = now;
    this.label.setVisible(true).setPosition(at.x, at.y).setAlpha(this.root.alpha * fadeIn(this.labelShownAt, now));
    this.labelAt = { x: at.x - this.x, y: at.y - this.y };
  }

  /** Put the tag with its bottom middle at (x, y), or hide it (null). */
  placeTag(at: Pt | null, now: number): void {
    if (!at || !this.tagShown) {
      if (this.tag.visible) this.tagHiddenAt = now;
      this.tag.setVisible(false);
      this.tagAt = null;
      return;
    }
    if (!this.tag.visible) this.tagShownAt = now;
    this.tag.setVisible(true).setPosition(at.x, at.y).setAlpha(this.root.alpha * fadeIn(this.tagShownAt, now));
    this.tagAt = { x: at.x - this.x, y: at.y - this.y };
  }

  /** A bubble is showing (or wants to): said recently and not faded out. */
  bubbleLive(now: number): boolean {
    return !!this.bubble && this.bubbleUntil > now && this.visible;
  }

  /** Put the bubble box at `box` (its tail pointing at the speaker), or fold it (null).
   * Returns the point its tail or edge leaves from, for a leader line when it is far. */
  placeBubble(box: Box | null, now: number): Pt | null {
    const b = this.bubble;
    if (!b) return null;
    if (!box) {
      if (this.bubbleShown) this.bubbleHiddenAt = now;
      this.bubbleShown = false;
      this.bubbleAt = null;
      b.setVisible(false);
      return null;
    }
    const w = this.bubbleW;
    const h = this.bubbleH;
    const cx = box.x + w / 2;
    const bottom = box.y + h;
    this.bubbleShown = true;
    this.bubbleAt = { x: cx - this.x, y: bottom - this.y };
    const left = this.bubbleUntil - now;
    b.setVisible(true).setPosition(cx, bottom).setAlpha(Math.min(1, left / 350) * this.root.alpha);
    const head = this.y - this.height;
    const tail = this.bubbleTail!;
    const under = box.y > head; // hangs below the speaker's head: the tail points up
    const beside = this.x < box.x - 4 || this.x > box.x + w + 4;
    if (beside) {
      tail.setVisible(false);
      return { x: this.x < box.x ? box.x : box.x + w, y: clamp(head + 10, box.y + 4, bottom - 4) };
    }
    tail.setVisible(true).setFlipY(under).setOrigin(0.5, under ? 1 : 0);
    const tx = clamp(this.x - cx, -w / 2 + 8, w / 2 - 8);
    tail.setPosition(tx, under ? -h + 0.6 : -0.6);
    return { x: cx + tx, y: under ? box.y - 6 : bottom + 6 };
  }

  /** Textures and text resolution for the current scale. */
  applySkin(): void {
    const s = 1 / this.skin.k;
    this.shadow.setTexture(this.skin.key("shadow")).setScale(s * this.scaleBase);
    this.body.setTexture(this.skin.key(`char-${this.look}-${this.frame}`)).setScale(s * this.scaleBase);
    this.badge.setTexture(this.skin.key(this.badgeKind || "ask")).setScale(s);
    this.failBadge.setTexture(this.skin.key("fail")).setScale(s);
    for (const d of this.dots) d.setTexture(this.skin.key("dot")).setScale(s);
    for (const p of this.sparks) p.setTexture(this.skin.key("spark")).setScale(1.5 * s);
    this.label.setResolution(this.skin.k);
    this.tag.setResolution(this.skin.k);
    this.bubbleText?.setResolution(this.skin.k);
    if (this.bubble) this.styleBubble();
    const top = -(FEET_Y * this.scaleBase);
    this.badge.setPosition(9 * this.scaleBase, top + 8);
    this.failBadge.setPosition(-9 * this.scaleBase, top + 8);
  }

  setAgent(agent: Agent): void {
    this.agent = agent;
    const look = lookKey(agent.kind, agent.type);
    if (look !== this.look) {
      this.look = look;
      this.body.setTexture(this.skin.key(`char-${look}-${this.frame}`));
    }
    if (agent.name !== this.labelText) {
      this.labelText = agent.name;
      this.measureName();
      this.label.setText(this.shortSince >= 0 ? shortName(agent.name) : this.fullName());
    }
    // Tool tag while working.
    let tag = "";
    const waiting = agent.state === "waiting";
    if (waiting) tag = agent.wait === "permission" ? "permission?" : "input?";
    else if (agent.tool && agent.state === "working") tag = toolTag(agent.tool.name);
    const tagKey = `${tag}\u0000${waiting ? "" : agent.place}`;
    if (tagKey !== this.tagText) {
      this.tagText = tagKey;
      if (tag)
        this.tagLabel.set(
          tag,
          waiting ? "#3b3330" : "#ffffff",
          waiting ? "#f2c14e" : this.skin.placeColour(agent.place),
        );
      this.tagValue = tag;
      if (!tag) this.tag.setVisible(false);
    }
    const badge = agent.state === "waiting" ? "ask" : agent.state === "done" ? "done" : "";
    if (badge !== this.badgeKind) {
      this.badgeKind = badge;
      if (badge) this.badge.setTexture(this.skin.key(badge));
      this.badge.setVisible(!!badge).setScale(1 / this.skin.k);
    }
    this.failBadge.setVisible(agent.overlay === "failure");
    const thinking = agent.state === "thinking";
    for (const d of this.dots) d.setVisible(thinking);
  }

  /** Put the character somewhere at once (first load). */
  teleport(p: Pt): void {
    this.x = p.x;
    this.y = p.y;
    this.route = null;
    this.root.setPosition(p.x, p.y);
  }

  walk(route: Route): void {
    this.route = route;
    this.leg = 0;
    const len = pathLength(this, route.points);
    this.speed = Math.max(WALK_SPEED, len / MAX_TRIP_S);
    if (len < 0.5) {
      this.teleport(route.points[route.points.length - 1]);
    }
  }

  /** The points still ahead and where we stand in the route (for re-routing mid-walk). */
  routeState(): { route: Route; leg: number } | null {
    return this.route ? { route: this.route, leg: this.leg } : null;
  }

  show(now: number, pop: boolean): void {
    this.visible = true;
    this.leavingSince = -1;
    this.root.setVisible(true).setAlpha(1);
    this.spawnSince = pop ? now : -1;
    if (!pop) this.root.setScale(1);
  }

  leave(now: number, plaza: Pt): void {
    if (!this.visible || this.leavingSince >= 0) return;
    this.route = null;
    this.leavingSince = now;
    this.leaveMs = LEAVE_MS;
    this.leaveFrom = { x: this.x, y: this.y };
    let dx = this.x - plaza.x;
    let dy = this.y - plaza.y;
    const d = Math.hypot(dx, dy);
    if (d < 90) {
      dx = this.x < plaza.x ? -0.5 : 0.5;
      dy = 1;
    }
    const n = Math.hypot(dx, dy) || 1;
    this.leaveDir = { x: dx / n, y: dy / n };
  }

  hide(): void {
    this.visible = false;
    this.leavingSince = -1;
    this.route = null;
    this.root.setVisible(false);
    this.label.setVisible(false);
    this.tag.setVisible(false);
    this.labelAt = this.tagAt = null;
    this.hideBubble();
  }

  flash(now: number): void {
    this.flashUntil = now + 700;
  }

  swirl(now: number, ms = 1600): void {
    this.swirlUntil = Math.max(this.swirlUntil, now + ms);
  }

  say(kind: BubbleKind, text: string, now: number): void {
    if (!this.visible) return;
    // Last words (a subagent's final answer comes with its leaving): linger to say them.
    if (this.leavingSince >= 0) this.leaveMs = Math.max(this.leaveMs, now - this.leavingSince + 3000);
    if (!this.bubble) this.makeBubble();
    const clean = shorten(text.replace(/\s+/g, " ").trim(), 110);
    if (!clean) return;
    const key = `${kind}\u0000${clean}`;
    if (key !== this.bubbleKey) {
      this.bubbleKey = key;
      this.bubbleKind = BUBBLES[kind] ? kind : "say";
      const t = this.bubbleText!;
      t.style.color = BUBBLES[this.bubbleKind].text; // no extra render: setText renders once
      t.setText(clean);
      this.sizeBubble();
    }
    const life = kind === "wait" ? 7000 : clamp(2200 + clean.length * 45, 2600, 6500);
    this.bubbleUntil = now + life;
    this.bubbleSince = now;
  }

  /** The box around the text (after a new text or a new font size). */
  private sizeBubble(): void {
    const t = this.bubbleText!;
    this.bubbleW = Math.max(BUBBLE_BOX, Math.min(BUBBLE_MAX_W * this.ts, Math.ceil(t.width)) + 10);
    this.bubbleH = Math.max(16, Math.ceil(t.height) + 7);
    this.styleBubble();
  }

  /** Size and skin of the bubble box (after a new text or a new texture scale). */
  private styleBubble(): void {
    const k = this.skin.k;
    const w = this.bubbleW;
    const h = this.bubbleH;
    this.bubbleBg!.setTexture(this.skin.key(`bubble-${this.bubbleKind}`))
      .setSize(w * k, h * k)
      .setScale(1 / k)
      .setPosition(0, -h / 2);
    this.bubbleTail!.setTexture(this.skin.key(`tail-${this.bubbleKind}`)).setScale(1 / k);
    this.bubbleText!.setPosition(-w / 2 + 5, -h + 3.5);
  }

  hideBubble(): void {
    this.bubbleUntil = 0;
    this.bubbleShown = false;
    this.bubbleAt = null;
    this.bubble?.setVisible(false);
  }

  private makeBubble(): void {
    const add = this.scene.add;
    const k = this.skin.k;
    const corner = 8 * k;
    this.bubbleBg = add.nineslice(0, 0, this.skin.key("bubble-say"), undefined, BUBBLE_BOX * k, BUBBLE_BOX * k, corner, corner, corner, corner);
    this.bubbleTail = add.image(0, 0, this.skin.key("tail-say")).setOrigin(0.5, 0);
    this.bubbleText = add.text(0, 0, "", {
      fontFamily: FONT,
      fontSize: px(SIZE.bubble, this.ts),
      color: "#2d2622",
      wordWrap: { width: BUBBLE_MAX_W * this.ts, useAdvancedWrap: true },
      maxLines: 3,
      lineSpacing: 1,
      resolution: k,
    });
    this.bubble = add
      .container(0, 0, [this.bubbleBg, this.bubbleTail, this.bubbleText])
      .setDepth(DEPTH.bubble)
      .setVisible(false);
  }

  /** Advance animations by `dt` ms; returns whether the character still moves. */
  tick(now: number, dt: number): void {
    if (!this.visible) return;
    let moving = false;
    if (this.leavingSince >= 0) {
      const elapsed = now - this.leavingSince;
      if (elapsed >= this.leaveMs) {
        this.hide();
        return;
      }
      const t = elapsed / this.leaveMs;
      this.x = this.leaveFrom.x + this.leaveDir.x * 40 * t;
      this.y = this.leaveFrom.y + this.leaveDir.y * 40 * t;
      this.root.setAlpha(Math.min(1, (this.leaveMs - elapsed) / LEAVE_MS));
      moving = true;
    } else if (this.route) {
      let budget = (this.speed * dt) / 1000;
      const pts = this.route.points;
      while (budget > 0 && this.leg < pts.length) {
        const p = pts[this.leg];
        const dx = p.x - this.x;
        const dy = p.y - this.y;
        const d = Math.hypot(dx, dy);
        if (d <= budget) {
          this.x = p.x;
          this.y = p.y;
          budget -= d;
          this.leg++;
        } else {
          this.x += (dx / d) * budget;
          this.y += (dy / d) * budget;
          budget = 0;
        }
      }
      if (this.leg >= pts.length) this.route = null;
      moving = true;
    }
    // Walk cycle: alternate legs while moving.
    let frame = 0;
    let bob = 0;
    if (moving) {
      this.stepPhase += dt;
      frame = Math.floor(this.stepPhase / 140) % 2 ? 1 : 2;
      bob = -Math.abs(Math.sin(this.stepPhase / 140 * Math.PI / 2 * 2)) * 1.5;
    }
    if (frame !== this.frame) {
      this.frame = frame;
      this.body.setTexture(this.skin.key(`char-${this.look}-${frame}`));
    }
    let ox = 0;
    if (now < this.flashUntil) {
      const left = this.flashUntil - now;
      ox = Math.sin(left / 22) * 2.5 * (left / 700);
      const on = Math.floor(left / 110) % 2 === 0;
      if (on) this.body.setTint(0xff3b30).setTintMode(Phaser.TintModes.FILL);
      else this.body.clearTint().setTintMode(Phaser.TintModes.MULTIPLY);
    } else if (this.body.tintMode !== Phaser.TintModes.MULTIPLY || this.body.isTinted) {
      this.body.clearTint().setTintMode(Phaser.TintModes.MULTIPLY);
    }
    this.root.setPosition(this.x + ox, this.y);
    const depth = 100 + Math.round(this.y * 4) / 4;
    if (this.root.depth !== depth) this.root.setDepth(depth);
    const s = this.scaleBase / this.skin.k;
    // Spawn pop.
    if (this.spawnSince >= 0) {
      const t = (now - this.spawnSince) / SPAWN_MS;
      if (t >= 1) {
        this.spawnSince = -1;
        this.root.setScale(1).setAlpha(1);
      } else {
        this.root.setScale(backOut(t)).setAlpha(Math.min(1, t * 2));
      }
    }
    // Compaction: squash and a swirl of sparks.
    const compacting = this.agent.overlay === "compacting" || now < this.swirlUntil;
    if (compacting) {
      const q = Math.sin(now / 120) * 0.09;
      this.body.setScale(s * (1 + q), s * (1 - q));
      this.updateSparks(now, true);
    } else {
      if (this.sparks.length && this.sparks[0].visible) this.updateSparks(now, false);
      this.body.setScale(s);
    }
    this.body.setY(bob);
    // Thinking dots.
    if (this.agent.state === "thinking") {
      const top = -(FEET_Y * this.scaleBase) - 5;
      this.dots.forEach((d, i) => {
        const ph = (now / 260 - i * 0.7) % (Math.PI * 2);
        d.setPosition((i - 1) * 5, top - Math.max(0, Math.sin(ph)) * 3);
        d.setAlpha(0.55 + 0.45 * Math.max(0, Math.sin(ph)));
      });
    }
    if (this.badgeKind === "ask") this.badge.setScale((1 / this.skin.k) * (1 + 0.18 * Math.sin(now / 160)));
    // Names and tags coming back fade in.
    if (this.label.visible && now - this.labelShownAt < FADE_MS) this.label.setAlpha(this.root.alpha * fadeIn(this.labelShownAt, now));
    if (this.tag.visible && now - this.tagShownAt < FADE_MS) this.tag.setAlpha(this.root.alpha * fadeIn(this.tagShownAt, now));
    // The bubble's place is the layout's (labels.ts); it fades and ends here.
    if (this.bubble && this.bubbleUntil <= now && (this.bubble.visible || this.bubbleShown)) this.hideBubble();
    else if (this.bubbleShown) this.bubble!.setAlpha(Math.min(1, (this.bubbleUntil - now) / 350) * this.root.alpha);
  }

  private updateSparks(now: number, on: boolean): void {
    if (on && !this.sparks.length) {
      for (let i = 0; i < 8; i++) {
        const sp = this.scene.add.image(0, 0, this.skin.key("spark")).setScale(1.5 / this.skin.k);
        sp.setTint(i % 2 ? 0x8a5cf6 : 0x2f8fe0);
        this.sparks.push(sp);
        this.root.add(sp);
      }
    }
    const cy = -FEET_Y * this.scaleBase * 0.5;
    this.sparks.forEach((sp, i) => {
      sp.setVisible(on);
      if (!on) return;
      // A spiral: sparks orbit and sink inwards, over and over.
      const turn = (now / 900 + i / this.sparks.length) % 1;
      const a = turn * Math.PI * 4 + i;
      const r = 20 * (1 - turn) + 4;
      sp.setPosition(Math.cos(a) * r, cy + Math.sin(a) * r * 0.6);
      sp.setAlpha(Math.min(1, (1 - turn) * 2));
    });
  }

  destroy(): void {
    this.root.destroy();
    this.label.destroy();
    this.tag.destroy();
    this.bubble?.destroy();
  }
}

export function toolTag(name: string): string {
  if (name.startsWith("mcp__")) {
    const parts = name.split("__");
    return shorten(parts[parts.length - 1] || name, 18);
  }
  return shorten(name, 18);
}

export function shorten(text: string, n: number): string {
  return text.length > n ? text.slice(0, n - 1).trimEnd() + "…" : text;
}

const FADE_MS = 180;

function fadeIn(from: number, now: number): number {
  return Math.min(1, Math.max(0, (now - from) / FADE_MS));
}

function backOut(t: number): number {
  const s = 1.70158;
  const u = t - 1;
  return u * u * ((s + 1) * u + s) + 1;
}

export type { Place };
export { C, LOOKS };
