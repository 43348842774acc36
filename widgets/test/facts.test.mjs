// The town's facts reach the views from ccviz_kernel/engine/town.json alone: src/town/facts.ts
// hands them on unchanged, the effect kinds the views handle are kinds the server sends, and
// the bundles carry no tool → place rules (the server decides where agents go).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { load } from "./support/load.mjs";

const widgets = join(dirname(fileURLToPath(import.meta.url)), "..");
const town = JSON.parse(readFileSync(join(widgets, "..", "ccviz_kernel", "engine", "town.json"), "utf8"));
const F = await load("src/town/facts.ts");
const { BUBBLES } = await load("src/town/art.ts");

test("facts.ts hands on town.json unchanged", () => {
  assert.equal(F.WORLD_W, town.world.width);
  assert.equal(F.WORLD_H, town.world.height);
  assert.equal(F.HOME, town.home);
  assert.equal(F.WAITING, town.waiting);
  assert.deepEqual(
    F.DEFAULT_PLACES,
    Object.fromEntries(Object.entries(town.places).map(([id, p]) => [id, { id, ...p }])),
  );
  assert.deepEqual(F.EFFECT_KINDS, town.effects);
  assert.deepEqual(F.SPEEDS, town.replay.speeds);
  assert.equal(F.MIN_SPEED, town.replay.minSpeed);
  assert.equal(F.MAX_SPEED, town.replay.maxSpeed);
});

test("the facts fit together", () => {
  assert.ok(F.DEFAULT_PLACES[F.HOME], "home is a place");
  assert.ok(F.DEFAULT_PLACES[F.WAITING], "the waiting place is a place");
  for (const p of Object.values(F.DEFAULT_PLACES)) {
    assert.ok(p.x >= 0 && p.x <= F.WORLD_W && p.y >= 0 && p.y <= F.WORLD_H, `${p.id} inside the world`);
    assert.ok(typeof p.label === "string" && p.label, `${p.id} has a label`);
  }
  assert.deepEqual([...F.SPEEDS].sort((a, b) => a - b), [...F.SPEEDS], "speeds ascend");
  assert.ok(F.SPEEDS.includes(1), "normal speed is offered");
  for (const s of F.SPEEDS) assert.ok(s >= F.MIN_SPEED && s <= F.MAX_SPEED, `speed ${s} is accepted`);
  assert.ok(F.EFFECT_KINDS.includes("replay"), "replay status travels as an effect");
});

test("the effect kinds the views handle are kinds the server sends", () => {
  for (const kind of Object.keys(BUBBLES)) assert.ok(F.EFFECT_KINDS.includes(kind), `bubble ${kind}`);
  // The views compare `e.kind` / `effect.kind` to literals and switch over it in hud.ts.
  const named = new Set();
  for (const file of ["src/view.ts", "src/town/scene.ts", "src/town/hud.ts"]) {
    const text = readFileSync(join(widgets, file), "utf8");
    for (const m of text.matchAll(/\b(?:e|effect)\.kind [!=]== "(\w+)"/g)) named.add(m[1]);
    if (file.endsWith("hud.ts")) for (const m of text.matchAll(/case "(\w+)":/g)) named.add(m[1]);
  }
  assert.ok(named.size >= 5, `found the kinds the views name: ${[...named]}`);
  for (const kind of named) assert.ok(F.EFFECT_KINDS.includes(kind), `the views name effect kind ${kind}`);
});

test("no second copy of the facts in src/", () => {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(join(widgets, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${dir}/${e.name}`);
      else if (e.name.endsWith(".ts") && `${dir}/${e.name}` !== "src/town/facts.ts") files.push(`${dir}/${e.name}`);
    }
  };
  walk("src");
  const labels = Object.values(town.places).map((p) => p.label);
  for (const file of files) {
    const text = readFileSync(join(widgets, file), "utf8");
    for (const label of labels) assert.ok(!text.includes(`"${label}"`), `${file} spells out the place "${label}"`);
    assert.doesNotMatch(text, /\b(?:WORLD_W|WORLD_H|HOME|WAITING|SPEEDS)\s*=/, `${file} defines a town fact`);
  }
});

test("the bundles carry no tool → place rules", async () => {
  const { options } = await import("../build.mjs");
  const result = await esbuild.build({ ...options, write: false, minify: true, logLevel: "error" });
  const bundles = result.outputFiles.filter((f) => f.path.endsWith(".js"));
  assert.equal(bundles.length, 2);
  for (const f of bundles) {
    for (const label of Object.values(town.places).map((p) => p.label)) assert.ok(f.text.includes(label), `${f.path}: ${label}`);
    for (const tool of ["AskUserQuestion", "TodoWrite", "WebSearch"]) assert.ok(!f.text.includes(tool), `${f.path} holds ${tool}`);
  }
});
