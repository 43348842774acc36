#!/usr/bin/env node
// Feed a running ccviz server with hook events, for developing and screenshotting the views.
//
//   node dev/feed.mjs sample <file.hooks.jsonl> [--speed 20] [--fresh] [--stop-at N]
//       replay a hook log (its `timestamp` fields set the pace, divided by --speed);
//       --fresh gives it a new session id so each run is a new game
//   node dev/feed.mjs busy [--agents 20] [--rate 30] [--seconds 20] [--session ID]
//       a synthetic session: a main agent and agents-1 subagents calling tools at `rate`
//       events per second in total (the performance scenario)
//   node dev/feed.mjs scene [--session ID]
//       a fixed tableau for screenshots: every place busy, a wait, a failure, compaction,
//       MCP booths, todos
//
// Server: $CCVIZ_URL (default http://127.0.0.1:8780); token: --token, $CCVIZ_TOKEN, or the file
// $CCVIZ_HOME/token. Prints the game id on the last line.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomUUID } from "node:crypto";

const argv = process.argv.slice(2);
const mode = argv[0];
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const flag = (name) => argv.includes(`--${name}`);
const url = (process.env.CCVIZ_URL || "http://127.0.0.1:8780").replace(/\/$/, "");
const token =
  opt("token") ||
  process.env.CCVIZ_TOKEN ||
  readFileSync(join(process.env.CCVIZ_HOME || "/tmp/fe-home", "token"), "utf8").trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let posted = 0;
