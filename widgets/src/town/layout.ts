// Where things stand and how characters walk: pure functions of the snapshot's places and
// agents, so every viewer draws the same town.
import type { Agent, Place } from "../types";
import { HOME, WORLD_H, WORLD_W } from "./facts";

export interface Pt {
  x: number;
  y: number;
}

export const HUD_H = 34;
/** The panels drawn on the backdrop: the HUD bar and the ticker of recent events. */
export const HUD_PANEL = { x: 5, y: 3, w: WORLD_W - 10, h: 29, r: 7 };
export const TICKER = { x: 640, y: 370, w: 156, h: 126, lines: 6 };
/** Walking ring around the fountain. */
export const RING_R = 50;
export const PLAZA_R = 70;

/** Building footprint above a place's point (the point is the middle of its front step). */
export function buildingBox(place: Place): { w: number; h: number } {
  if (place.id === "questboard") return { w: 128, h: 104 };
  if (place.id === HOME) return { w: 0, h: 0 };
  if (place.id === "observatory") return { w: 76, h: 70 };
  return { w: 80, h: 50 };
}

export function plazaCentre(places: Record<string, Place>): Pt {
  const home = places[HOME];
  return home ? { x: home.x, y: home.y } : { x: WORLD_W / 2, y: WORLD_H / 2 };
}

/** The front yard: where a place's road ends and its visitors gather. */
export function yard(place: Place): Pt {
  return { x: place.x, y: place.y + 14 };
}

export function ringPoint(c: Pt, angle: number, r = RING_R): Pt {
  return { x: c.x + Math.cos(angle) * r, y: c.y + Math.sin(angle) * r };
}

/** The road of a place: a polyline from its yard to the walking ring of the plaza. Places
 * south of the plaza get a path around their own building. */
export function road(place: Place, places: Record<string, Place>): Pt[] {
  const c = plazaCentre(places);
  const f = yard(place);
  if (place.id === HOME) return [];
  const box = buildingBox(place);
  const pts: Pt[] = [f];
  let from = f;
  if (place.y > c.y + 60 && box.w > 0) {
    const side = place.id === "embassy" ? 1 : c.x > place.x + 4 ? 1 : c.x < place.x - 4 ? -1 : 1;
    const sx = place.x + side * (box.w / 2 + 14);
    pts.push({ x: sx, y: f.y }, { x: sx, y: place.y - box.h - 10 });
    from = pts[pts.length - 1];
  }
  const a = Math.atan2(from.y - c.y, from.x - c.x);
  pts.push(ringPoint(c, a));
  return pts;
}

export const BOOTH_SLOTS: Pt[] = (() => {
  const slots: Pt[] = [];
  for (let row = 0; row < 2; row++)
    for (let i = 0; i < 4; i++) slots.push({ x: -70 - i * 46, y: row === 0 ? 2 : -50 });
  return slots;
})();

/** Position of booth `index` (0-based) of the embassy, or null when there is no room. */
export function boothPoint(embassy: Place, index: number): Pt | null {
  const slot = BOOTH_SLOTS[index];
  if (!slot) return null;
  return { x: embassy.x + slot.x, y: embassy.y + slot.y };
}

export interface Spot extends Pt {
  place: string;
  booth: string | null;
  /** Drop the name label a little (every other visitor in a row, so names do not collide). */
  drop?: boolean;
}

/** Agents in a stable order: each parent followed by its children (depth first, creation
 * order), so that subagents stand next to their parent when they share a place. */
export function familyOrder(agents: Record<string, Agent>): Agent[] {
  const list = Object.values(agents);
  const children = new Map<string, Agent[]>();
  const roots: Agent[] = [];
  for (const a of list) {
    if (a.parent && agents[a.parent] && a.parent !== a.id) {
      const kids = children.get(a.parent) ?? [];
      kids.push(a);
      children.set(a.parent, kids);
    } else roots.push(a);
  }
  roots.sort((a, b) => (a.kind === "main" ? -1 : 0) - (b.kind === "main" ? -1 : 0));
  const out: Agent[] = [];
  const seen = new Set<string>();
  const visit = (a: Agent) => {
    if (seen.has(a.id)) return;
    seen.add(a.id);
    out.push(a);
    for (const k of children.get(a.id) ?? []) visit(k);
  };
  for (const r of roots) visit(r);
  for (const a of list) visit(a); // cycles, if any
  return out;
}

