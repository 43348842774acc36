// The shapes of docs/protocol.md: snapshot, updates, effects, acks.
import type { Delta } from "./deltas";

export type AgentState = "spawning" | "idle" | "thinking" | "working" | "waiting" | "done" | "left";

export interface ToolCall {
  name: string;
  useId?: string | null;
  summary?: string | null;
  booth?: string;
}

export interface Agent {
  id: string;
  kind: "main" | "subagent";
  type: string;
  name: string;
  parent: string | null;
  spawnedBy?: string | null;
  state: AgentState | string;
  wait?: "permission" | "input" | null;
  /** The open permission request it waits on (docs/protocol.md §14), while there is one. */
  request?: string | null;
  place: string;
  tool: ToolCall | null;
  overlay?: "failure" | "compacting" | null | string;
  calls?: number;
  failures?: number;
  note?: string | null;
  /** This agent's requests (from the transcript, live and in replays). */
  tokens?: Tokens | null;
  model?: string | null;
  /** Tokens its newest request sent, and its model's context window. */
  context?: { used: number; window: number } | null;
}

export interface Tokens {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  total: number;
}

export interface Place {
  id: string;
  label: string;
  x: number;
  y: number;
  booths?: string[];
}

export interface Todo {
  id?: string | null;
  content: string;
  status: "pending" | "in_progress" | "completed" | string;
}

export interface ReplayState {
  playing: boolean;
  speed: number;
  position: number;
  total: number;
  loop?: boolean;
}

export interface Snapshot {
  gameId: string;
  seq: number;
  title: string | null;
  cwd: string | null;
  model?: string | null;
  /** The game (session id) a /clear carried on from, or null. */
  continues?: string | null;
  status: "active" | "waiting" | "idle" | "ended" | string;
  startedAt: number | null;
  lastEventAt: number | null;
  agents: Record<string, Agent>;
  places: Record<string, Place>;
  stats: {
    prompts: number;
    toolCalls: Record<string, number>;
    placeCalls?: Record<string, number>;
    failures: number;
    subagents: number;
    tokens: Tokens | null;
  };
  todos: Todo[];
  replay?: ReplayState | null;
  /** The prompt being worked on (redacted, one line), or null; older servers omit it. */
  prompt?: string | null;
  /** One plain sentence of what is happening now, or null; older servers omit it. */
  caption?: string | null;
  /** Permission requests: the open ones and the last closed ones (protocol §14). */
  permissions?: Record<string, Permission>;
  [key: string]: unknown;
}

/** What became of a permission request; only `open` can be answered (the server says). */
export type PermissionState =
  | "open"
  | "allowed"
  | "denied"
  | "answered"
  | "accepted"
  | "declined"
  | "expired"
  | "withdrawn"
  | "passed"
  | "moved-on";

/** What a request asks: a tool's permission, Claude Code's AskUserQuestion, or an MCP
 * server's elicitation (a form). Older servers omit it: a permission. */
export type PermissionKind = "permission" | "question" | "elicitation";

/** One question of an AskUserQuestion request: the labels to pick from. */
export interface Question {
  question: string;
  header: string | null;
  options: string[];
  multiSelect: boolean;
}

/** One field of an elicitation's form. */
export interface FormField {
  name: string;
  type: "string" | "number" | "integer" | "boolean" | string;
  title: string | null;
  description: string | null;
  enum: string[] | null;
  required: boolean;
}

/** What was answered to a question or in a form. */
export type Answer = Record<string, string | number | boolean>;

/** One permission request Claude Code asked (docs/protocol.md §14): every text redacted. */
export interface Permission {
  id: string;
  agent: string;
  tool: string;
  /** One line: "Write src/player.ts", "$ npm test". */
  text: string;
  /** A few shortened fields of the tool's input. */
  input: Record<string, string>;
  /** Claude Code's permission_suggestions, as labels. */
  suggestions: string[];
  askedAt: number | null;
  state: PermissionState | string;
  by: string | null;
  source: string | null;
  message: string | null;
  always: boolean;
  answeredAt: number | null;
  /** False: it came through api/hooks, nobody can answer it from here. */
  answerable: boolean;
  /** What it asks (older servers omit it: "permission"). */
  kind?: PermissionKind | string;
  /** Kind "question": the questions and their labels. */
  questions?: Question[];
  /** Kind "elicitation": the MCP server that asks, and its form. */
  server?: string;
  fields?: FormField[];
  /** What was answered (a question's labels, a form's values), or null. */
  answer?: Answer | null;
}

