// Readable crowds: the text placer, the spots a crowd stands on, text sizes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./support/load.mjs";

const P = await load("src/town/placer.ts");
const L = await load("src/town/layout.ts");
const T = await load("src/town/text.ts");
const { DEFAULT_PLACES, HOME, WORLD_W, WORLD_H } = await load("src/town/facts.ts");

const PLACES = structuredClone(DEFAULT_PLACES);
PLACES.embassy.booths = ["github", "linear", "playwright"];

test("the placer takes the first free candidate and never overlaps", () => {
  const placer = new P.Placer({ x: 0, y: 0, w: 200, h: 100 }, 1);
  placer.add({ x: 0, y: 0, w: 50, h: 20 });
  assert.equal(placer.place([{ x: 10, y: 5, w: 30, h: 10 }, { x: 60, y: 5, w: 30, h: 10 }]), 1);
  assert.equal(placer.place([{ x: 190, y: 5, w: 30, h: 10 }]), -1, "outside the bounds");
  assert.equal(placer.place([{ x: 90.5, y: 5, w: 30, h: 10 }]), -1, "closer than the gap");
  assert.equal(placer.place([{ x: 91, y: 5, w: 30, h: 10 }]), 0);
  // Many random boxes: whatever was placed is pairwise clear.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const big = new P.Placer({ x: 0, y: 0, w: 800, h: 500 }, 1);
  for (let i = 0; i < 400; i++) {
    const w = 10 + rnd() * 120;
    const h = 10 + rnd() * 40;
    const x = rnd() * 700;
    const y = rnd() * 450;
    big.place([{ x, y, w, h }, { x: x + 30, y: y - 20, w, h }, { x, y: y + 30, w, h }]);
  }
  assert.ok(big.boxes.length > 40);
  assert.deepEqual(P.overlaps(big.boxes, 0), []);
});

test("overlaps reports boxes covering each other by more than the slack", () => {
  const a = { x: 0, y: 0, w: 10, h: 10 };
  assert.equal(P.overlaps([a, { x: 8, y: 0, w: 10, h: 10 }], 2).length, 0);
  assert.equal(P.overlaps([a, { x: 7, y: 7, w: 10, h: 10 }], 2).length, 1);
});

function crowd(n, place, tool = null) {
  const out = { main: { id: "main", kind: "main", type: "main", name: "Claude", parent: null, state: "working", place, tool } };
  for (let i = 0; i < n; i++)
    out[`s${i}`] = { id: `s${i}`, kind: "subagent", type: "Explore", name: `Explore #${i + 1}`, parent: i >= 16 ? `s${i % 2}` : "main", state: "working", place, tool };
  return out;
}

function insideBuilding(p) {
  for (const b of Object.values(PLACES)) {
    if (b.id === HOME) continue;
    const { w, h } = L.buildingBox(b);
    if (Math.abs(p.x - b.x) < w / 2 && p.y > b.y - h && p.y < b.y) return b.id;
  }
  return null;
}

test("20 subagents and the main agent stand apart at every place, outside the buildings", () => {
  const keys = [...Object.keys(PLACES), ...PLACES.embassy.booths.map((b) => `embassy#${b}`)];
  for (const key of keys) {
    const [place, booth] = key.split("#");
    const tool = booth ? { name: `mcp__${booth}__x`, booth } : null;
    const spots = [...L.assignSpots(crowd(20, place, tool), PLACES).values()];
    assert.equal(spots.length, 21);
    for (const s of spots) {
      assert.equal(s.place, place);
      assert.ok(s.x >= 10 && s.x <= WORLD_W - 10 && s.y >= L.HUD_H && s.y <= WORLD_H - 10, `${key}: ${s.x},${s.y}`);
      assert.equal(insideBuilding(s), null, `${key}: ${s.x},${s.y} is inside a building`);
    }
    for (let i = 0; i < spots.length; i++)
      for (let j = i + 1; j < spots.length; j++) {
        const d = Math.hypot(spots[i].x - spots[j].x, spots[i].y - spots[j].y);
        assert.ok(d >= L.SPOT_ROW - 0.5, `${key}: spots ${i} and ${j} are ${d.toFixed(1)} apart`);
      }
  }
});

test("a crowd's spots are deterministic and the nearest ones are its own place's", () => {
  const one = L.groupSpots(PLACES, "guildhall");
  const two = L.groupSpots(structuredClone(PLACES), "guildhall");
  assert.deepEqual(one, two);
  const g = PLACES.guildhall;
  const first = one.slice(0, 6);
  for (const p of first) assert.ok(Math.hypot(p.x - g.x, p.y - g.y) < 110, `${p.x},${p.y} near the guild hall`);
});

test("walking to a spot beside or behind a building goes round it", () => {
  for (const place of ["library", "guildhall", "observatory", "helpdesk", "embassy"]) {
    const b = PLACES[place];
    const { w, h } = L.buildingBox(b);
    const spots = L.groupSpots(PLACES, place).filter((p) => p.y < b.y);
    for (const spot of spots.slice(0, 6)) {
      const r = L.route({ x: PLACES.square.x, y: PLACES.square.y + 40 }, HOME, place, spot, PLACES);
      assert.deepEqual(r.points.at(-1), spot);
      let prev = { x: PLACES.square.x, y: PLACES.square.y + 40 };
      for (const q of r.points) {
        for (let t = 0; t <= 1; t += 0.05) {
          const x = prev.x + (q.x - prev.x) * t;
          const y = prev.y + (q.y - prev.y) * t;
          const inWalls = Math.abs(x - b.x) < w / 2 - 3 && y > b.y - h + 3 && y < b.y - 3;
          assert.ok(!inWalls, `${place}: the walk to ${spot.x},${spot.y} crosses the building at ${x.toFixed(0)},${y.toFixed(0)}`);
        }
        prev = q;
      }
    }
  }
});

test("texts stay at least 11 CSS pixels tall in a smaller view", () => {
  assert.equal(T.MIN_TEXT_PX, 11);
  for (const size of Object.values(T.SIZE)) assert.ok(size >= T.MIN_TEXT_PX);
  assert.equal(T.textScale(1), 1);
  assert.equal(T.textScale(1.6), 1);
  assert.ok(Math.abs(T.textScale(0.84) * 0.84 - 1) < 1e-9);
  assert.equal(T.textScale(0.3), T.MAX_TEXT_SCALE);
  assert.equal(T.px(11, 1.2), "13.2px");
});
