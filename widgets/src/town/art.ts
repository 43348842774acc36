// Everything the town looks like, painted with the Canvas 2D API at a given scale (so it stays
// sharp at any zoom): the ground, roads, plaza and buildings as one background image, and the
// small textures (characters, badges, particles). No external assets.
import type { Place } from "../types";
import { HOME, WORLD_H, WORLD_W } from "./facts";
import {
  BOOTH_SLOTS,
  HUD_PANEL,
  TICKER,
  PLAZA_R,
  boothPoint,
  buildingBox,
  hash,
  plazaCentre,
  road,
  type Pt,
} from "./layout";
import { C, EXTRA_ROOFS, FONT, LOOKS, ROOF, type AgentLook } from "./palette";
import type { Box } from "./placer";
import { SIZE } from "./text";

type Ctx = CanvasRenderingContext2D;

/** A text painted into the town (a building's sign, a booth's name), in world units. */
export interface SignBox extends Box {
  text: string;
  /** The place it names (with `#booth` for an embassy booth). */
  id: string;
}

/** The signs the paintTown call under way has painted, and the text scale it paints at. */
let signs: SignBox[] = [];
let signScale = 1;

export function makeCanvas(w: number, h: number): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.ceil(w));
  canvas.height = Math.max(1, Math.ceil(h));
  // Phaser reads texture canvases back (getImageData): without this hint each read stalls
  // on the GPU, about 0.5-0.9 s per page load in headless Chromium.
  canvas.getContext("2d", { willReadFrequently: true });
  return canvas;
}

function rr(ctx: Ctx, x: number, y: number, w: number, h: number, r: number | number[]): void {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, r);
}

function fillStroke(ctx: Ctx, fill: string, stroke = C.outline, lw = 1.2): void {
  ctx.fillStyle = fill;
  ctx.fill();
  if (stroke) {
    ctx.strokeStyle = stroke;
    ctx.lineWidth = lw;
    ctx.stroke();
  }
}

function circle(ctx: Ctx, x: number, y: number, r: number): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
}

export function roofColour(place: Place): string {
  return ROOF[place.id] ?? EXTRA_ROOFS[hash(place.id) % EXTRA_ROOFS.length];
}

/** Fit `text` into `maxW` pixels with the context's current font (ellipsis when cut). */
export function fitText(ctx: Ctx, text: string, maxW: number): string {
  if (ctx.measureText(text).width <= maxW) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(text.slice(0, mid) + "…").width <= maxW) lo = mid;
    else hi = mid - 1;
  }
  return text.slice(0, lo).trimEnd() + "…";
}

// -- background -------------------------------------------------------------------------

/** Paint the whole static town (WORLD_W×WORLD_H world units) at scale `k`, its signs' texts
 * at text scale `ts`; returns where those texts are. */
