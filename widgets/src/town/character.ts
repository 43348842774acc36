// One agent on screen: body, name, state cues, speech bubble, walking and effects.
import * as Phaser from "phaser";
import type { Agent, Place } from "../types";
import { BUBBLES, BUBBLE_BOX, CHAR_H, FEET_Y, type BubbleKind } from "./art";
import { WORLD_H, WORLD_W } from "./facts";
import { clamp, pathLength, HUD_H, type Pt, type Route } from "./layout";
import { C, FONT, LOOKS, lookKey } from "./palette";
import { Label } from "./label";
import type { Skin } from "./skin";

const WALK_SPEED = 140; // world units per second
const MAX_TRIP_S = 1.8;
const LEAVE_MS = 1300;
const SPAWN_MS = 450;

const BUBBLE_MAX_W = 150;

export class Character {
  readonly root: Phaser.GameObjects.Container;
  private shadow: Phaser.GameObjects.Image;
  private body: Phaser.GameObjects.Image;
  private label: Phaser.GameObjects.Text;
  private tag: Phaser.GameObjects.Text;
  private tagLabel: Label;
  private badge: Phaser.GameObjects.Image;
  private failBadge: Phaser.GameObjects.Image;
  private dots: Phaser.GameObjects.Image[] = [];
  private sparks: Phaser.GameObjects.Image[] = [];
  private bubble: Phaser.GameObjects.Container | null = null;
  private bubbleBg: Phaser.GameObjects.NineSlice | null = null;
  private bubbleTail: Phaser.GameObjects.Image | null = null;
  private bubbleText: Phaser.GameObjects.Text | null = null;
  private bubbleKind: BubbleKind = "say";
  private bubbleW = 0;
  private bubbleH = 0;
  private bubbleUntil = 0;
  private bubbleKey = "";

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
    const lookColours = LOOKS[this.look];
    this.label = add
      .text(0, 3, "", {
        fontFamily: FONT,
        fontSize: agent.kind === "main" ? "9.5px" : "8.5px",
        fontStyle: "bold",
        color: agent.kind === "main" ? "#fff1c9" : "#ffffff",
        stroke: "#2b2230",
        strokeThickness: 2.6,
        resolution: skin.k,
      })
      .setOrigin(0.5, 0);
    void lookColours;
    this.tag = add
      .text(0, 0, "", {
        fontFamily: FONT,
        fontSize: "8px",
        fontStyle: "bold",
        color: "#ffffff",
        backgroundColor: "#4b566f",
        padding: { x: 3, y: 1 },
        resolution: skin.k,
      })
      .setOrigin(0.5, 1)
      .setVisible(false);
    this.tagLabel = new Label(this.tag);
    this.badge = add.image(0, 0, skin.key("ask")).setVisible(false);
    this.failBadge = add.image(0, 0, skin.key("fail")).setVisible(false);
    for (let i = 0; i < 3; i++) this.dots.push(add.image(0, 0, skin.key("dot")).setVisible(false));
    this.root = add.container(0, 0, [
      this.shadow,
      this.body,
      this.label,
      this.tag,
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
    this.tag.setY(top - 3);
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
      this.label.setText(shorten(agent.name, 22));
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
      this.tag.setVisible(!!tag);
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

  /** Every other visitor in a row carries its name a little lower. */
  setDrop(drop: boolean): void {
    const y = drop ? 12 : 3;
    if (this.label.y !== y) this.label.setY(y);
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
      this.bubbleW = Math.max(BUBBLE_BOX, Math.min(BUBBLE_MAX_W, Math.ceil(t.width)) + 10);
      this.bubbleH = Math.max(16, Math.ceil(t.height) + 7);
      this.styleBubble();
    }
    const life = kind === "wait" ? 7000 : clamp(2200 + clean.length * 45, 2600, 6500);
    this.bubbleUntil = now + life;
    this.bubble!.setVisible(true).setAlpha(1);
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
      fontSize: "9px",
      color: "#2d2622",
      wordWrap: { width: BUBBLE_MAX_W, useAdvancedWrap: true },
      maxLines: 3,
      lineSpacing: 1,
      resolution: k,
    });
    this.bubble = add.container(0, 0, [this.bubbleBg, this.bubbleTail, this.bubbleText]).setDepth(9000);
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
    // Bubble follows, fades.
    if (this.bubble && this.bubble.visible) {
      const left = this.bubbleUntil - now;
      if (left <= 0) this.bubble.setVisible(false);
      else {
        this.bubble.setAlpha(Math.min(1, left / 350) * this.root.alpha);
        this.placeBubble();
      }
    }
  }

  private placeBubble(): void {
    const b = this.bubble!;
    const w = this.bubbleW;
    const h = this.bubbleH;
    const head = this.y - FEET_Y * this.scaleBase - (this.tag.visible ? 15 : 7);
    let by = head;
    let below = false;
    if (by - h < HUD_H + 2) {
      by = this.y + 20 + h; // no room above: hang it below the feet
      below = true;
    }
    const bx = clamp(this.x, w / 2 + 3, WORLD_W - w / 2 - 3);
    const y = clamp(by, h + HUD_H + 2, WORLD_H - 2);
    b.setPosition(bx, y);
    // The tail points at the speaker.
    const tail = this.bubbleTail!;
    tail.setFlipY(below).setOrigin(0.5, below ? 1 : 0);
    tail.setPosition(clamp(this.x - bx, -w / 2 + 8, w / 2 - 8), below ? -h + 0.6 : -0.6);
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

function backOut(t: number): number {
  const s = 1.70158;
  const u = t - 1;
  return u * u * ((s + 1) * u + s) + 1;
}

export type { Place };
export { C };
