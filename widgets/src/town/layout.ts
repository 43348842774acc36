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

/** How far apart visitors stand: room for a body, a short name under it and a tag above. */
export const SPOT_COL = 44;
export const SPOT_ROW = 40;
/** Feet stay in this band: a head and its tag below the HUD, a name above the bottom. */
const SPOT_TOP = HUD_H + 52;
const SPOT_BOTTOM = WORLD_H - 20;

/** Where a group gathers: a place's front yard, an embassy booth's counter, the fountain's
 * front. */
function anchorOf(places: Record<string, Place>, placeId: string, booth: string | null): Pt {
  const place = places[placeId];
  if (placeId === HOME) {
    const c = plazaCentre(places);
    return { x: c.x, y: c.y + 44 };
  }
  if (booth !== null) {
    // In front of the booth (its name is over the awning, art.ts).
    const b = boothPoint(place, (place.booths ?? []).indexOf(booth))!;
    return { x: b.x, y: b.y + 24 };
  }
  return { x: place.x, y: place.y + 24 };
}

/** Where nobody may stand: buildings (and the strip above them, where a name would cover the
 * roof), booths, the ticker, the fountain. */
function blocked(p: Pt, places: Record<string, Place>, home: boolean): boolean {
  if (p.x < 16 || p.x > WORLD_W - 16 || p.y < SPOT_TOP || p.y > SPOT_BOTTOM) return true;
  if (p.x > TICKER.x - 16 && p.y > TICKER.y - 18) return true;
  const c = plazaCentre(places);
  const r = Math.hypot(p.x - c.x, p.y - c.y);
  if (home ? r < 34 : r < PLAZA_R + 12) return true;
  // Nobody's head in front of the plaza's sign.
  if (home && Math.abs(p.x - c.x) < 56 && p.y < c.y - PLAZA_R + 56) return true;
  for (const b of Object.values(places)) {
    if (b.id === HOME) continue;
    const { w, h } = buildingBox(b);
    if (Math.abs(p.x - b.x) < w / 2 + 12 && p.y > b.y - h - 20 && p.y < b.y + 10) return true;
  }
  const emb = places.embassy;
  const booths = emb?.booths ?? [];
  for (let i = 0; i < booths.length; i++) {
    const b = boothPoint(emb, i);
    // The booth, and its name over the awning (a body in front would hide it).
    if (b && Math.abs(p.x - b.x) < 32 && p.y > b.y - 46 && p.y < b.y + 14) return true;
  }
  return false;
}

/** Every group's anchor, for sharing the ground out (each point goes to its nearest). */
function anchors(places: Record<string, Place>): { key: string; at: Pt; home: boolean }[] {
  const out: { key: string; at: Pt; home: boolean }[] = [];
  for (const p of Object.values(places)) {
    out.push({ key: p.id, at: anchorOf(places, p.id, null), home: p.id === HOME });
    if (p.id === "embassy")
      for (const b of p.booths ?? [])
        if (boothPoint(p, (p.booths ?? []).indexOf(b))) out.push({ key: `embassy#${b}`, at: anchorOf(places, p.id, b), home: false });
  }
  return out;
}

const spotCache = new Map<string, Pt[]>();

/** The points a group at `key` ("place" or "embassy#booth") fills, best first: a staggered
 * grid around its anchor, its own ground (nearer to its anchor than to any other) first and
 * the front before the sides. */
export function groupSpots(places: Record<string, Place>, key: string): Pt[] {
  const sig = `${key}|${JSON.stringify(Object.values(places).map((p) => [p.id, p.x, p.y, p.booths ?? null]))}`;
  const hit = spotCache.get(sig);
  if (hit) return hit;
  const [placeId, booth = null] = key.split("#") as [string, string?];
  const home = placeId === HOME;
  const a = anchorOf(places, placeId, booth);
  const all = anchors(places);
  const scored: { p: Pt; cost: number }[] = [];
  for (let j = -6; j <= 7; j++)
    for (let i = -9; i <= 9; i++) {
      const p = { x: a.x + (i + (j & 1 ? 0.5 : 0)) * SPOT_COL, y: a.y + j * SPOT_ROW };
      if (blocked(p, places, home)) continue;
      const mine = home ? Math.max(0, Math.hypot(p.x - a.x, p.y - a.y) - 40) : Math.hypot(p.x - a.x, p.y - a.y);
      let theirs = Infinity;
      for (const o of all) {
        if (o.key === key) continue;
        const d = Math.hypot(p.x - o.at.x, p.y - o.at.y);
        theirs = Math.min(theirs, o.home ? Math.max(0, d - 40) : d);
      }
      const cost = Math.hypot(p.x - a.x, (p.y - a.y) * (p.y < a.y - 4 ? 1.4 : 1)) + (mine <= theirs ? 0 : 1000);
      scored.push({ p, cost });
    }
  scored.sort((u, v) => u.cost - v.cost || u.p.y - v.p.y || u.p.x - v.p.x);
  const out = scored.map((s) => s.p);
  if (!out.length) out.push(a);
  if (spotCache.size > 64) spotCache.clear();
  spotCache.set(sig, out);
  return out;
}

/** Every present agent's spot: the members of a group (agents at one place, or at one
 * embassy booth) take their group's points in family order. Agents that left are not placed. */
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
    const points = groupSpots(places, key);
    group.forEach((a, i) => {
      const base = points[i % points.length];
      const lap = Math.floor(i / points.length); // more visitors than ground: stand closer
      const p = lap ? { x: base.x + lap * 9, y: base.y + lap * 5 } : base;
      spots.set(a.id, { x: p.x, y: p.y, place: placeId, booth });
    });
  }
  return spots;
}

/** The way between a place's yard and a spot beside or behind its building (the points after
 * the yard, without the spot): round the corner instead of through the walls. */
export function approach(place: Place | undefined, spot: Pt): Pt[] {
  if (!place || place.id === HOME) return [];
  const { w } = buildingBox(place);
  const f = yard(place);
  if (w <= 0 || spot.y >= place.y + 8) return [];
  if (Math.abs(spot.x - place.x) >= w / 2 + 10) return [{ x: spot.x, y: f.y }];
  const sx = place.x + (spot.x < place.x ? -1 : 1) * (w / 2 + 14);
  return [{ x: sx, y: f.y }, { x: sx, y: spot.y }];
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
  if (from === to && start === null) {
    // Round the building when going from one side of it to the other.
    const out = approach(places[to], pos).reverse();
    const back = approach(places[to], spot);
    const via = out.length || back.length ? [...out, yard(places[to]), ...back] : [];
    return { points: [...via, spot], ringIn: -1, ringOut: -1 };
  }
  const points: Pt[] = [];
  if (start !== null) points.push(...start);
  else if (from && from !== HOME && places[from]) {
    points.push(...approach(places[from], pos).reverse(), ...road(places[from], places));
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
  points.push(...inbound.slice(1), ...(to !== HOME ? approach(places[to], spot) : []), spot);
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