export function paintTown(
  canvas: HTMLCanvasElement,
  k: number,
  places: Record<string, Place>,
  ts = 1,
  hud: { h: number; h1: number } = { h: HUD_PANEL.h, h1: HUD_PANEL.h },
): SignBox[] {
  const ctx = canvas.getContext("2d")!;
  signs = [];
  signScale = ts;
  ctx.setTransform(k, 0, 0, k, 0, 0);
  ctx.lineJoin = "round";
  ctx.lineCap = "round";
  const list = Object.values(places).sort((a, b) => a.y - b.y);
  const c = plazaCentre(places);

  // Ground with soft patches and tufts (deterministic).
  ctx.fillStyle = C.grass;
  ctx.fillRect(0, 0, WORLD_W, WORLD_H);
  const rand = seeded(7);
  for (let i = 0; i < 26; i++) {
    ctx.fillStyle = i % 2 ? C.grassLight : C.grassDark;
    ctx.globalAlpha = 0.35;
    ctx.beginPath();
    ctx.ellipse(rand() * WORLD_W, rand() * WORLD_H, 30 + rand() * 50, 12 + rand() * 22, 0, 0, Math.PI * 2);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = C.grassDark;
  ctx.lineWidth = 1;
  for (let i = 0; i < 90; i++) {
    const x = rand() * WORLD_W;
    const y = rand() * WORLD_H;
    ctx.beginPath();
    ctx.moveTo(x - 2, y);
    ctx.lineTo(x - 1, y - 3);
    ctx.moveTo(x + 1, y);
    ctx.lineTo(x + 2, y - 3);
    ctx.stroke();
  }

  // Roads.
  const roads = list.filter((p) => p.id !== HOME).map((p) => road(p, places));
  for (const [width, colour] of [
    [17, C.pathEdge],
    [13, C.path],
  ] as const) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    for (const r of roads) {
      ctx.beginPath();
      ctx.moveTo(r[0].x, r[0].y);
      for (const p of r.slice(1)) ctx.lineTo(p.x, p.y);
      const last = r[r.length - 1];
      ctx.lineTo(c.x + (last.x - c.x) * 0.6, c.y + (last.y - c.y) * 0.6);
      ctx.stroke();
    }
  }
  // Yards: a little paved apron in front of each place.
  for (const p of list) {
    if (p.id === HOME) continue;
    ctx.fillStyle = C.pathEdge;
    ctx.beginPath();
    ctx.ellipse(p.x, p.y + 20, 40, 14, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = C.path;
    ctx.beginPath();
    ctx.ellipse(p.x, p.y + 20, 38, 12, 0, 0, Math.PI * 2);
    ctx.fill();
  }

  // Trees where nothing else is.
  const blocked = (x: number, y: number): boolean => {
    if (y < 44 || x < 12 || x > WORLD_W - 12 || y > WORLD_H - 6) return true;
    if (x > 636 && y > 364) return true; // the ticker
    if (Math.hypot(x - c.x, y - c.y) < PLAZA_R + 22) return true;
    for (const p of list) {
      const box = buildingBox(p);
      if (x > p.x - box.w / 2 - 24 && x < p.x + box.w / 2 + 24 && y > p.y - box.h - 16 && y < p.y + 78)
        return true;
    }
    const emb = places.embassy;
    if (emb && x > emb.x - 240 && x < emb.x && y > emb.y - 90 && y < emb.y + 44) return true;
    for (const r of roads)
      for (let i = 0; i + 1 < r.length; i++) if (segDist({ x, y }, r[i], r[i + 1]) < 20) return true;
    return false;
  };
  const trees: Pt[] = [];
  const tr = seeded(42);
  for (let i = 0; i < 400 && trees.length < 24; i++) {
    const p = { x: 16 + tr() * (WORLD_W - 32), y: 50 + tr() * (WORLD_H - 56) };
    if (blocked(p.x, p.y) || trees.some((t) => Math.hypot(t.x - p.x, t.y - p.y) < 44)) continue;
    trees.push(p);
  }
  trees.sort((a, b) => a.y - b.y);
  for (const t of trees) paintTree(ctx, t.x, t.y, 0.8 + ((t.x * 13 + t.y * 7) % 10) / 25);

  // Plaza and fountain.
  circle(ctx, c.x, c.y, PLAZA_R + 2);
  ctx.fillStyle = C.plazaEdge;
  ctx.fill();
  circle(ctx, c.x, c.y, PLAZA_R);
  ctx.fillStyle = C.plaza;
  ctx.fill();
  ctx.strokeStyle = C.plazaTile;
  ctx.lineWidth = 1;
  for (const r of [PLAZA_R - 14, PLAZA_R - 30]) {
    circle(ctx, c.x, c.y, r);
    ctx.stroke();
  }
  for (let i = 0; i < 12; i++) {
    const a = (i * Math.PI) / 6;
    ctx.beginPath();
    ctx.moveTo(c.x + Math.cos(a) * (PLAZA_R - 30), c.y + Math.sin(a) * (PLAZA_R - 30));
    ctx.lineTo(c.x + Math.cos(a) * PLAZA_R, c.y + Math.sin(a) * PLAZA_R);
    ctx.stroke();
  }
  circle(ctx, c.x, c.y, 25);
  fillStroke(ctx, C.stone, C.outline, 1.2);
  circle(ctx, c.x, c.y, 19);
  fillStroke(ctx, C.water, "", 0);
  ctx.strokeStyle = C.waterLight;
  ctx.lineWidth = 1.4;
  for (const r of [9, 14]) {
    ctx.beginPath();
    ctx.arc(c.x, c.y, r, Math.PI * 1.1, Math.PI * 1.6);
    ctx.stroke();
  }
  circle(ctx, c.x, c.y, 5);
  fillStroke(ctx, C.stone, C.outline, 1);
  circle(ctx, c.x, c.y - 2, 2.4);
  fillStroke(ctx, "#e8f6ff", "", 0);
  const home = places[HOME];
  if (home) {
    const size = SIZE.sign * ts;
    ctx.font = `bold ${size}px ${FONT}`;
    const w = ctx.measureText(home.label).width + 12;
    const h = size + 5;
    const top = c.y - PLAZA_R - size * 0.35;
    rr(ctx, c.x - w / 2, top, w, h, 4);
    fillStroke(ctx, C.wood, C.woodDark, 1);
    ctx.fillStyle = C.paper;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(home.label, c.x, top + h / 2 + 0.5);
    signs.push({ id: home.id, text: home.label, x: c.x - w / 2, y: top, w, h });
  }

  // Buildings, back to front.
  for (const p of list) {
    if (p.id === HOME) continue;
    paintBuilding(ctx, p);
  }
  const emb = places.embassy;
  if (emb?.booths) emb.booths.forEach((name, i) => paintBooth(ctx, emb, i, name, emb.booths!.length));
  // Panels for the HUD and the ticker (their texts are drawn by the game).
  // The HUD's second line leaves notches for signs that reach up under the bar (the
  // workshop's, when texts are scaled up): one fill of the top band and the line's pieces.
  const panels: (Box & { r: number; alpha: number })[] = [{ ...TICKER, r: 7, alpha: 0.8 }];
  const { x: hx, y: hy, w: hw, r: hr } = HUD_PANEL;
  const pieces = hudLine2(signs, hy + hud.h1, hy + hud.h, hx, hx + hw);
  if (pieces.length === 1 && pieces[0].x0 === hx && pieces[0].x1 === hx + hw)
    panels.push({ x: hx, y: hy, w: hw, h: hud.h, r: hr, alpha: 0.86 });
  else {
    ctx.fillStyle = "rgba(31,36,51,0.86)";
    ctx.beginPath();
    const right = pieces.some((q) => q.x1 === hx + hw) ? 0 : hr;
    const left = pieces.some((q) => q.x0 === hx) ? 0 : hr;
    ctx.roundRect(hx, hy, hw, hud.h1 + 1, [hr, hr, right, left]); // corners: TL, TR, BR, BL
    for (const q of pieces) ctx.roundRect(q.x0, hy + hud.h1, q.x1 - q.x0, hud.h - hud.h1, [0, 0, q.x1 === hx + hw ? hr : 4, q.x0 === hx ? hr : 4]);
    ctx.fill();
  }
  for (const p of panels) {
    rr(ctx, p.x, p.y, p.w, p.h, p.r);
    ctx.fillStyle = `rgba(31,36,51,${p.alpha})`;
    ctx.fill();
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  return signs;
}

function paintTree(ctx: Ctx, x: number, y: number, s: number): void {
  ctx.fillStyle = "rgba(40,60,30,0.18)";
  ctx.beginPath();
  ctx.ellipse(x, y + 1, 11 * s, 4 * s, 0, 0, Math.PI * 2);
  ctx.fill();
  rr(ctx, x - 2 * s, y - 9 * s, 4 * s, 10 * s, 1.5);
  fillStroke(ctx, C.trunk, C.outline, 1);
  circle(ctx, x, y - 16 * s, 11 * s);
  fillStroke(ctx, C.tree, C.outline, 1.1);
  circle(ctx, x - 3 * s, y - 19 * s, 5 * s);
  ctx.fillStyle = C.treeLight;
  ctx.fill();
}

/** The pieces of the HUD's second line (from y0 to y1, x0 to x1) that no sign below the bar
 * reaches up into, left to right. */
export function hudLine2(boxes: readonly Box[], y0: number, y1: number, x0: number, x1: number): { x0: number; x1: number }[] {
  const cuts = boxes
    .filter((b) => b.y < y1 && b.y + b.h > y0)
    .map((b) => ({ x0: b.x - 5, x1: b.x + b.w + 5 }))
    .sort((a, b) => a.x0 - b.x0);
  const out: { x0: number; x1: number }[] = [];
  let at = x0;
  for (const c of cuts) {
    if (c.x0 > at) out.push({ x0: at, x1: Math.min(c.x0, x1) });
    at = Math.max(at, c.x1);
  }
  if (at < x1) out.push({ x0: at, x1 });
  return out.filter((q) => q.x1 - q.x0 > 1);
}

/** A place's name on its building, centred on (x, y) (or starting at x: `align` "left"). */
function paintLabel(ctx: Ctx, p: Place, x: number, y: number, maxW: number, align: CanvasTextAlign = "center"): void {
  const size = SIZE.sign * signScale;
  ctx.font = `bold ${size}px ${FONT}`;
  ctx.textAlign = align;
  ctx.textBaseline = "middle";
  const t = fitText(ctx, p.label, maxW);
  ctx.lineWidth = 2.4;
  ctx.strokeStyle = "rgba(40,30,25,0.55)";
  ctx.strokeText(t, x, y);
  ctx.fillStyle = "#fff";
  ctx.fillText(t, x, y);
  const w = ctx.measureText(t).width + 2.4;
  const left = align === "left" ? x - 1.2 : x - w / 2;
  signs.push({ id: p.id, text: t, x: left, y: y - size * 0.62, w, h: size * 1.24 });
}

/** The width a place's name takes on its sign at the current text scale. */
function labelWidth(ctx: Ctx, text: string): number {
  ctx.font = `bold ${SIZE.sign * signScale}px ${FONT}`;
  return ctx.measureText(text).width;
}

function paintBuilding(ctx: Ctx, p: Place): void {
  const { w, h } = buildingBox(p);
  const x = p.x;
  const y = p.y;
  const roof = roofColour(p);
  // Ground shadow.
  ctx.fillStyle = "rgba(40,50,30,0.18)";
  rr(ctx, x - w / 2 + 4, y - 6, w, 9, 4);
  ctx.fill();

  if (p.id === "questboard") return paintQuestBoard(ctx, p, w, h);
  if (p.id === "helpdesk") return paintHelpDesk(ctx, p, w, h);
  if (p.id === "observatory") return paintObservatory(ctx, p, w, h);

  const wallTop = y - h + 18;
  // Walls.
  rr(ctx, x - w / 2 + 5, wallTop, w - 10, h - 18, 2);
  fillStroke(ctx, C.cream);
  ctx.fillStyle = C.creamShade;
  ctx.fillRect(x - w / 2 + 5.6, y - 5, w - 11.2, 4.4);
  // Extras behind the roof.
  if (p.id === "workshop") {
    rr(ctx, x + w / 2 - 22, y - h - 4, 8, 10, 1);
    fillStroke(ctx, "#8c6a55");
  }
  if (p.id === "embassy") {
    ctx.strokeStyle = C.outline;
    ctx.lineWidth = 1.4;
    ctx.beginPath();
    ctx.moveTo(x, y - h + 2);
    ctx.lineTo(x, y - h - 16);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x, y - h - 16);
    ctx.lineTo(x + 15, y - h - 12);
    ctx.lineTo(x, y - h - 8);
    ctx.closePath();
    fillStroke(ctx, "#f3d36b", C.outline, 1);
  }
  // Roof: a trapezoid with the place's name on it.
  ctx.beginPath();
  ctx.moveTo(x - w / 2 - 2, wallTop + 2);
  ctx.lineTo(x - w / 2 + 8, y - h);
  ctx.lineTo(x + w / 2 - 8, y - h);
  ctx.lineTo(x + w / 2 + 2, wallTop + 2);
  ctx.closePath();
  fillStroke(ctx, roof);
  ctx.fillStyle = "rgba(255,255,255,0.16)";
  ctx.fillRect(x - w / 2 + 8, y - h + 1, w - 16, 3);
  paintLabel(ctx, p, x, y - h + 10, w + 14);
  // Door.
  rr(ctx, x - 6, y - 15, 12, 15, [5, 5, 0, 0]);
  fillStroke(ctx, C.door);
  circle(ctx, x + 3, y - 7, 0.9);
  ctx.fillStyle = "#f3d36b";
  ctx.fill();
  // Windows.
  for (const side of [-1, 1]) {
    const wx = x + side * (w / 4 + 3) - 7;
    const wy = wallTop + 8;
    rr(ctx, wx, wy, 14, 12, 1.5);
    fillStroke(ctx, p.id === "terminal" ? "#1e2a33" : C.window, C.windowFrame, 1.1);
    if (p.id === "library") {
      const books = ["#c0504d", "#4f81bd", "#9bbb59", "#f2c14e", "#8064a2"];
      for (let i = 0; i < 5; i++) {
        ctx.fillStyle = books[(i + (side > 0 ? 2 : 0)) % 5];
        ctx.fillRect(wx + 2 + i * 2.1, wy + 3 + (i % 2), 1.7, 8 - (i % 2));
      }
    } else if (p.id === "terminal") {
      ctx.fillStyle = "#6ee38a";
      ctx.font = `bold 7px ${FONT}`;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.fillText(side < 0 ? ">_" : "$ ", wx + 2, wy + 6.5);
    } else {
      ctx.strokeStyle = C.windowFrame;
      ctx.lineWidth = 0.8;
      ctx.beginPath();
      ctx.moveTo(wx + 7, wy);
      ctx.lineTo(wx + 7, wy + 12);
      ctx.moveTo(wx, wy + 6);
      ctx.lineTo(wx + 14, wy + 6);
      ctx.stroke();
    }
  }
  if (p.id === "guildhall") {
    for (const side of [-1, 1]) {
      const bx = x + side * (w / 2 - 3);
      ctx.beginPath();
      ctx.moveTo(bx - 4, wallTop + 4);
      ctx.lineTo(bx + 4, wallTop + 4);
      ctx.lineTo(bx + 4, wallTop + 20);
      ctx.lineTo(bx, wallTop + 16);
      ctx.lineTo(bx - 4, wallTop + 20);
      ctx.closePath();
      fillStroke(ctx, "#f2c14e", C.outline, 1);
    }
  }
}

function paintObservatory(ctx: Ctx, p: Place, w: number, h: number): void {
  const x = p.x;
  const y = p.y;
  const wallTop = y - 42;
  rr(ctx, x - w / 2 + 4, wallTop, w - 8, 42, 2);
  fillStroke(ctx, C.cream);
  // Dome with a slit and a telescope.
  ctx.beginPath();
  ctx.moveTo(x - w / 2 + 8, wallTop);
  ctx.arc(x, wallTop, w / 2 - 8, Math.PI, 0);
  ctx.closePath();
  fillStroke(ctx, roofColour(p));
  ctx.save();
  ctx.beginPath();
  ctx.moveTo(x - 4, wallTop);
  ctx.lineTo(x - 4, wallTop - 24);
  ctx.lineTo(x + 4, wallTop - 26);
  ctx.lineTo(x + 4, wallTop);
  ctx.closePath();
  fillStroke(ctx, "#2c3550", C.outline, 1);
  ctx.restore();
  ctx.save();
  ctx.translate(x + 2, wallTop - 18);
  ctx.rotate(-0.7);
  rr(ctx, -3, -3, 22, 6, 2);
  fillStroke(ctx, "#d9dde8", C.outline, 1);
  ctx.restore();
  void h;
  // Fascia with the name (wider than the walls when the name needs it).
  const fw = Math.min(w + 34, Math.max(w - 2, labelWidth(ctx, p.label) + 8));
  const fh = Math.max(12, SIZE.sign * signScale + 3);
  rr(ctx, x - fw / 2, wallTop + 1, fw, fh, 2);
  fillStroke(ctx, roofColour(p));
  paintLabel(ctx, p, x, wallTop + 1 + fh / 2, fw - 4);
  rr(ctx, x - 6, y - 14, 12, 14, [5, 5, 0, 0]);
  fillStroke(ctx, C.door);
  for (const side of [-1, 1]) {
    circle(ctx, x + side * 22, wallTop + 26, 4.5);
    fillStroke(ctx, C.window, C.windowFrame, 1);
  }
}

function paintHelpDesk(ctx: Ctx, p: Place, w: number, h: number): void {
  const x = p.x;
  const y = p.y;
  const top = y - h;
  // Back wall, counter and a striped awning.
  rr(ctx, x - w / 2 + 6, top + 14, w - 12, h - 14, 2);
  fillStroke(ctx, C.cream);
  rr(ctx, x - w / 2 + 2, y - 16, w - 4, 16, 2);
  fillStroke(ctx, C.wood, C.outline);
  ctx.fillStyle = C.woodDark;
  ctx.fillRect(x - w / 2 + 3, y - 16, w - 6, 3);
  const stripes = 8;
  const sw = (w + 4) / stripes;
  for (let i = 0; i < stripes; i++) {
    ctx.beginPath();
    ctx.moveTo(x - w / 2 - 2 + i * sw, top);
    ctx.lineTo(x - w / 2 - 2 + (i + 1) * sw, top);
    ctx.lineTo(x - w / 2 - 2 + (i + 1) * sw, top + 16);
    ctx.arc(x - w / 2 - 2 + (i + 0.5) * sw, top + 16, sw / 2, 0, Math.PI);
    ctx.closePath();
    ctx.fillStyle = i % 2 ? "#fff6df" : roofColour(p);
    ctx.fill();
  }
  ctx.strokeStyle = C.outline;
  ctx.lineWidth = 1.2;
  rr(ctx, x - w / 2 - 2, top, w + 4, 16, 1);
  ctx.stroke();
  const lw = Math.min(w + 10, labelWidth(ctx, p.label) + 14);
  const lh = Math.max(14, SIZE.sign * signScale + 4);
  rr(ctx, x - lw / 2, top + 2 - lh / 2, lw, lh, 3);
  fillStroke(ctx, C.wood, C.outline, 1.1);
  paintLabel(ctx, p, x, top + 2, lw - 4);
  // A "?" sign and a bell on the counter.
  circle(ctx, x - w / 2 + 16, top + 27, 6);
  fillStroke(ctx, "#fff6df", C.outline, 1);
  ctx.fillStyle = C.ink;
  ctx.font = `bold 9px ${FONT}`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText("?", x - w / 2 + 16, top + 27.5);
  ctx.beginPath();
  ctx.arc(x + w / 2 - 16, y - 16, 5, Math.PI, 0);
  ctx.closePath();
  fillStroke(ctx, "#f2c14e", C.outline, 1);
}

function paintQuestBoard(ctx: Ctx, p: Place, w: number, h: number): void {
  const x = p.x;
  const y = p.y;
  const top = y - h;
  for (const side of [-1, 1]) {
    rr(ctx, x + side * (w / 2 - 10) - 3, top + 6, 6, h - 6, 1);
    fillStroke(ctx, C.woodDark);
  }
  rr(ctx, x - w / 2, top, w, h - 12, 4);
  fillStroke(ctx, C.wood);
  rr(ctx, x - w / 2 + 5, top + 17, w - 10, h - 34, 2);
  fillStroke(ctx, C.paper, C.woodDark, 1);
  paintLabel(ctx, p, x, top + 9, w - 10);
}

/** Booth `index` of the embassy: a small stall for one MCP server. */
function paintBooth(ctx: Ctx, emb: Place, index: number, name: string, count: number): void {
  const b = boothPoint(emb, index);
  if (!b) return;
  const colour = EXTRA_ROOFS[hash(name) % EXTRA_ROOFS.length];
  const x = b.x;
  const y = b.y;
  ctx.fillStyle = "rgba(40,50,30,0.18)";
  rr(ctx, x - 14, y - 3, 30, 6, 3);
  ctx.fill();
  rr(ctx, x - 13, y - 13, 26, 13, 1.5);
  fillStroke(ctx, C.cream);
  for (let i = 0; i < 4; i++) {
    ctx.beginPath();
    ctx.rect(x - 15 + i * 7.5, y - 24, 7.5, 9);
    ctx.fillStyle = i % 2 ? "#fff6df" : colour;
    ctx.fill();
  }
  ctx.strokeStyle = C.outline;
  ctx.lineWidth = 1;
  ctx.strokeRect(x - 15, y - 24, 30, 9);
  const size = SIZE.sign * signScale;
  ctx.font = `${size}px ${FONT}`; // not bold: booths stand close, their names must fit
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  // A name may reach over to a side where no booth stands (booths fill a row of four from the
  // right: index 0 is the rightmost).
  const inRow = index % 4;
  const roomLeft = inRow < 3 && index + 1 < count ? 0 : 18;
  const roomRight = inRow > 0 ? 0 : 8; // the embassy itself stands right of the first
  const t = fitText(ctx, name, 40 + roomLeft + roomRight);
  const tw = ctx.measureText(t).width + 6;
  const th = size + 3;
  // Centred under the booth, or slid towards the free side when it is wider.
  const extra = tw - 46;
  const left = extra <= 0 ? 0 : Math.min(roomLeft, Math.max(extra / 2, extra - roomRight));
  const cx = extra <= 0 ? x : x - 23 - left + tw / 2;
  // The name over the awning, where its visitors (standing in front) do not hide it.
  const ty = y - 24 - th - 1.5;
  rr(ctx, cx - tw / 2, ty, tw, th, 3);
  fillStroke(ctx, C.panel, "", 0);
  ctx.fillStyle = "#fff";
  ctx.fillText(t, cx, ty + th / 2 + 0.5);
  signs.push({ id: `${emb.id}#${name}`, text: t, x: cx - tw / 2, y: ty, w: tw, h: th });
  void BOOTH_SLOTS;
}

// -- small textures ----------------------------------------------------------------------

/** Character frame size in world units (feet at FEET_Y). */
export const CHAR_W = 32;
export const CHAR_H = 40;
export const FEET_Y = 38;

export function paintCharacter(canvas: HTMLCanvasElement, k: number, look: AgentLook, step: number): void {
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(k, 0, 0, k, 0, 0);
  ctx.clearRect(0, 0, CHAR_W, CHAR_H);
  ctx.lineJoin = "round";
  const cx = CHAR_W / 2;
  const f = FEET_Y;
  // Legs.
  const lift = step ? 1.6 : 0;
  rr(ctx, cx - 5.5, f - 8 - (step === 1 ? lift : 0), 4, 8, 1.5);
  fillStroke(ctx, "#3d3440", C.outline, 1);
  rr(ctx, cx + 1.5, f - 8 - (step === 2 ? lift : 0), 4, 8, 1.5);
  fillStroke(ctx, "#3d3440", C.outline, 1);
  // Arms.
  for (const side of [-1, 1]) {
    const swing = step ? (step === 1 ? side : -side) * 1.5 : 0;
    rr(ctx, cx + side * 8.5 - 2.5, f - 20 + swing, 5, 9, 2.5);
    fillStroke(ctx, look.coatDark, C.outline, 1);
  }
  // Coat.
  rr(ctx, cx - 8, f - 22, 16, 16, 5);
  fillStroke(ctx, look.coat, C.outline, 1.2);
  ctx.fillStyle = look.coatDark;
  ctx.fillRect(cx - 7.3, f - 11, 14.6, 2.2);
  ctx.fillStyle = "rgba(255,255,255,0.25)";
  ctx.fillRect(cx - 5.5, f - 20, 3, 7);
  // Head.
  circle(ctx, cx, f - 27, 7.5);
  fillStroke(ctx, "#f6d5b8", C.outline, 1.2);
  ctx.fillStyle = C.outline;
  circle(ctx, cx - 2.7, f - 26.5, 1.1);
  ctx.fill();
  circle(ctx, cx + 2.7, f - 26.5, 1.1);
  ctx.fill();
  ctx.fillStyle = "rgba(230,110,110,0.45)";
  circle(ctx, cx - 4.6, f - 24.3, 1.3);
  ctx.fill();
  circle(ctx, cx + 4.6, f - 24.3, 1.3);
  ctx.fill();
  // Hat.
  const hy = f - 32;
  ctx.beginPath();
  switch (look.hat) {
    case "crown":
      ctx.moveTo(cx - 6.5, hy + 1);
      ctx.lineTo(cx - 7, hy - 6);
      ctx.lineTo(cx - 3.5, hy - 2.5);
      ctx.lineTo(cx, hy - 8);
      ctx.lineTo(cx + 3.5, hy - 2.5);
      ctx.lineTo(cx + 7, hy - 6);
      ctx.lineTo(cx + 6.5, hy + 1);
      ctx.closePath();
      fillStroke(ctx, look.hatColour, C.outline, 1);
      circle(ctx, cx, hy - 2, 1.2);
      ctx.fillStyle = "#e0483e";
      ctx.fill();
      break;
    case "explorer":
      ctx.ellipse(cx, hy + 1, 10, 2.6, 0, 0, Math.PI * 2);
      fillStroke(ctx, look.hatColour, C.outline, 1);
      ctx.beginPath();
      ctx.moveTo(cx - 5.5, hy + 0.5);
      ctx.quadraticCurveTo(cx - 5, hy - 6, cx, hy - 6);
      ctx.quadraticCurveTo(cx + 5, hy - 6, cx + 5.5, hy + 0.5);
      ctx.closePath();
      fillStroke(ctx, look.hatColour, C.outline, 1);
      ctx.fillStyle = "#7b5a3c";
      ctx.fillRect(cx - 5.3, hy - 1.6, 10.6, 1.8);
      break;
    case "wizard":
      ctx.moveTo(cx - 8, hy + 1.5);
      ctx.lineTo(cx + 1, hy - 13);
      ctx.lineTo(cx + 8, hy + 1.5);
      ctx.closePath();
      fillStroke(ctx, look.hatColour, C.outline, 1);
      ctx.fillStyle = "#f4d35e";
      star(ctx, cx + 0.5, hy - 4, 2.2);
      ctx.fill();
      break;
    case "cap":
      ctx.moveTo(cx - 7, hy + 1);
      ctx.quadraticCurveTo(cx - 6.5, hy - 6, cx, hy - 6);
      ctx.quadraticCurveTo(cx + 6.5, hy - 6, cx + 7, hy + 1);
      ctx.closePath();
      fillStroke(ctx, look.hatColour, C.outline, 1);
      rr(ctx, cx + 2, hy - 0.5, 9, 2.6, 1.2);
      fillStroke(ctx, look.hatColour, C.outline, 1);
      break;
    case "beanie":
      ctx.moveTo(cx - 7, hy + 1.5);
      ctx.quadraticCurveTo(cx - 7, hy - 6, cx, hy - 6);
      ctx.quadraticCurveTo(cx + 7, hy - 6, cx + 7, hy + 1.5);
      ctx.closePath();
      fillStroke(ctx, look.hatColour, C.outline, 1);
      circle(ctx, cx, hy - 6.5, 2);
      fillStroke(ctx, "#fff6df", C.outline, 0.8);
      break;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}

function star(ctx: Ctx, x: number, y: number, r: number): void {
  ctx.beginPath();
  for (let i = 0; i < 10; i++) {
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    const rad = i % 2 ? r * 0.45 : r;
    ctx.lineTo(x + Math.cos(a) * rad, y + Math.sin(a) * rad);
  }
  ctx.closePath();
}

export interface SmallTexture {
  w: number;
  h: number;
  paint(ctx: Ctx): void;
}

/** Badges and particles, in world units. */
export const SMALL: Record<string, SmallTexture> = {
  shadow: {
    w: 24,
    h: 8,
    paint(ctx) {
      ctx.fillStyle = "rgba(30,40,20,0.28)";
      ctx.beginPath();
      ctx.ellipse(12, 4, 11, 3.5, 0, 0, Math.PI * 2);
      ctx.fill();
    },
  },
  ask: {
    w: 16,
    h: 16,
    paint(ctx) {
      circle(ctx, 8, 8, 7);
      fillStroke(ctx, C.yellow, C.outline, 1.2);
      ctx.fillStyle = C.ink;
      ctx.font = `bold 11px ${FONT}`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("?", 8, 8.6);
    },
  },
  fail: {
    w: 14,
    h: 14,
    paint(ctx) {
      circle(ctx, 7, 7, 6);
      fillStroke(ctx, C.red, "#7a1f1a", 1.1);
      ctx.fillStyle = "#fff";
      ctx.fillRect(6, 3, 2, 5);
      ctx.fillRect(6, 9, 2, 2);
    },
  },
  done: {
    w: 14,
    h: 14,
    paint(ctx) {
      circle(ctx, 7, 7, 6);
      fillStroke(ctx, C.green, "#24633a", 1.1);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.8;
      ctx.lineCap = "round";
      ctx.beginPath();
      ctx.moveTo(4, 7.2);
      ctx.lineTo(6.2, 9.4);
      ctx.lineTo(10, 4.8);
      ctx.stroke();
    },
  },
  help: {
    w: 18,
    h: 18,
    paint(ctx) {
      circle(ctx, 9, 9, 8);
      fillStroke(ctx, "#4f8fe8", "#f3f5fb", 1.4);
      ctx.fillStyle = "#ffffff";
      ctx.font = `bold 12px ${FONT}`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("?", 9, 9.8);
    },
  },
  dot: {
    w: 6,
    h: 6,
    paint(ctx) {
      circle(ctx, 3, 3, 2.2);
      fillStroke(ctx, "#ffffff", C.outline, 0.8);
    },
  },
  spark: {
    w: 8,
    h: 8,
    paint(ctx) {
      ctx.fillStyle = "#ffffff";
      star(ctx, 4, 4, 3.6);
      ctx.fill();
    },
  },
  ring: {
    w: 40,
    h: 40,
    paint(ctx) {
      circle(ctx, 20, 20, 17);
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2.5;
      ctx.stroke();
    },
  },
  glow: {
    w: 40,
    h: 40,
    paint(ctx) {
      const g = ctx.createRadialGradient(20, 20, 2, 20, 20, 20);
      g.addColorStop(0, "rgba(255,236,150,0.95)");
      g.addColorStop(1, "rgba(255,236,150,0)");
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, 40, 40);
    },
  },
};

/** Speech bubble looks: a nine-slice box and a tail per kind. The keys are the effect kinds
 * (EFFECT_KINDS, town.json) that show a bubble; test/facts.test.mjs checks that they are. */
export const BUBBLES = {
  say: { bg: "#ffffff", border: "#4a3b32", text: "#2d2622" },
  prompt: { bg: "#dcebff", border: "#3a6fc4", text: "#1d2f52" },
  wait: { bg: "#fff1c2", border: "#b58a1c", text: "#4a3a10" },
  note: { bg: "#e8f6d6", border: "#5c8a3a", text: "#2e4a1c" },
  flash: { bg: "#ffdcd6", border: "#c0392b", text: "#6e1a12" },
  compact: { bg: "#ece3ff", border: "#6a4bb8", text: "#35265e" },
} satisfies Record<string, { bg: string; border: string; text: string }>;
export type BubbleKind = keyof typeof BUBBLES;
export const isBubbleKind = (kind: string): kind is BubbleKind => Object.hasOwn(BUBBLES, kind);
export const BUBBLE_BOX = 24; // world units; corners of 8 stay unscaled
for (const [kind, look] of Object.entries(BUBBLES)) {
  SMALL[`bubble-${kind}`] = {
    w: BUBBLE_BOX,
    h: BUBBLE_BOX,
    paint(ctx) {
      rr(ctx, 0.7, 0.7, BUBBLE_BOX - 1.4, BUBBLE_BOX - 1.4, 5);
      fillStroke(ctx, look.bg, look.border, 1.2);
    },
  };
  SMALL[`tail-${kind}`] = {
    w: 10,
    h: 7,
    paint(ctx) {
      ctx.beginPath();
      ctx.moveTo(0.5, 0);
      ctx.lineTo(5, 6.3);
      ctx.lineTo(9.5, 0);
      ctx.fillStyle = look.bg;
      ctx.fill();
      ctx.strokeStyle = look.border;
      ctx.lineWidth = 1.2;
      ctx.stroke();
      ctx.fillStyle = look.bg;
      ctx.fillRect(0.9, 0, 8.2, 1.3);
    },
  };
}

export function paintSmall(canvas: HTMLCanvasElement, k: number, tex: SmallTexture): void {
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(k, 0, 0, k, 0, 0);
  ctx.clearRect(0, 0, tex.w, tex.h);
  tex.paint(ctx);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}

export { LOOKS };

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function segDist(p: Pt, a: Pt, b: Pt): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy || 1;
  const t = Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}