async function post(payload) {
  const res = await fetch(`${url}/api/hooks`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  posted++;
  if (res.status >= 300) console.error(`POST ${res.status}: ${await res.text()}`);
}

async function sample(file) {
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const speed = Number(opt("speed", "20"));
  const stopAt = Number(opt("stop-at", String(lines.length)));
  const session = flag("fresh") ? randomUUID() : opt("session", null);
  let prev = null;
  for (const line of lines.slice(0, stopAt)) {
    const t = line.timestamp ? Date.parse(line.timestamp) : null;
    if (prev !== null && t !== null) await sleep(Math.min(3000, Math.max(0, (t - prev) / speed)));
    if (t !== null) prev = t;
    if (session) line.session_id = session;
    await post(line);
  }
  return session || lines[0].session_id;
}

const TOOLS = [
  ["Read", () => ({ file_path: `/home/dev/pixel-quest/src/${pick(FILES)}` })],
  ["Grep", () => ({ pattern: pick(["jumpSound", "TODO", "fireLaser", "collide\\("]) })],
  ["Glob", () => ({ pattern: "src/**/*.ts" })],
  ["Edit", () => ({ file_path: `/home/dev/pixel-quest/src/${pick(FILES)}`, old_string: "a", new_string: "b" })],
  ["Write", () => ({ file_path: `/home/dev/pixel-quest/src/${pick(FILES)}`, content: "…" })],
  ["Bash", () => ({ command: pick(["npm test", "git status", "npx tsc --noEmit", "ls src"]) })],
  ["WebSearch", () => ({ query: "phaser tween along path" })],
  ["WebFetch", () => ({ url: "https://example.org/docs" })],
  ["TodoWrite", () => ({ todos: TODOS })],
  ["mcp__github__search_issues", () => ({ q: "jump sound" })],
  ["mcp__linear__list_issues", () => ({})],
];
const FILES = ["player.ts", "audio.ts", "level.ts", "boss.ts", "input.ts", "hud.ts"];
const TODOS = [
  { content: "Find where the player jumps", status: "completed", activeForm: "Finding" },
  { content: "Add a jump sound asset loader", status: "completed", activeForm: "Adding" },
  { content: "Play the sound on jump", status: "in_progress", activeForm: "Playing" },
  { content: "Write a test for the jump sound", status: "pending", activeForm: "Writing" },
  { content: "Run the whole test suite", status: "pending", activeForm: "Running" },
  { content: "Update the changelog", status: "pending", activeForm: "Updating" },
];
const TYPES = ["Explore", "Plan", "general-purpose", "code-reviewer"];
let rng = 12345;
const rand = () => ((rng = (rng * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = (list) => list[Math.floor(rand() * list.length)];

function base(session, extra = {}) {
  return { session_id: session, cwd: "/home/dev/pixel-quest", transcript_path: "/tmp/x.jsonl", ...extra };
}
const agentFields = (a) => (a ? { agent_id: a.id, agent_type: a.type } : {});

async function busy() {
  const session = opt("session", randomUUID());
  const n = Number(opt("agents", "20"));
  const rate = Number(opt("rate", "30"));
  const seconds = Number(opt("seconds", "20"));
  await post(base(session, { hook_event_name: "SessionStart", source: "startup", model: "claude-opus-4-1" }));
  await post(base(session, { hook_event_name: "UserPromptSubmit", prompt: "Make the whole game 20% more fun, with tests." }));
  const subs = [];
  for (let i = 0; i < n - 1; i++) {
    const type = TYPES[i % TYPES.length];
    const use = `toolu_spawn_${i}`;
    await post(base(session, { hook_event_name: "PreToolUse", tool_name: "Agent", tool_use_id: use, tool_input: { description: `Helper ${i}`, prompt: "help", subagent_type: type } }));
    const a = { id: `a${String(i).padStart(3, "0")}${session.slice(0, 6)}`, type };
    await post(base(session, { hook_event_name: "SubagentStart", ...agentFields(a) }));
    subs.push(a);
  }
  const everyone = [null, ...subs];
  const open = new Map();
  const end = Date.now() + seconds * 1000;
  const interval = 1000 / rate;
  let next = Date.now();
  let i = 0;
  while (Date.now() < end) {
    const who = everyone[i++ % everyone.length];
    const key = who ? who.id : "main";
    const prev = open.get(key);
    if (prev) {
      open.delete(key);
      const fail = rand() < 0.05;
      await post(base(session, {
        hook_event_name: fail ? "PostToolUseFailure" : "PostToolUse",
        tool_name: prev.tool, tool_use_id: prev.use, tool_input: {}, ...agentFields(who),
        ...(fail ? { error: "Exit code 1\nFAIL tests/player.test.ts" } : { tool_response: {} }),
      }));
    } else {
      const [tool, input] = pick(TOOLS);
      const use = `toolu_${randomUUID().slice(0, 12)}`;
      open.set(key, { tool, use });
      await post(base(session, { hook_event_name: "PreToolUse", tool_name: tool, tool_use_id: use, tool_input: input(), ...agentFields(who) }));
    }
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  return session;
}

async function scene() {
  const s = opt("session", randomUUID());
  const P = (fields) => post(base(s, fields));
  await P({ hook_event_name: "SessionStart", source: "startup", model: "claude-sonnet-4-5" });
  await P({ hook_event_name: "UserPromptSubmit", prompt: "Add a jump sound to the player and make sure the tests still pass." });
  await P({ hook_event_name: "PreToolUse", tool_name: "TodoWrite", tool_use_id: "t-todo", tool_input: { todos: TODOS } });
  await P({ hook_event_name: "PostToolUse", tool_name: "TodoWrite", tool_use_id: "t-todo", tool_input: { todos: TODOS }, tool_response: {} });
  const spawn = async (i, type) => {
    await P({ hook_event_name: "PreToolUse", tool_name: "Agent", tool_use_id: `t-spawn-${i}`, tool_input: { description: "help", prompt: "help", subagent_type: type } });
    const a = { id: `agent${i}${s.slice(0, 4)}`, type };
    await P({ hook_event_name: "SubagentStart", ...agentFields(a) });
    return a;
  };
  const explore = await spawn(1, "Explore");
  const plan = await spawn(2, "Plan");
  const gp = await spawn(3, "general-purpose");
  const rev = await spawn(4, "code-reviewer");
  const explore2 = await spawn(5, "Explore");
  await sleep(1500);
  const call = (a, tool, input, use) =>
    P({ hook_event_name: "PreToolUse", tool_name: tool, tool_use_id: use, tool_input: input, ...agentFields(a) });
  await call(explore, "Grep", { pattern: "jumpSound" }, "t-g1");
  await call(explore2, "Read", { file_path: "/home/dev/pixel-quest/src/player.ts" }, "t-r1");
  await call(plan, "WebSearch", { query: "web audio api short sound effects" }, "t-w1");
  await call(gp, "Bash", { command: "npm test -- player" }, "t-b1");
  await call(rev, "mcp__github__search_issues", { q: "jump sound" }, "t-m1");
  await sleep(2500);
  await P({ hook_event_name: "PostToolUseFailure", tool_name: "Bash", tool_use_id: "t-b1", tool_input: {}, error: "Exit code 1\nFAIL tests/player.test.ts > plays a sound on jump", ...agentFields(gp) });
  await call(gp, "Edit", { file_path: "/home/dev/pixel-quest/src/player.ts", old_string: "a", new_string: "b" }, "t-e1");
  await P({ hook_event_name: "PermissionRequest", tool_name: "Bash", tool_input: { command: "rm -rf dist && npm run build" } });
  await P({ hook_event_name: "PreCompact", trigger: "auto", ...agentFields(plan) });
  await sleep(800);
  await P({ hook_event_name: "Notification", notification_type: "permission_prompt", message: "Claude needs your permission to use Bash" });
  return s;
}

const started = Date.now();
let game;
if (mode === "sample") game = await sample(argv[1]);
else if (mode === "busy") game = await busy();
else if (mode === "scene") game = await scene();
else {
  console.error("usage: feed.mjs sample FILE | busy | scene  (see the header of this file)");
  process.exit(2);
}
console.error(`posted ${posted} events in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(game);
