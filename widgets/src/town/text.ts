// Text sizes. Every text of the town (names, tags, bubbles, HUD, ticker, quest board, signs) is
// at least MIN_TEXT_PX CSS pixels tall on screen at the world's own size (800×500) and in the
// widget: sizes are in world units at one CSS pixel per unit, and a view drawn smaller than
// that scales its texts up (by `textScale`) so that they stay readable.

export const MIN_TEXT_PX = 11;

/** Font sizes in world units at text scale 1 (all ≥ MIN_TEXT_PX). */
export const SIZE = {
  name: 11,
  mainName: 12,
  tag: 11,
  bubble: 11,
  prompt: 13,
  hud: 11,
  elapsed: 12,
  ticker: 11,
  board: 11,
  sign: 11,
  chip: 11,
} as const;

/** The most texts grow to keep their size in a small view (beyond it they shrink with it). */
export const MAX_TEXT_SCALE = 1.5;

/** How much to grow texts when one world unit is `cssPerUnit` CSS pixels. */
export function textScale(cssPerUnit: number): number {
  if (!(cssPerUnit > 0)) return 1;
  return Math.min(MAX_TEXT_SCALE, Math.max(1, 1 / cssPerUnit));
}

/** `size` world units at text scale `s`, as a CSS font size (rounded to 1/100 of a unit). */
export function px(size: number, s: number): string {
  return `${Math.round(size * s * 100) / 100}px`;
}
