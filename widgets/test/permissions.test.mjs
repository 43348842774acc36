// What the permission panel and the lobby's "who needs you" say, from the server's state
// (docs/protocol.md §14): the views decide nothing, they pick and word what the snapshot and
// the lobby rows say. The DOM itself is exercised in Chromium (tests/browser/test_permissions.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./support/load.mjs";

const { openRequests, outcomeText, waited, inputLines, shownRequests, CLOSED_SHOWN_MS } = await load("src/permissions.ts");
const { lobbyOrder, newWaits, waitingSince } = await load("src/lobby.ts");

const perm = (id, fields = {}) => ({
  id,
  agent: "main",
  tool: "Write",
  text: "Write src/player.ts",
  input: { file_path: "/p/src/player.ts", content: "x", empty: "" },
  suggestions: ["accept edits for the session"],
  askedAt: 1000,
  state: "open",
  by: null,
  source: null,
  message: null,
  always: false,
  answeredAt: null,
  answerable: true,
  ...fields,
});
const snap = (permissions) => ({ gameId: "g", seq: 3, agents: {}, permissions });

test("open requests are the ones the server says are open, oldest first", () => {
  const s = snap({
    b: perm("b", { askedAt: 3000 }),
    a: perm("a", { askedAt: 2000 }),
    c: perm("c", { state: "denied" }),
  });
  assert.deepEqual(openRequests(s).map((p) => p.id), ["a", "b"]);
  assert.deepEqual(openRequests(null), []);
  assert.deepEqual(openRequests({ gameId: "g", seq: 0, agents: {} }), []); // an older server
});

test("a closed request says what became of it", () => {
  assert.equal(outcomeText(perm("a", { state: "allowed", by: "ada", source: "page" })), "Allowed by ada via the page");
  assert.equal(
    outcomeText(perm("a", { state: "allowed", by: "controller", source: "lobby", always: true })),
    "Allowed for the session (always Write) by controller via the lobby",
  );
  assert.equal(outcomeText(perm("a", { state: "denied", by: "ada", source: "widget", message: "not now" })), "Denied by ada via a notebook widget: “not now”");
  assert.match(outcomeText(perm("a", { state: "expired" })), /Nobody answered/);
  assert.match(outcomeText(perm("a", { state: "withdrawn" })), /stopped waiting/);
  assert.match(outcomeText(perm("a", { state: "moved-on" })), /in Claude Code/);
  assert.equal(outcomeText(perm("a", { state: "something new" })), "something new");
});

test("closed requests stay shown for a while after this view saw them close", () => {
  const s = snap({ a: perm("a"), b: perm("b", { state: "allowed" }), c: perm("c", { state: "denied" }) });
  const closedAt = new Map([["b", 10_000]]); // c closed before this view saw it open: not shown
  assert.deepEqual(shownRequests(s, closedAt, 10_500).map((p) => p.id), ["a", "b"]);
  assert.deepEqual(shownRequests(s, closedAt, 10_000 + CLOSED_SHOWN_MS).map((p) => p.id), ["a"]);
});

test("waited times and input lines read well", () => {
  assert.equal(waited(8_400), "8 s");
  assert.equal(waited(-5), "0 s");
  assert.equal(waited(3 * 60_000 + 5_000), "3 min");
  assert.equal(waited(2 * 3600_000 + 1), "2 h");
  assert.deepEqual(inputLines(perm("a")), [["file_path", "/p/src/player.ts"], ["content", "x"]]);
});

test("the lobby leads with the games someone waits in, newest wait first", () => {
  const row = (gameId, lastEventAt, waiting) => ({ gameId, seq: 1, title: gameId, cwd: null, status: "active", startedAt: 0, lastEventAt, agents: 1, waiting });
  const rows = [
    row("newest", 900, []),
    row("asks", 500, [{ agent: "main", name: "Claude", wait: "permission", text: "Write a", since: 400, request: "r1" }]),
    row("old", 100, undefined), // an older server: no waiting list
    row("idle", 800, [{ agent: "main", name: "Claude", wait: "idle", text: "", since: 300 }, { agent: "x", name: "Explore #1", wait: "input", text: "?", since: 450 }]),
  ];
  const { waiting, others } = lobbyOrder(rows);
  assert.deepEqual(waiting.map((g) => g.gameId), ["idle", "asks"]); // 450 after 400
  assert.deepEqual(others.map((g) => g.gameId), ["newest", "old"]);
  assert.equal(waitingSince(rows[0]), null);
});

test("a wait is new once: the notification is not repeated on every push", () => {
  const seen = new Set();
  const rows = [{ gameId: "g", waiting: [{ agent: "main", name: "Claude", wait: "permission", text: "t", since: 1, request: "r1" }] }];
  assert.equal(newWaits(rows, seen).length, 1);
  assert.equal(newWaits(rows, seen).length, 0);
  rows[0].waiting.push({ agent: "main", name: "Claude", wait: "permission", text: "t2", since: 2, request: "r2" });
  assert.deepEqual(newWaits(rows, seen).map((x) => x.wait.request), ["r2"]);
});

// -- questions and elicitations (protocol §14, "Questions and elicitations") ----------------

