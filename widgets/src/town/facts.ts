// The town's facts, from the one file the Python package owns (ccviz_kernel/engine/town.json,
// docs/design.md §5): world size, home and waiting places, the default places, effect kinds and replay
// speeds. Nothing else in the views may spell them out again.
//
// Only the keys named here are imported: esbuild drops the other top-level keys of a JSON
// module from the bundle, so the tool → place `rules` never reach the browser. The server
// decides where an agent goes; a view only draws `agent.place`.
import { effects, home, permissions, places, replay, waiting, world } from "../../../ccviz_kernel/engine/town.json";
import type { Place } from "../types";

/** The world the views draw, in world units (the places' x/y are in it). */
export const WORLD_W: number = world.width;
export const WORLD_H: number = world.height;

/** Where agents stand when they have nothing to do (the plaza with the fountain). */
export const HOME: string = home;
/** Where an agent waits for the user (permission, a question). */
export const WAITING: string = waiting;

/** Shown until the first snapshot arrives (then the snapshot's own places are drawn). */
export const DEFAULT_PLACES: Readonly<Record<string, Place>> = Object.freeze(
  Object.fromEntries(Object.entries(places).map(([id, p]) => [id, { id, ...p }])),
);

/** The `kind`s a visualization event can have. A JSON import widens its strings, so the type
 * is a plain string: test/facts.test.mjs checks the kinds the views handle against this list. */
export const EFFECT_KINDS: readonly string[] = Object.freeze([...effects]);
export type EffectKind = (typeof effects)[number];

/** The replay speeds the controls offer, and the range the server accepts. */
export const SPEEDS: readonly number[] = Object.freeze([...replay.speeds]);
export const MIN_SPEED: number = replay.minSpeed;
export const MAX_SPEED: number = replay.maxSpeed;

/** The longest message a person sends with an answer (a deny's reason): the server refuses
 * longer ones, so the inputs stop there. */
export const MAX_MESSAGE: number = permissions.maxMessage;
