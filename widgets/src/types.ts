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
  place: string;
  tool: ToolCall | null;
  overlay?: "failure" | "compacting" | null | string;
  calls?: number;
  failures?: number;
  note?: string | null;
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
    tokens: { total: number; [k: string]: number } | null;
  };
  todos: Todo[];
  replay?: ReplayState | null;
  [key: string]: unknown;
}

export interface Update {
  gameId: string;
  from: number;
  seq: number;
  deltas: Delta[];
  /** The game was rebuilt (a replay seeking back): apply whole, seq may go back. */
  reset?: boolean;
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

export type JoinAck =
  | { ok: true; gameId: string; seq: number; snapshot: Snapshot; replay?: ReplayState | null }
  | { ok: true; gameId: string; seq: number; from: number; deltas: Delta[]; replay?: ReplayState | null }
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
}