const { questionAnswers, formContent, answerText, kindOf } = await load("src/permissions.ts");
const { requestKind } = await load("src/lobby.ts");

const colour = { question: "Which colour?", header: "Colour", options: ["Red", "Blue"], multiSelect: false };
const sizes = { question: "Which sizes?", header: "Sizes", options: ["S", "M", "L"], multiSelect: true };

test("a question's answers are its text → the chosen label, several joined in the options' order", () => {
  assert.deepEqual(questionAnswers([colour], [["Blue"]]), { "Which colour?": "Blue" });
  assert.deepEqual(questionAnswers([colour, sizes], [["Red"], new Set(["L", "S"])]), {
    "Which colour?": "Red",
    "Which sizes?": "S, L",
  });
  // Not every question picked yet (or a label it does not offer): nothing to send.
  assert.equal(questionAnswers([colour, sizes], [["Red"], []]), null);
  assert.equal(questionAnswers([colour], [["Green"]]), null);
  assert.equal(questionAnswers([colour], []), null);
  // A single-pick question takes one label even if two were handed over.
  assert.deepEqual(questionAnswers([colour], [["Red", "Blue"]]), { "Which colour?": "Red" });
});

test("an answer of one's own (Other) answers a pick-one question, and joins a pick-any one's", () => {
  assert.deepEqual(questionAnswers([colour], [[]], ["  Teal  "]), { "Which colour?": "Teal" });
  assert.deepEqual(questionAnswers([colour], [["Red"]], ["Teal"]), { "Which colour?": "Teal" });
  assert.deepEqual(questionAnswers([colour, sizes], [["Red"], ["M"]], ["", "XL"]), {
    "Which colour?": "Red",
    "Which sizes?": "M, XL",
  });
  assert.equal(questionAnswers([colour], [[]], ["   "]), null); // blank is no answer
  assert.equal(questionAnswers([colour], [[]], ["x".repeat(900)])["Which colour?"].length, 500);
});

const fields = [
  { name: "colour", type: "string", title: null, description: null, enum: ["red", "blue"], required: true },
  { name: "count", type: "integer", title: "How many", description: null, enum: null, required: false },
  { name: "ratio", type: "number", title: null, description: null, enum: null, required: false },
  { name: "loud", type: "boolean", title: null, description: null, enum: null, required: false },
  { name: "note", type: "string", title: null, description: null, enum: null, required: false },
];

test("an elicitation's form is sent typed: numbers as numbers, booleans as booleans", () => {
  assert.deepEqual(formContent(fields, { colour: "blue", count: "2", ratio: " 0.5 ", loud: true, note: "hi" }), {
    content: { colour: "blue", count: 2, ratio: 0.5, loud: true, note: "hi" },
  });
  // Empty optional fields are left out; an unticked box is false.
  assert.deepEqual(formContent(fields, { colour: "red", count: "", loud: false }), { content: { colour: "red", loud: false } });
});

test("an elicitation's form says what is wrong before it is sent", () => {
  assert.deepEqual(formContent(fields, { colour: "" }), { error: "colour is required" });
  assert.deepEqual(formContent(fields, { colour: "green" }), { error: "colour must be one of red, blue" });
  assert.deepEqual(formContent(fields, { colour: "red", count: "2.5" }), { error: "How many must be a whole number" });
  assert.deepEqual(formContent(fields, { colour: "red", ratio: "abc" }), { error: "ratio must be a number" });
});

test("answered questions and forms say what was answered", () => {
  const q = perm("q", { kind: "question", tool: "AskUserQuestion", questions: [colour], state: "answered", by: "ada", source: "page", answer: { "Which colour?": "Blue" } });
  assert.equal(kindOf(q), "question");
  assert.equal(outcomeText(q), "Answered by ada via the page: Blue");
  const two = perm("q2", { kind: "question", questions: [colour, sizes], answer: { "Which colour?": "Red", "Which sizes?": "S, L" } });
  assert.equal(answerText(two), "Colour: Red · Sizes: S, L");
  const e = perm("e", { kind: "elicitation", server: "h4", fields, state: "accepted", by: "ada", source: "lobby", answer: { colour: "blue", count: 2, loud: false } });
  assert.equal(outcomeText(e), "Accepted by ada via the lobby: colour: blue · How many: 2 · loud: no");
  assert.equal(outcomeText(perm("e", { kind: "elicitation", state: "declined", by: "ada" })), "Declined by ada");
  assert.equal(kindOf(perm("p")), "permission"); // an older server: no kind
});

test("the lobby answers plain permissions inline; questions and forms in the game", () => {
  const w = (fields) => ({ agent: "main", name: "Claude", wait: "permission", text: "t", since: 1, request: "r1", ...fields });
  assert.equal(requestKind(w({ kind: "permission" })), "permission");
  assert.equal(requestKind(w({ kind: "question" })), "question");
  assert.equal(requestKind(w({ kind: "elicitation", wait: "input" })), "elicitation");
  assert.equal(requestKind(w({})), "permission"); // an older server
  assert.equal(requestKind(w({ wait: "input" })), "elicitation"); // a form, kind unsaid
  assert.equal(requestKind(w({ request: null, wait: "idle" })), null);
});