/** Every present agent's spot. Agents that left are not placed. */
export function assignSpots(
  agents: Record<string, Agent>,
  places: Record<string, Place>,
): Map<string, Spot> {
  const groups = new Map<string, Agent[]>();
  const embassy = places.embassy;
  const booths = embassy?.booths ?? [];
  for (const a of familyOrder(agents)) {
    if (a.state === "left") continue;
    const placeId = places[a.place] ? a.place : places[HOME] ? HOME : Object.keys(places)[0];
    if (placeId === undefined) continue;
    let key = placeId;
    const booth = a.tool?.booth;
    if (placeId === "embassy" && booth && boothPoint(embassy, booths.indexOf(booth)))
      key = `embassy#${booth}`;
    const g = groups.get(key) ?? [];
    g.push(a);
    groups.set(key, g);
  }
  const spots = new Map<string, Spot>();
  for (const [key, group] of groups) {
    const [placeId, booth = null] = key.split("#") as [string, string?];
    const place = places[placeId];
    const n = group.length;
    group.forEach((a, i) => {
      let p: Pt;
      if (placeId === HOME) p = squareSpot(plazaCentre(places), i, n);
      else if (booth) {
        const b = boothPoint(place, booths.indexOf(booth))!;
        p = rowSpot({ x: b.x + 24, y: b.y + 2 }, i, n, 2, 16, 26);
      } else p = rowSpot(yard(place), i, n, 4, 42, 34);
      spots.set(a.id, { ...p, place: placeId, booth, drop: !booth && placeId !== HOME && i % 2 === 1 });
    });
  }
  return spots;
}

/** Rows of visitors below a place's step, centred, as many rows as fit above the bottom. */
export function rowSpot(anchor: Pt, i: number, n: number, perRow: number, col: number, rowH: number): Pt {
  const maxRows = Math.max(1, Math.floor((WORLD_H - 8 - (anchor.y + 10)) / rowH) + 1);
  const per = Math.max(perRow, Math.ceil(n / maxRows));
  const row = Math.floor(i / per);
  const inRow = Math.min(per, n - row * per);
  const j = i - row * per;
  return {
    x: clamp(anchor.x + (j - (inRow - 1) / 2) * col, 10, WORLD_W - 10),
    y: Math.min(anchor.y + 10 + row * rowH, WORLD_H - 8),
  };
}

/** Around the fountain: the first ten on an inner ring from the front, more further out. */
export function squareSpot(c: Pt, i: number, n: number): Pt {
  const inner = 10;
  if (i < inner) {
    const k = Math.min(n, inner);
    const step = (2 * Math.PI) / inner;
    const a = Math.PI / 2 + (i - (k - 1) / 2) * step;
    return { x: c.x + Math.cos(a) * 46, y: c.y + 10 + Math.sin(a) * 38 };
  }
  const j = i - inner;
  const k = Math.min(n - inner, 16);
  const step = (2 * Math.PI) / 16;
  const a = Math.PI / 2 + ((j % 16) - (k - 1) / 2) * step;
  const r = 66 + Math.floor(j / 16) * 14;
  return { x: c.x + Math.cos(a) * r, y: c.y + 10 + Math.sin(a) * r * 0.78 };
}

export interface Route {
  points: Pt[];
  /** Index in `points` of the first and last points on the plaza ring (-1 when none). */
  ringIn: number;
  ringOut: number;
}

export function arc(c: Pt, a0: number, a1: number): Pt[] {
  let d = a1 - a0;
  while (d > Math.PI) d -= 2 * Math.PI;
  while (d < -Math.PI) d += 2 * Math.PI;
  const steps = Math.max(1, Math.ceil(Math.abs(d) / (Math.PI / 7)));
  const pts: Pt[] = [];
  for (let s = 0; s <= steps; s++) pts.push(ringPoint(c, a0 + (d * s) / steps));
  return pts;
}

const angleOf = (c: Pt, p: Pt) => Math.atan2(p.y - c.y, p.x - c.x);

/** A walk from `pos` to `spot` at `to`. `start` is the outbound part already decided
 * (points that lead to the ring, the last one on it), or null to leave `from` by its road. */
export function route(
  pos: Pt,
  from: string | null,
  to: string,
  spot: Pt,
  places: Record<string, Place>,
  start: Pt[] | null = null,
): Route {
  const c = plazaCentre(places);
  if (from === to && start === null) return { points: [spot], ringIn: -1, ringOut: -1 };
  const points: Pt[] = [];
  if (start !== null) points.push(...start);
  else if (from && from !== HOME && places[from]) {
    const r = road(places[from], places);
    // Skip road points behind us (a visitor already stands past its yard).
    points.push(...r);
  }
  const entry = points.length ? points[points.length - 1] : ringPoint(c, angleOf(c, pos));
  if (!points.length) points.push(entry);
  const ringIn = points.length - 1;
  let inbound: Pt[] = [];
  let target: number;
  if (to !== HOME && places[to]) {
    inbound = road(places[to], places).reverse();
    target = angleOf(c, inbound[0]);
  } else target = angleOf(c, spot);
  const along = arc(c, angleOf(c, entry), target);
  points.push(...along.slice(1));
  const ringOut = points.length - 1;
  points.push(...inbound.slice(1), spot);
  return { points, ringIn, ringOut };
}

export function pathLength(from: Pt, pts: Pt[]): number {
  let len = 0;
  let p = from;
  for (const q of pts) {
    len += Math.hypot(q.x - p.x, q.y - p.y);
    p = q;
  }
  return len;
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** A small stable hash (colours of places added at run time). */
export function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
