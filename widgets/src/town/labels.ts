// The layout of the characters' texts, once a frame: every name, tool tag and bubble takes
// the first free one of its candidate places (placer.ts), after the fixed texts (HUD, ticker,
// quest board, signs). Waits for the user first, then tags, names, and the other bubbles,
// newest first; a character standing still keeps its places before one walking by. What does
// not fit is shortened (a name in a crowd reads "#3"), moved, or folded (a bubble, counted per
// place and shown as "+N more").
import type { Character } from "./character";
import { BUBBLE_RANK } from "./character";
import type { Pt } from "./layout";
import { above, below, clampInto, type Box, type Placer } from "./placer";

/** An item hidden by the layout stays hidden this long before it may come back (no flicker
 * while characters walk past each other). */
const REST_MS = 300;
/** A name shortened because the full one did not fit tries the full one again after this. */
const SHORT_MS = 1500;

export interface TextLayout {
  /** Lines from a bubble moved away from its speaker to the speaker's head. */
  leaders: [Pt, Pt][];
  /** Bubbles that found no room, per place: how many, and the speakers' mean position. */
  folded: Map<string, { count: number; x: number; y: number }>;
}

/** A bubble further than this from its speaker's head is folded instead (a long leader line
 * reads worse than "+1 more"). */
const MAX_REACH = 90;

/** How far a bubble box is from its speaker's head (0 when the head is under or in it). */
function reach(c: Character, b: Box): number {
  const hx = c.x;
  const hy = c.y - c.height;
  const dx = hx < b.x ? b.x - hx : hx > b.x + b.w ? hx - b.x - b.w : 0;
  const dy = hy < b.y ? b.y - hy : hy > b.y + b.h ? hy - b.y - b.h : 0;
  return Math.hypot(dx, dy);
}

/** Whether the segment a–b passes through box `s` (sampled: boxes are small, segments short). */
function segmentHitsBox(a: Pt, b: Pt, s: Box): boolean {
  for (let t = 0; t <= 1; t += 0.1) {
    const x = a.x + (b.x - a.x) * t;
    const y = a.y + (b.y - a.y) * t;
    if (x > s.x && x < s.x + s.w && y > s.y && y < s.y + s.h) return true;
  }
  return false;
}

/** Still characters, then walkers; in each, those whose text shows already come first (who has
 * a place keeps it: less blinking when crowds walk through each other). */
function keepers(order: readonly Character[], showing: (c: Character) => boolean): Character[] {
  const out: Character[] = [];
  for (const walking of [false, true])
    for (const shown of [true, false]) for (const c of order) if (c.walking === walking && showing(c) === shown) out.push(c);
  return out;
}

const rests = (hiddenAt: number, now: number) => hiddenAt >= 0 && now - hiddenAt < REST_MS;

/** Place every text of `chars` (in family order) into `placer`. `crowded` holds the agents
 * that stand in a crowd (their names show in the short form). */
