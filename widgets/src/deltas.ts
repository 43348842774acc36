// The JS twin of ccviz_kernel/deltas.py `apply_in_place`: one delta is [op, path, value?],
// op one of set | merge | inc | del, path a list of keys into the snapshot. Values are copied
// in, never shared. Tested against the Python side (test/deltas.test.mjs).

export type Delta = [op: string, path: (string | number)[], value?: unknown];

const copy = <T>(v: T): T => (v !== null && typeof v === "object" ? structuredClone(v) : v);

export function applyInPlace(state: any, deltas: readonly Delta[]): void {
  for (const delta of deltas) {
    const [op, path] = delta;
    let target = state;
    for (let i = 0; i < path.length - 1; i++) target = target[path[i]];
    const last = path[path.length - 1];
    if (op === "set") target[last] = copy(delta[2]);
    else if (op === "merge") Object.assign(target[last], copy(delta[2] as object));
    else if (op === "inc") target[last] = (target[last] ?? 0) + (delta[2] as number);
    else if (op === "del") delete target[last];
    else throw new Error(`unknown delta op ${JSON.stringify(op)}`);
  }
}

/** The state after `deltas`; the one passed in is left as it was. */
export function applyDeltas<T>(state: T, deltas: readonly Delta[]): T {
  const next = structuredClone(state);
  applyInPlace(next, deltas);
  return next;
}
