// Spots and routes: deterministic, distinct, inside the world.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./support/load.mjs";

const L = await load("src/town/layout.ts");
const { DEFAULT_PLACES, HOME, WORLD_W, WORLD_H } = await load("src/town/facts.ts");

// The town's own places (town.json), plus two MCP booths at the embassy.
const PLACES = structuredClone(DEFAULT_PLACES);
PLACES.embassy.booths = ["github", "linear"];

function agents(n, place = "library") {
  const out = { main: { id: "main", kind: "main", type: "main", name: "Claude", parent: null, state: "working", place, tool: null } };
  for (let i = 0; i < n; i++)
    out[`s${i}`] = { id: `s${i}`, kind: "subagent", type: "Explore", name: `Explore #${i}`, parent: i % 3 ? "s0" : "main", state: "working", place, tool: null };
  return out;
}

test("every present agent gets a distinct spot inside the world", () => {
  for (const place of Object.keys(PLACES)) {
    const spots = L.assignSpots(agents(19, place), PLACES);
    assert.equal(spots.size, 20);
    const keys = new Set([...spots.values()].map((s) => `${Math.round(s.x)},${Math.round(s.y)}`));
    assert.equal(keys.size, 20, `distinct at ${place}`);
    for (const s of spots.values()) {
      assert.ok(s.x >= 0 && s.x <= WORLD_W && s.y >= 0 && s.y <= WORLD_H, `${place}: ${s.x},${s.y}`);
      assert.equal(s.place, place);
    }
  }
});

test("spots are deterministic and children stand by their parent", () => {
  const a = agents(4);
  const one = L.assignSpots(a, PLACES);
  const two = L.assignSpots(structuredClone(a), PLACES);
  assert.deepEqual([...one], [...two]);
  const order = L.familyOrder(a).map((x) => x.id);
  assert.deepEqual(order, ["main", "s0", "s1", "s2", "s3"]);
  const b = agents(5);
  assert.deepEqual(L.familyOrder(b).map((x) => x.id), ["main", "s0", "s1", "s2", "s4", "s3"]);
});

test("left agents get no spot; MCP calls stand at their booth", () => {
  const a = agents(2, "embassy");
  a.s1.state = "left";
  a.main.tool = { name: "mcp__linear__list", booth: "linear" };
  const spots = L.assignSpots(a, PLACES);
  assert.equal(spots.has("s1"), false);
  assert.equal(spots.get("main").booth, "linear");
  assert.equal(spots.get("s0").booth, null);
  const booth = L.boothPoint(PLACES.embassy, 1);
  assert.ok(Math.abs(spots.get("main").x - booth.x) < 30 && Math.abs(spots.get("main").y - booth.y) < 30);
});

test("routes go by the plaza and end on the spot", () => {
  const { library, workshop } = PLACES;
  const spot = { x: workshop.x, y: workshop.y + 16 };
  const r = L.route({ x: library.x, y: library.y + 18 }, "library", "workshop", spot, PLACES);
  assert.deepEqual(r.points.at(-1), spot);
  assert.ok(r.ringIn >= 0 && r.ringOut >= r.ringIn);
  const c = L.plazaCentre(PLACES);
  const onRing = (p) => Math.abs(Math.hypot(p.x - c.x, p.y - c.y) - L.RING_R) < 0.01;
  assert.ok(onRing(r.points[r.ringIn]) && onRing(r.points[r.ringOut]));
  const same = L.route({ x: library.x, y: library.y + 18 }, "library", "library", { x: library.x + 25, y: library.y + 18 }, PLACES);
  assert.equal(same.points.length, 1);
});

test("the plaza is the home place; agents at an unknown place stand there", () => {
  assert.deepEqual(L.plazaCentre(PLACES), { x: PLACES[HOME].x, y: PLACES[HOME].y });
  const a = agents(0);
  a.main.place = "nowhere";
  assert.equal(L.assignSpots(a, PLACES).get("main").place, HOME);
});
