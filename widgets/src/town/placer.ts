// Laying out the town's texts so that none covers another: fixed boxes first (HUD, ticker,
// quest board, building signs), then each label, tag and bubble takes the first of its
// candidate boxes that is free. Pure (no Phaser), so node tests can drive it.

/** A box in world units: top left corner and size. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** How much two boxes overlap along each axis (≤ 0: they do not). */
export function overlap(a: Box, b: Box): { x: number; y: number } {
  return {
    x: Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x),
    y: Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y),
  };
}

export function intersects(a: Box, b: Box, slack = 0): boolean {
  const o = overlap(a, b);
  return o.x > slack && o.y > slack;
}

const CELL = 64;

/** The boxes taken so far, in a coarse grid so that a test looks at few of them. */
export class Placer {
  private cells = new Map<number, Box[]>();
  private all: Box[] = [];

  constructor(
    /** Texts stay inside this box (the world, less a margin). */
    readonly bounds: Box,
    /** Space kept between two texts. */
    readonly gap = 1,
  ) {}

  get boxes(): readonly Box[] {
    return this.all;
  }

  clear(): void {
    this.cells.clear();
    this.all.length = 0;
  }

  private keys(b: Box, f: (key: number) => void): void {
    const x0 = Math.floor(b.x / CELL);
    const x1 = Math.floor((b.x + b.w) / CELL);
    const y0 = Math.floor(b.y / CELL);
    const y1 = Math.floor((b.y + b.h) / CELL);
    for (let cy = y0; cy <= y1; cy++) for (let cx = x0; cx <= x1; cx++) f(cy * 4096 + cx);
  }

  /** Take a box whatever is there (the fixed texts and panels). */
  add(b: Box): void {
    const box = { x: b.x, y: b.y, w: b.w, h: b.h };
    this.all.push(box);
    this.keys(box, (k) => {
      const list = this.cells.get(k);
      if (list) list.push(box);
      else this.cells.set(k, [box]);
    });
  }

  /** Inside the bounds and clear of every box taken (by `gap`). */
  free(b: Box): boolean {
    const o = this.bounds;
    if (b.x < o.x || b.y < o.y || b.x + b.w > o.x + o.w || b.y + b.h > o.y + o.h) return false;
    const g = this.gap;
    const padded = { x: b.x - g, y: b.y - g, w: b.w + 2 * g, h: b.h + 2 * g };
    let clear = true;
    this.keys(padded, (k) => {
      if (!clear) return;
      const list = this.cells.get(k);
      if (list) for (const other of list) if (intersects(padded, other)) return void (clear = false);
    });
    return clear;
  }

  /** Take the first free candidate; its index, or -1 when none is free (nothing taken). */
  place(candidates: readonly Box[]): number {
    for (let i = 0; i < candidates.length; i++)
      if (this.free(candidates[i])) {
        this.add(candidates[i]);
        return i;
      }
    return -1;
  }
}

/** Every pair of boxes that overlap by more than `slack` along both axes (for tests). */
export function overlaps<T extends Box>(boxes: readonly T[], slack = 2): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) if (intersects(boxes[i], boxes[j], slack)) out.push([boxes[i], boxes[j]]);
  return out;
}

/** A box of `w`×`h` whose bottom middle is at (cx, bottom). */
export function above(cx: number, bottom: number, w: number, h: number): Box {
  return { x: cx - w / 2, y: bottom - h, w, h };
}

/** A box of `w`×`h` whose top middle is at (cx, top). */
export function below(cx: number, top: number, w: number, h: number): Box {
  return { x: cx - w / 2, y: top, w, h };
}

/** Slide a box inside `b` (when it fits). */
export function clampInto(box: Box, b: Box): Box {
  const x = Math.min(Math.max(box.x, b.x), b.x + b.w - box.w);
  const y = Math.min(Math.max(box.y, b.y), b.y + b.h - box.h);
  return x === box.x && y === box.y ? box : { x, y, w: box.w, h: box.h };
}