export function layoutTexts(
  chars: readonly Character[],
  placer: Placer,
  now: number,
  crowded: ReadonlySet<string>,
  /** Agents whose tag shows as their crowd's (one "Read ×12" by the sign): none of their own. */
  grouped: ReadonlySet<string> = new Set(),
  /** The signs painted into the town (a leader line should not cut through one). */
  signs: readonly Box[] = [],
): TextLayout {
  const out: TextLayout = { leaders: [], folded: new Map() };
  const shown = chars.filter((c) => c.visible);
  // Still characters first: a crowd keeps its names while someone walks through it.
  const order = [...shown.filter((c) => !c.walking), ...shown.filter((c) => c.walking)];
  const bubbles = order.filter((c) => c.bubbleLive(now));
  bubbles.sort((a, b) => BUBBLE_RANK[a.bubbleKind] - BUBBLE_RANK[b.bubbleKind] || b.bubbleSince - a.bubbleSince);
  const placed = new Set<Character>();
  const crossesSign = (c: Character, b: Box): boolean => {
    const head = { x: c.x, y: c.y - c.height };
    const tip = { x: Math.min(Math.max(c.x, b.x + 8), b.x + b.w - 8), y: b.y > head.y ? b.y : b.y + b.h };
    if (Math.hypot(tip.x - head.x, tip.y - head.y) <= 16) return false;
    return signs.some((s) => segmentHitsBox(tip, head, s));
  };

  const bubble = (c: Character) => {
    placed.add(c);
    if (rests(c.bubbleHiddenAt, now) && !c.bubbleShown && c.bubbleSince < c.bubbleHiddenAt) return fold(c);
    const near = bubbleCandidates(c, placer.bounds).filter((b) => reach(c, b) <= MAX_REACH);
    // A leader line drawn across a sign would cut its name: those places come last.
    const cands = [...near.filter((b) => !crossesSign(c, b)), ...near.filter((b) => crossesSign(c, b))];
    const i = placer.place(cands);
    if (i < 0) return fold(c);
    const box = cands[i];
    const tip = c.placeBubble(box, now);
    const head = { x: c.x, y: c.y - c.height };
    if (tip && Math.hypot(tip.x - head.x, tip.y - head.y) > 16 && !crossesSign(c, box)) out.leaders.push([tip, head]);
  };
  const bubbleCandidates = (c: Character, bounds: Box): Box[] => {
    const w = c.bubbleW;
    const h = c.bubbleH;
    const top = c.y - c.height - (c.tagShown ? c.tag.height + 3 : 3) - 7;
    const cands: Box[] = [];
    const push = (b: Box) => cands.push(clampInto(b, bounds));
    const sx = w / 2 - 12;
    // Over the head (centred; else where it was last frame, so that it does not jump about;
    // else reaching left or right), then beside the body, one step up, under the feet, two
    // steps up, and last further aside.
    push(above(c.x, top, w, h));
    if (c.bubbleAt) push(above(c.x + c.bubbleAt.x, c.y + c.bubbleAt.y, w, h));
    push(above(c.x - sx, top, w, h));
    push(above(c.x + sx, top, w, h));
    const mid = c.y - c.height * 0.6 - h / 2;
    push({ x: c.x + 14, y: mid, w, h });
    push({ x: c.x - 14 - w, y: mid, w, h });
    for (const dy of [h + 4, 2 * (h + 4)]) {
      push(above(c.x, top - dy, w, h));
      push(above(c.x - sx, top - dy, w, h));
      push(above(c.x + sx, top - dy, w, h));
      if (dy === h + 4) push(below(c.x, c.y + c.label.height + 8, w, h));
    }
    for (const dy of [0, h + 4]) {
      push(above(c.x - w - 4, top - dy, w, h));
      push(above(c.x + w + 4, top - dy, w, h));
    }
    return cands;
  };
  const fold = (c: Character) => {
    c.placeBubble(null, now);
    const f = out.folded.get(c.place);
    if (f) {
      f.x = (f.x * f.count + c.x) / (f.count + 1);
      f.y = Math.min(f.y, c.y - c.height);
      f.count++;
    } else out.folded.set(c.place, { count: 1, x: c.x, y: c.y - c.height });
  };

  {
    // 1. Someone waits for the user: that bubble first.
    for (const c of bubbles) if (c.bubbleKind === "wait") bubble(c);
    // 2. Tool tags (and "permission?" / "input?"); those showing already keep theirs first.
    for (const c of keepers(order, (x) => x.tag.visible)) {
      if (!c.tagShown || grouped.has(c.agent.id)) {
        c.placeTag(null, now);
        continue;
      }
      if (rests(c.tagHiddenAt, now)) {
        c.placeTag(null, now);
        continue;
      }
      const w = c.tag.width;
      const h = c.tag.height;
      const head = c.y - c.height - 2;
      const cands: Box[] = [above(c.x, head, w, h)];
      if (c.tagAt) cands.push(above(c.x + c.tagAt.x, c.y + c.tagAt.y, w, h));
      cands.push(
        above(c.x - w / 2 - 6, head + 4, w, h),
        above(c.x + w / 2 + 6, head + 4, w, h),
        above(c.x, head - h - 1, w, h),
        { x: c.x + 11, y: head + 4, w, h },
        { x: c.x - 11 - w, y: head + 4, w, h },
      );
      const i = placer.place(cands);
      c.placeTag(i < 0 ? null : { x: cands[i].x + w / 2, y: cands[i].y + h }, now);
    }
    // 3. Names: the full one, else the short one, under the feet or a little aside; those
    // showing already first.
    for (const c of keepers(order, (x) => x.label.visible)) {
      if (rests(c.labelHiddenAt, now)) {
        c.placeLabel(null, now);
        continue;
      }
      const wantShort = crowded.has(c.agent.id);
      const tryForm = (short: boolean): Pt | null => {
        const { w, h } = c.nameSizeFor(short);
        const top = c.y + 2;
        const cands: Box[] = [below(c.x, top, w, h)];
        if (c.labelAt && short === c.shortSince >= 0) cands.push(below(c.x + c.labelAt.x, c.y + c.labelAt.y, w, h));
        cands.push(
          below(c.x, top + h - 2, w, h),
          below(c.x - w / 2 + 4, top + 2, w, h),
          below(c.x + w / 2 - 4, top + 2, w, h),
          below(c.x - w / 2 - 8, top - 8, w, h),
          below(c.x + w / 2 + 8, top - 8, w, h),
          below(c.x, top + 2 * h - 4, w, h),
          below(c.x - w / 2 - 10, top - h - 6, w, h),
          below(c.x + w / 2 + 10, top - h - 6, w, h),
        );
        const i = placer.place(cands);
        return i < 0 ? null : { x: cands[i].x + w / 2, y: cands[i].y };
      };
      const shortNow = c.shortSince >= 0;
      let at: Pt | null = null;
      let short = wantShort;
      if (!wantShort && shortNow && now - c.shortSince < SHORT_MS) short = true;
      at = tryForm(short);
      if (!at && !short) {
        short = true;
        at = tryForm(true);
      }
      if (at) c.setShort(short, now);
      c.placeLabel(at, now);
    }
    // 4. The other bubbles: by kind, newest first.
    for (const c of bubbles) if (!placed.has(c)) bubble(c);
    for (const c of shown) if (!c.bubbleLive(now) && c.bubbleShown) c.placeBubble(null, now);
  }
  return out;
}