/** The answer a controller sends: `agent-action` of type `permission` (protocol §14). */
export interface PermissionAnswer {
  request: string;
  behavior: "allow" | "deny" | "accept" | "decline";
  message?: string;
  always?: boolean;
  /** A question's answers: question text → the chosen label(s), joined with ", ". */
  answers?: Record<string, string>;
  /** An elicitation's accepted form: field → typed value. */
  content?: Answer;
  source: "page" | "lobby" | "widget" | "python" | "rule";
}

/** A connection's role (the join ack and the lobby's list-games ack say it). */
export type Role = "controller" | "viewer";

export interface Update {
  gameId: string;
  from: number;
  seq: number;
  deltas: Delta[];
  /** The game was rebuilt (a replay seeking back): apply whole, seq may go back. */
  reset?: boolean;
  /** The effects of these events (without `gameId`), shown once the deltas are applied. */
  effects?: Effect[];
}

export interface Effect {
  gameId?: string;
  seq?: number;
  /** One of EFFECT_KINDS (town/facts.ts, from town.json; a JSON import widens it to a string,
   * and the wire types import nothing of the town); `replay` carries {playing, speed, position,
   * total, loop?}. */
  kind: string;
  agentId?: string | null;
  text?: string;
  [key: string]: unknown;
}

/** `replay`: the presenter replay's status when the game is a replay game, else null
 * (docs/protocol.md §3.1; optional here only for older servers and the widget comm). */
export type JoinAck =
  | { ok: true; gameId: string; seq: number; snapshot: Snapshot; replay?: ReplayState | null; role?: Role }
  | { ok: true; gameId: string; seq: number; from: number; deltas: Delta[]; replay?: ReplayState | null; role?: Role }
  | { ok: false; error: string };

/** The kinds of a history marker (docs/protocol.md §3.3). */
export type MarkerKind = "prompt" | "failure" | "wait" | "spawn" | "leave" | "compact" | "todo" | "end";

/** A moment a person would want to jump to: the state after event `seq`. */
export interface Marker {
  seq: number;
  kind: MarkerKind;
  /** The agent it is about; null for a game-wide one. */
  agentId: string | null;
  /** The redacted one-line speech text of that moment ("" when there is none). */
  text: string;
}

/** One agent's life in the history: events `from` … `to` (null: it never left). */
export interface Lane {
  agentId: string;
  /** Its name at the end of the history. */
  name: string;
  kind: "main" | "subagent";
  type: string;
  parent: string | null;
  from: number;
  to: number | null;
}

/** `game-history {gameId}` (any viewer). `times[i]` is the epoch ms of event i+1, or null. */
export type HistoryAck =
  | {
      ok: true;
      gameId: string;
      seq: number;
      times: (number | null)[];
      markers: Marker[];
      lanes: Lane[];
    }
  | { ok: false; error: string };

/** `game-at {gameId, seq, count?}` (any viewer): the state after event `at` and the
 * deltas/effects of events at+1 … at+deltas.length. The server may send fewer than
 * `count` (the end of the history, or to keep the answer under 1 MiB): rely on
 * `deltas.length`. `effects[k]` are the effects of event at+1+k (protocol §6), without `gameId`. */
export type GameAtAck =
  | {
      ok: true;
      gameId: string;
      total: number;
      at: number;
      snapshot: Snapshot;
      deltas: Delta[][];
      effects: Effect[][];
    }
  | { ok: false; error: string };

export interface GameSummary {
  gameId: string;
  seq: number;
  title: string | null;
  cwd: string | null;
  status: string | null;
  startedAt: number | null;
  lastEventAt: number | null;
  agents: number | null;
  live?: boolean;
  replay?: unknown;
  /** The game a /clear carried on from. */
  continues?: string | null;
  /** Each agent waiting for a person (protocol §14); older servers omit it. */
  waiting?: Waiting[];
}

/** An agent of a lobby row that waits for a person: a permission, a question, or a session
 * idle after its turn. */
export interface Waiting {
  agent: string;
  name: string;
  wait: "permission" | "input" | "idle" | string;
  /** The request's one line, the game's caption for a question, or null. */
  text: string | null;
  /** Epoch ms it started waiting. */
  since: number | null;
  /** The open permission request, when it is one. */
  request?: string | null;
  /** The request's kind (protocol §14); without it, a request is a plain permission. */
  kind?: "permission" | "question" | "elicitation" | string;
}
