// The JS delta twin against hand-written cases and, when CCVIZ_DELTA_CASES names a JSON file
// of [{before, deltas, after}] recorded from the Python engine, against those too.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { load } from "./support/load.mjs";

const { applyInPlace, applyDeltas } = await load("src/deltas.ts");

const HAND = [
  { name: "set top-level", before: { seq: 1 }, deltas: [["set", ["seq"], 2]], after: { seq: 2 } },
  {
    name: "set nested new key",
    before: { agents: {} },
    deltas: [["set", ["agents", "main"], { id: "main", tool: null }]],
    after: { agents: { main: { id: "main", tool: null } } },
  },
  {
    name: "merge keeps other keys",
    before: { agents: { a: { state: "idle", place: "square", calls: 0 } } },
    deltas: [["merge", ["agents", "a"], { state: "working", place: "library", tool: { name: "Read" } }]],
    after: { agents: { a: { state: "working", place: "library", calls: 0, tool: { name: "Read" } } } },
  },
  {
    name: "inc existing and missing",
    before: { stats: { toolCalls: { Read: 2 } } },
    deltas: [
      ["inc", ["stats", "toolCalls", "Read"], 1],
      ["inc", ["stats", "toolCalls", "Bash"], 3],
    ],
    after: { stats: { toolCalls: { Read: 3, Bash: 3 } } },
  },
  {
    name: "del present and absent",
    before: { rules: { tools: { Foo: "library" } } },
    deltas: [
      ["del", ["rules", "tools", "Foo"]],
      ["del", ["rules", "tools", "Nope"]],
    ],
    after: { rules: { tools: {} } },
  },
  {
    name: "set into a list index",
    before: { todos: [{ content: "a", status: "pending" }] },
    deltas: [["set", ["todos", 0, "status"], "completed"]],
    after: { todos: [{ content: "a", status: "completed" }] },
  },
  {
    name: "set null",
    before: { agents: { main: { tool: { name: "Bash" } } } },
    deltas: [["merge", ["agents", "main"], { tool: null, overlay: null }]],
    after: { agents: { main: { tool: null, overlay: null } } },
  },
  {
    name: "order matters",
    before: { a: 0 },
    deltas: [
      ["set", ["a"], 5],
      ["inc", ["a"], 2],
      ["set", ["b"], { c: 1 }],
      ["inc", ["b", "c"], 1],
    ],
    after: { a: 7, b: { c: 2 } },
  },
];

test("hand-written cases", () => {
  for (const c of HAND) {
    const state = structuredClone(c.before);
    applyInPlace(state, c.deltas);
    assert.deepEqual(state, c.after, c.name);
  }
});

test("values are copied in, never shared", () => {
  const value = { name: "Read", nested: { a: 1 } };
  const state = { agents: { main: { tool: null } } };
  applyInPlace(state, [["merge", ["agents", "main"], { tool: value }]]);
  value.nested.a = 99;
  assert.equal(state.agents.main.tool.nested.a, 1);
  const list = [1, 2];
  applyInPlace(state, [["set", ["todos"], list]]);
  list.push(3);
  assert.deepEqual(state.todos, [1, 2]);
});

test("applyDeltas leaves its input alone", () => {
  const before = { seq: 1, stats: { prompts: 0 } };
  const after = applyDeltas(before, [["inc", ["stats", "prompts"], 1]]);
  assert.deepEqual(before, { seq: 1, stats: { prompts: 0 } });
  assert.equal(after.stats.prompts, 1);
});

test("unknown op is an error", () => {
  assert.throws(() => applyInPlace({ a: 1 }, [["push", ["a"], 1]]), /unknown delta op/);
});

const file = process.env.CCVIZ_DELTA_CASES;
test("recorded cases from the Python engine", { skip: !file && "CCVIZ_DELTA_CASES not set" }, () => {
  const cases = JSON.parse(readFileSync(file, "utf8"));
  assert.ok(Array.isArray(cases) && cases.length > 0, "the cases file holds a non-empty array");
  cases.forEach((c, i) => {
    const state = structuredClone(c.before);
    applyInPlace(state, c.deltas);
    assert.deepEqual(state, c.after, `case ${i}`);
  });
});
