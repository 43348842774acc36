// The person in the loop (docs/protocol.md §14): a panel over the town that lists the game's
// permission requests next to the character waiting at the help desk, with Allow / Deny /
// "always allow" for a controller. The server decides everything (which requests are open,
// who may answer, what an answer did); the panel only shows the snapshot's `permissions` and
// sends `agent-action {type: "permission"}`. Styles are inline: the notebook widget has no
// page.css. Text is always set as text, never as HTML.
import type { Ack } from "./socket";
import { MAX_MESSAGE } from "./town/facts";
import type { Answer, FormField, Permission, PermissionAnswer, Question, Role, Snapshot } from "./types";

// -- what to say (pure: test/permissions.test.mjs) ------------------------------------------

/** The snapshot's open requests, oldest first (the state is the server's word). */
export function openRequests(snap: Snapshot | null): Permission[] {
  const all = Object.values(snap?.permissions ?? {});
  return all.filter((p) => p.state === "open").sort((a, b) => (a.askedAt ?? 0) - (b.askedAt ?? 0));
}

const VIA: Record<string, string> = {
  page: "the page",
  lobby: "the lobby",
  widget: "a notebook widget",
  python: "Python",
  rule: "a rule",
};

/** What a request asks: a tool's permission (older servers say nothing), a question, a form. */
export function kindOf(p: Permission): "permission" | "question" | "elicitation" {
  return p.kind === "question" || p.kind === "elicitation" ? p.kind : "permission";
}

/** What was answered, in one line: "Blue", or "Colour: Blue · Size: S, M" for several. */
export function answerText(p: Permission): string {
  const entries = Object.entries(p.answer ?? {});
  if (kindOf(p) === "question") {
    if (entries.length === 1) return String(entries[0][1]);
    const header = (q: string) => p.questions?.find((x) => x.question === q)?.header || q;
    return entries.map(([q, a]) => `${header(q)}: ${a}`).join(" · ");
  }
  const title = (f: string) => p.fields?.find((x) => x.name === f)?.title || f;
  return entries.map(([f, v]) => `${title(f)}: ${typeof v === "boolean" ? (v ? "yes" : "no") : v}`).join(" · ");
}

/** One sentence of what became of a closed request: "Allowed by ada via the page". */
export function outcomeText(p: Permission): string {
  const who = `${p.by ? ` by ${p.by}` : ""}${p.source ? ` via ${VIA[p.source] ?? p.source}` : ""}`;
  const said = answerText(p);
  switch (p.state) {
    case "allowed":
      return `Allowed${p.always ? ` for the session (always ${p.tool})` : ""}${who}`;
    case "answered":
      return `Answered${who}${said ? `: ${said}` : ""}`;
    case "accepted":
      return `Accepted${who}${said ? `: ${said}` : ""}`;
    case "declined":
      return `Declined${who}`;
    case "denied":
      return `Denied${who}${p.message ? `: “${p.message}”` : ""}`;
    case "expired":
      return "Nobody answered in time: Claude Code asks in its own way";
    case "withdrawn":
      return "Claude Code stopped waiting";
    case "passed":
      return `Left to Claude Code${who}`;
    case "moved-on":
      return "Answered in Claude Code";
    case "open":
      return "Waiting for an answer";
    default:
      return String(p.state);
  }
}

/** A question's answers as Claude Code takes them: question text → the chosen label, or
 * the labels joined with ", " (in the options' order, whatever order they were clicked in);
 * null while a question has no pick. `others[i]`: what the person wrote instead ("Other",
 * as Claude Code's own dialog offers): it is the answer of a pick-one question, and comes
 * after the picked labels of a pick-any one. */
export function questionAnswers(
  questions: Question[],
  picks: ReadonlyArray<Iterable<string>>,
  others: ReadonlyArray<string> = [],
): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const [i, q] of questions.entries()) {
    const chosen = new Set(picks[i] ?? []);
    const own = (others[i] ?? "").trim().slice(0, MAX_MESSAGE);
    const labels = q.options.filter((o) => chosen.has(o));
    if (own && !q.multiSelect) out[q.question] = own;
    else if (own) out[q.question] = [...labels, own].join(", ");
    else if (!labels.length) return null;
    else out[q.question] = q.multiSelect ? labels.join(", ") : labels[0];
  }
  return out;
}

/** An elicitation's form as typed values (numbers as numbers, booleans as booleans; an empty
 * optional field left out), or what is wrong with it. The server checks it again. */
export function formContent(
  fields: FormField[],
  raw: Record<string, string | boolean | undefined>,
): { content: Answer } | { error: string } {
  const content: Answer = {};
  for (const f of fields) {
    const v = raw[f.name];
    const label = f.title || f.name;
    if (f.type === "boolean") {
      content[f.name] = v === true || v === "true";
      continue;
    }
    const text = typeof v === "string" ? v.trim() : "";
    if (text === "") {
      if (f.required) return { error: `${label} is required` };
      continue;
    }
    if (f.type === "number" || f.type === "integer") {
      const n = Number(text);
      if (!Number.isFinite(n)) return { error: `${label} must be a number` };
      if (f.type === "integer" && !Number.isInteger(n)) return { error: `${label} must be a whole number` };
      content[f.name] = n;
    } else if (f.enum && f.enum.length && !f.enum.includes(text)) {
      return { error: `${label} must be one of ${f.enum.join(", ")}` };
    } else content[f.name] = text;
  }
  return { content };
}

/** How long, for people: "8 s", "3 min", "2 h". */
export function waited(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h`;
}

/** The fields of a request's input worth a line each (the text already says the main one). */
export function inputLines(p: Permission, max = 4): [string, string][] {
  return Object.entries(p.input ?? {})
    .filter(([, v]) => typeof v === "string" && v !== "")
    .slice(0, max);
}

/** Which requests to draw: the open ones, and those this view saw open that closed less
 * than `keepMs` ago (by this view's clock: when it saw them close). */
export function shownRequests(
  snap: Snapshot | null,
  closedAt: Map<string, number>,
  now: number,
  keepMs = CLOSED_SHOWN_MS,
): Permission[] {
  const all = snap?.permissions ?? {};
  const open = openRequests(snap);
  const closed = [...closedAt]
    .filter(([id, at]) => now - at < keepMs && all[id] && all[id].state !== "open")
    .map(([id]) => all[id]);
  return [...open, ...closed];
}

/** The panel's heading over one open request, by its kind. */
const HEADS = {
  permission: "Claude Code asks you",
  question: "A question for you",
  elicitation: "An MCP server asks you",
} as const;

/** How long an answered request stays on the panel with its outcome. */
export const CLOSED_SHOWN_MS = 8000;

// -- the panel ------------------------------------------------------------------------------

/** What the panel needs of the view it sits on (a TownView: view.ts). */
export interface PanelView {
  readonly root: HTMLElement;
  readonly mirror: { snapshot: Snapshot | null; role: Role | null };
  readonly drawing: "mirror" | "own";
  /** The presenter's replay status when the game is a replay game (it takes no answers). */
  readonly replay: unknown;
  readonly scene: {
    agentViews(): { id: string; x: number; y: number; spot: { x: number; y: number }; visible: boolean }[];
    toCanvas(p: { x: number; y: number }): { x: number; y: number };
  };
  onState(f: (s: Snapshot) => void): void;
}

/** Where answers go: the view's history source (player/source.ts) has both. */
export interface AnswerPort {
  act(type: string, fields?: Record<string, unknown>): Promise<Ack>;
  canControl(): Promise<boolean>;
}

const FONT = '12px/1.4 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", sans-serif';
const MONO = '11px/1.35 "DejaVu Sans Mono", ui-monospace, Menlo, monospace';

type Style = Partial<CSSStyleDeclaration>;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls: string,
  style: Style | null,
  ...children: (Node | string | null)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (style) Object.assign(e.style, style);
  for (const c of children) if (c !== null) e.append(c);
  return e;
}

const BUTTON: Style = {
  font: FONT,
  fontWeight: "600",
  border: "1px solid transparent",
  borderRadius: "6px",
  padding: "3px 10px",
  cursor: "pointer",
  color: "#10131c",
};

function button(cls: string, text: string, bg: string, extra: Style = {}): HTMLButtonElement {
  const b = h("button", cls, { ...BUTTON, background: bg, ...extra }, text);
  b.type = "button";
  return b;
}

const INPUT: Style = {
  font: FONT,
  flex: "1 1 120px",
  minWidth: "0",
  color: "#eef1f8",
  background: "#262c3b",
  border: "1px solid #3a4258",
  borderRadius: "6px",
  padding: "2px 6px",
};

/** A question's or a form's part of a card. */
interface Form {
  root: HTMLElement;
  /** Its inputs (disabled while an answer is in flight). */
  controls: (HTMLButtonElement | HTMLInputElement | HTMLSelectElement)[];
  picks(): string[][];
  /** A question's own answer, typed instead of (or beside) the options. */
  others(): string[];
  values(): Record<string, string | boolean>;
  onChange(f: () => void): void;
}

const OPTION: Style = { border: "1px solid #4b5470", borderRadius: "8px", padding: "1px 8px", color: "#dfe5f5" };
const PICKED: Style = { background: "#9cc4ff", borderColor: "#9cc4ff", color: "#10131c" };

/** The questions of an AskUserQuestion: each one's header, text and options; for a
 * controller, buttons (pick one) or checkboxes (multiSelect); else the labels, the answered
 * ones marked. */
function questionForm(p: Permission, interactive: boolean): Form {
  const questions = p.questions ?? [];
  const picks = questions.map(() => new Set<string>());
  const others = questions.map(() => "");
  const controls: Form["controls"] = [];
  const listeners: (() => void)[] = [];
  const changed = () => listeners.forEach((f) => f());
  const root = h("div", "ccviz-questions", null);
  questions.forEach((q, i) => {
    const answered = String(p.answer?.[q.question] ?? "");
    const given = new Set(q.multiSelect ? answered.split(", ") : [answered]);
    const options = h("div", "ccviz-options", { display: "flex", flexWrap: "wrap", gap: "5px", marginTop: "4px" });
    for (const label of q.options) {
      if (!interactive) {
        const chip = h("span", "ccviz-option", { ...OPTION, ...(given.has(label) ? PICKED : {}) }, label);
        if (given.has(label)) chip.dataset.picked = "1";
        options.append(chip);
      } else if (q.multiSelect) {
        const box = h("input", "ccviz-option-check", { margin: "0 4px 0 0" });
        box.type = "checkbox";
        box.value = label;
        box.addEventListener("change", () => {
          if (box.checked) picks[i].add(label);
          else picks[i].delete(label);
          changed();
        });
        controls.push(box);
        options.append(h("label", "ccviz-option", { ...OPTION, display: "inline-flex", alignItems: "center", cursor: "pointer" }, box, label));
      } else {
        const b = button("ccviz-option", label, "transparent", { ...OPTION, fontWeight: "400" });
        b.setAttribute("aria-pressed", "false");
        b.addEventListener("click", () => {
          picks[i].clear();
          picks[i].add(label);
          press(b);
          if (other) other.value = others[i] = ""; // a pick-one question: the option instead
          changed();
        });
        controls.push(b);
        options.append(b);
      }
    }
    /** Shows `on` as the one picked (null: none) among a pick-one question's buttons. */
    const press = (on: HTMLButtonElement | null) => {
      for (const o of options.querySelectorAll<HTMLButtonElement>("button.ccviz-option")) {
        o.setAttribute("aria-pressed", String(o === on));
        Object.assign(o.style, o === on ? PICKED : { background: "transparent", borderColor: "#4b5470", color: "#dfe5f5" });
      }
    };
    let other: HTMLInputElement | null = null;
    if (interactive) {
      other = h("input", "ccviz-option-other", { ...INPUT, marginTop: "4px", width: "100%", boxSizing: "border-box" });
      other.type = "text";
      other.maxLength = MAX_MESSAGE;
      other.placeholder = q.multiSelect ? "Other (added to the picks)" : "Other: write your own answer";
      other.setAttribute("aria-label", `Your own answer to: ${q.question}`);
      const typed = other;
      typed.addEventListener("input", () => {
        others[i] = typed.value;
        if (!q.multiSelect && typed.value.trim()) (picks[i].clear(), press(null)); // it instead
        changed();
      });
      controls.push(typed);
    }
    const head = h(
      "div",
      "ccviz-question-text",
      { fontWeight: "600", overflowWrap: "anywhere" },
      q.header ? h("span", "ccviz-question-header", { background: "#9cc4ff", color: "#10131c", borderRadius: "4px", padding: "0 5px", marginRight: "6px", fontSize: "11px" }, q.header) : null,
      q.question,
      q.multiSelect && interactive ? h("span", "", { color: "#9aa4bf", fontWeight: "400" }, " (pick any)") : null,
    );
    const block = h("div", "ccviz-question", { marginTop: "5px", padding: "4px 6px", background: "rgba(0,0,0,0.25)", borderRadius: "6px" }, head, options, other);
    block.dataset.question = String(i);
    root.append(block);
  });
  return { root, controls, picks: () => picks.map((s) => [...s]), others: () => [...others], values: () => ({}), onChange: (f) => listeners.push(f) };
}

/** An elicitation's form: one input per field for a controller (enum: a select, boolean: a
 * checkbox, number/integer: a number input, string: a text input; required ones marked);
 * else each field with its kind, or with what was answered. */
function fieldForm(p: Permission, interactive: boolean): Form {
  const read: Record<string, () => string | boolean> = {};
  const controls: Form["controls"] = [];
  const root = h("div", "ccviz-fields", { display: "grid", gap: "4px", marginTop: "5px" });
  for (const f of p.fields ?? []) {
    const label = h(
      "span",
      "ccviz-field-label",
      { color: "#dfe5f5", fontWeight: "600" },
      f.title || f.name,
      f.required ? h("span", "ccviz-field-required", { color: "#f2c14e" }, " *") : null,
    );
    if (f.required) label.title = "required";
    let input: HTMLInputElement | HTMLSelectElement | HTMLSpanElement;
    if (!interactive) {
      const given = p.answer?.[f.name];
      const said = given === undefined ? (f.enum?.length ? `one of ${f.enum.join(", ")}` : f.type) : typeof given === "boolean" ? (given ? "yes" : "no") : String(given);
      input = h("span", "ccviz-field-value", { color: given === undefined ? "#9aa4bf" : "#eef1f8", fontStyle: given === undefined ? "italic" : "normal", overflowWrap: "anywhere" }, said);
    } else if (f.enum?.length) {
      const select = h("select", "ccviz-field-input", INPUT);
      select.append(h("option", "", null, f.required ? "choose…" : "—"));
      (select.firstChild as HTMLOptionElement).value = "";
      for (const v of f.enum) {
        const o = h("option", "", null, v);
        o.value = v;
        select.append(o);
      }
      read[f.name] = () => select.value;
      input = select;
    } else if (f.type === "boolean") {
      const box = h("input", "ccviz-field-input", { justifySelf: "start" });
      box.type = "checkbox";
      read[f.name] = () => box.checked;
      input = box;
    } else {
      const text = h("input", "ccviz-field-input", INPUT);
      text.type = f.type === "number" || f.type === "integer" ? "number" : "text";
      if (f.type === "integer") text.step = "1";
      if (f.required) text.required = true;
      read[f.name] = () => text.value;
      input = text;
    }
    if (!(input instanceof HTMLSpanElement)) {
      input.name = f.name;
      input.setAttribute("aria-label", f.title || f.name);
      controls.push(input);
    }
    const row = h("label", "ccviz-field", { display: "grid", gridTemplateColumns: "minmax(70px, 35%) 1fr", gap: "6px", alignItems: "center" }, label, input);
    row.dataset.field = f.name;
    root.append(row);
    if (f.description) root.append(h("div", "ccviz-field-description", { color: "#9aa4bf", fontSize: "11px", marginTop: "-3px", overflowWrap: "anywhere" }, f.description));
  }
  const values = () => Object.fromEntries(Object.entries(read).map(([k, f]) => [k, f()]));
  return { root, controls, picks: () => [], others: () => [], values, onChange: () => {} };
}

interface Card {
  root: HTMLDivElement;
  waited: HTMLSpanElement;
  actions: HTMLDivElement;
  outcome: HTMLDivElement;
  error: HTMLDivElement;
  body: HTMLDivElement;
  message: HTMLInputElement | null;
  /** What an answer in flight disables: the buttons and the form's inputs. */
  buttons: (HTMLButtonElement | HTMLInputElement | HTMLSelectElement)[];
  /** Re-checks whether the answer can be sent (a question: every one picked). */
  check: (() => void) | null;
  state: string;
  controls: boolean | null;
  replay: boolean;
}

/** The panel on one view. `source` says where the answers come from (logged with them). */
export class PermissionPanel {
  readonly root: HTMLDivElement;
  private list: HTMLDivElement;
  private arrow: HTMLDivElement;
  private head: HTMLDivElement;
  private cards = new Map<string, Card>();
  /** Requests this view saw open, and when it saw them close. */
  private seenOpen = new Set<string>();
  private closedAt = new Map<string, number>();
  private controller: boolean | null = null;
  private asking = false;
  private timer: ReturnType<typeof setInterval>;
  /** Folded by the person (true / false), or null: folded while every open request is one
   * only Claude Code can answer (seen through api/hooks: the character's bubble says it, and
   * a panel over the town would only hide it). */
  private folded: boolean | null = null;
  private collapsed = false;
  private toggle: HTMLButtonElement;
  /** The acks of the answers sent, newest last (for tests: the debug handle). */
  readonly acks: Ack[] = [];

  constructor(
    private view: PanelView,
    private port: AnswerPort,
    private source: PermissionAnswer["source"],
  ) {
    this.root = h("div", "ccviz-permissions", {
      position: "absolute",
      zIndex: "4",
      width: "min(360px, calc(100% - 16px))",
      boxSizing: "border-box",
      font: FONT,
      lineHeight: "1.4",
      textAlign: "left",
      color: "#eef1f8",
      background: "rgba(27,31,44,0.96)",
      border: "2px solid #f2c14e",
      borderRadius: "10px",
      boxShadow: "0 6px 22px rgba(0,0,0,0.4)",
      display: "none",
    });
    this.root.setAttribute("role", "region");
    this.root.setAttribute("aria-label", "Permission requests");
    this.root.setAttribute("aria-live", "polite");
    const toggle = button("ccviz-permissions-toggle", "–", "transparent", { color: "#f2c14e", padding: "0 6px", marginLeft: "auto" });
    toggle.title = "Fold the panel";
    toggle.addEventListener("click", () => {
      this.folded = !this.collapsed;
      this.render();
    });
    this.toggle = toggle;
    this.head = h("div", "ccviz-permissions-head", { display: "flex", alignItems: "center", gap: "6px", padding: "5px 10px 3px", fontWeight: "700", color: "#f2c14e" });
    this.head.append(h("span", "", null, ""), toggle);
    this.list = h("div", "ccviz-permissions-list", { padding: "0 10px 8px", overflow: "auto" });
    this.arrow = h("div", "", {
      position: "absolute",
      bottom: "-9px",
      width: "0",
      height: "0",
      borderLeft: "8px solid transparent",
      borderRight: "8px solid transparent",
      borderTop: "8px solid #f2c14e",
      transform: "translateX(-8px)",
    });
    this.root.append(this.head, this.list, this.arrow);
    // The town under it must not take these clicks (look-closer panels, town/overlay.ts).
    // Nor the keys typed into its inputs (the view's shortcuts).
    for (const type of ["click", "pointermove", "pointerdown", "wheel", "keydown", "keyup"])
      this.root.addEventListener(type, (e) => e.stopPropagation());
    view.root.append(this.root);
    view.onState(() => this.render());
    // "waiting 12 s" moves on, and the panel follows the character and the view's size.
    this.timer = setInterval(() => this.render(), 250);
  }

  /** The open and recently closed requests drawn, for tests (ids in order). */
  shown(): string[] {
    return [...this.list.querySelectorAll<HTMLElement>(".ccviz-permission")].map((c) => c.dataset.request ?? "");
  }

  close(): void {
    clearInterval(this.timer);
    this.root.remove();
  }

  /** May this connection answer? The join ack's role when it says one, else the source's
   * own way of asking (once). */
  private canAnswer(): boolean | null {
    const role = this.view.mirror.role;
    if (role) return role === "controller";
    if (this.controller === null && !this.asking) {
      this.asking = true;
      this.port.canControl().then(
        (yes) => {
          this.controller = yes;
          this.render();
        },
        () => (this.controller = false),
      );
    }
    return this.controller;
  }

  render(): void {
    const snap = this.view.drawing === "mirror" ? this.view.mirror.snapshot : null;
    const all = snap?.permissions ?? {};
    const now = Date.now();
    for (const [id, p] of Object.entries(all)) {
      if (p.state === "open") this.seenOpen.add(id);
      else if (this.seenOpen.has(id) && !this.closedAt.has(id)) this.closedAt.set(id, now);
    }
    const shown = snap ? shownRequests(snap, this.closedAt, now) : [];
    if (!shown.length) {
      this.root.style.display = "none";
      for (const c of this.cards.values()) c.root.remove();
      this.cards.clear();
      return;
    }
    const controls = this.canAnswer();
    const open = shown.filter((p) => p.state === "open").length;
    const first = shown.find((p) => p.state === "open");
    const asks = first ? HEADS[kindOf(first)] : "";
    (this.head.firstChild as HTMLElement).textContent =
      open === 0 ? "Answered" : open === 1 ? asks : `${open} requests wait for you`;
    const keep = new Set(shown.map((p) => p.id));
    for (const [id, c] of this.cards) if (!keep.has(id)) (c.root.remove(), this.cards.delete(id));
    shown.forEach((p, i) => {
      const card = this.card(p, snap!, controls);
      if (this.list.children[i] !== card.root) this.list.insertBefore(card.root, this.list.children[i] ?? null);
      if (p.askedAt) card.waited.textContent = p.state === "open" ? ` · waiting ${waited(now - p.askedAt)}` : "";
    });
    const seenOnly = open > 0 && shown.every((p) => p.state !== "open" || !p.answerable);
    this.collapsed = this.folded ?? seenOnly;
    this.toggle.textContent = this.collapsed ? "+" : "–";
    this.toggle.title = this.collapsed ? "Show the request" : "Fold the panel";
    this.list.style.display = this.collapsed ? "none" : "";
    this.root.style.display = "block";
    this.place(shown[0].agent);
  }

  /** Anchor the panel above the first request's character (where it stands at the help
   * desk), its arrow pointing down at it; kept inside the view. */
  private place(agentId: string): void {
    const rootRect = { w: this.view.root.clientWidth, h: this.view.root.clientHeight };
    const a = this.view.scene.agentViews().find((v) => v.id === agentId);
    const o = this.view.scene.toCanvas({ x: 0, y: 0 });
    const unit = this.view.scene.toCanvas({ x: 100, y: 0 }).x - o.x; // CSS px per 100 world units
    const at = a ? a.spot : { x: rootRect.w / 2, y: rootRect.h * 0.85 };
    // Above the head, the help desk's sign and the "May I?" bubble.
    const bottom = at.y - Math.max(40, unit * 0.85);
    const top = Math.max(44, rootRect.h * 0.09); // the HUD's strip stays in sight
    const width = this.root.offsetWidth || 360;
    const left = Math.min(Math.max(8, at.x - width / 2), Math.max(8, rootRect.w - width - 8));
    Object.assign(this.root.style, {
      left: `${Math.round(left)}px`,
      top: "",
      bottom: `${Math.round(Math.max(8, rootRect.h - bottom))}px`,
      maxHeight: `${Math.max(80, Math.round(bottom - top))}px`,
    });
    this.list.style.maxHeight = `${Math.max(40, Math.round(bottom - top - 32))}px`;
    const arrowX = Math.min(Math.max(14, at.x - left), width - 14);
    this.arrow.style.left = `${Math.round(arrowX)}px`;
    this.arrow.style.display = a && rootRect.h - bottom > 8 ? "" : "none";
  }

  private card(p: Permission, snap: Snapshot, controls: boolean | null): Card {
    let card = this.cards.get(p.id);
    if (!card) {
      const kind = kindOf(p);
      const who = snap.agents?.[p.agent]?.name ?? p.agent;
      const waitedSpan = h("span", "ccviz-permission-waited", { color: "#9aa4bf", fontWeight: "400", whiteSpace: "nowrap" });
      const muted = (text: string) => h("span", "", { color: "#9aa4bf", fontWeight: "400" }, text);
      const chip = (cls: string, text: string) =>
        h("span", cls, { background: "#f2c14e", color: "#2b2620", borderRadius: "4px", padding: "0 5px" }, text);
      const title =
        kind === "question"
          ? h("div", "", { fontWeight: "600", marginTop: "4px" }, `${who} `, muted("has a question"), waitedSpan)
          : kind === "elicitation"
            ? h("div", "", { fontWeight: "600", marginTop: "4px" }, `${who} `, muted("· MCP server "), chip("ccviz-permission-server", p.server || p.tool || "?"), muted(" asks"), waitedSpan)
            : h("div", "", { fontWeight: "600", marginTop: "4px" }, `${who} `, muted("asks to use "), chip("ccviz-permission-tool", p.tool), waitedSpan);
      const text =
        kind === "permission"
          ? h("div", "ccviz-permission-text", { font: MONO, marginTop: "3px", padding: "3px 6px", background: "rgba(0,0,0,0.35)", borderRadius: "5px", overflowWrap: "anywhere" }, p.text)
          : kind === "elicitation" || !p.questions?.length
            ? h("div", "ccviz-permission-text", { marginTop: "3px", fontSize: "13px", overflowWrap: "anywhere", whiteSpace: "pre-wrap" }, p.text)
            : null;
      const fields = kind === "permission" ? h("div", "ccviz-permission-input", { font: MONO, color: "#c7cee2", marginTop: "2px" }) : null;
      for (const [k, v] of fields ? inputLines(p) : []) {
        const line = h("div", "", { whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" }, h("span", "", { color: "#8d97b3" }, `${k}: `), v);
        line.title = `${k}: ${v}`;
        fields!.append(line);
      }
      const suggestions =
        kind === "permission" && p.suggestions?.length
          ? h(
              "div",
              "ccviz-permission-suggestions",
              { marginTop: "4px", display: "flex", flexWrap: "wrap", gap: "4px", alignItems: "center" },
              h("span", "", { color: "#8d97b3" }, "Claude Code suggests"),
              ...p.suggestions.map((s) => h("span", "ccviz-permission-suggestion", { border: "1px solid #4b5470", borderRadius: "8px", padding: "0 6px", color: "#dfe5f5" }, s)),
            )
          : null;
      const body = h("div", "ccviz-permission-body", null);
      const actions = h("div", "ccviz-permission-actions", { marginTop: "6px" });
      const outcome = h("div", "ccviz-permission-outcome", { marginTop: "6px", fontWeight: "600", display: "none", overflowWrap: "anywhere" });
      const error = h("div", "ccviz-permission-error", { marginTop: "4px", color: "#ff9b8f", display: "none" });
      const root = h("div", "ccviz-permission", { borderTop: "1px solid #3a4360", paddingTop: "4px", marginTop: "4px" }, title, text, fields, suggestions, body, actions, outcome, error);
      root.dataset.request = p.id;
      root.dataset.kind = kind;
      card = { root, waited: waitedSpan, body, actions, outcome, error, message: null, buttons: [], check: null, state: "", controls: null, replay: false };
      this.cards.set(p.id, card);
    }
    if (card.state !== p.state || card.controls !== controls || card.replay !== !!this.view.replay) this.fill(card, p, controls);
    return card;
  }

  /** The part of a card that changes: the buttons (or why there are none), or the outcome. */
  private fill(card: Card, p: Permission, controls: boolean | null): void {
    card.state = String(p.state);
    card.controls = controls;
    card.replay = !!this.view.replay;
    card.root.dataset.state = card.state;
    card.buttons = [];
    card.check = null;
    const kind = kindOf(p);
    const note = (text: string) => h("div", "ccviz-permission-note", { color: "#9aa4bf", fontStyle: "italic" }, text);
    const why =
      p.state !== "open"
        ? null
        : !p.answerable
          ? `Asked through api/hooks: answer it in Claude Code.`
          : this.view.replay
            ? "A replay: this was asked when the session ran."
            : controls === null
              ? "…"
              : !controls
                ? "Waiting for a controller (the ingest token) to answer."
                : null;
    const interactive = p.state === "open" && why === null;
    // The questions or the form: choices for a controller, what was asked (and answered) else.
    const form = kind === "question" ? questionForm(p, interactive) : kind === "elicitation" ? fieldForm(p, interactive) : null;
    card.body.replaceChildren(...(form ? [form.root] : []));
    if (p.state !== "open") {
      card.actions.replaceChildren();
      card.actions.style.display = "none";
      card.error.style.display = "none";
      card.outcome.textContent = outcomeText(p);
      const good = ["allowed", "answered", "accepted"].includes(card.state);
      const bad = ["denied", "declined"].includes(card.state);
      card.outcome.style.color = good ? "#7fdc9a" : bad ? "#ff9b8f" : "#c7cee2";
      card.outcome.style.display = "";
      card.root.style.opacity = "0.85";
      return;
    }
    card.outcome.style.display = "none";
    card.actions.style.display = "";
    if (why !== null) return void card.actions.replaceChildren(note(why));
    const row = (...c: Node[]) => h("div", "", { display: "flex", flexWrap: "wrap", gap: "6px", alignItems: "center", marginTop: "4px" }, ...c);
    const source = this.source;
    if (kind === "question" && form) {
      const send = button("send", "Send answer", "#7fdc9a");
      const deny = button("deny", "Deny", "#ff9b8f");
      const check = () => (send.disabled = questionAnswers(p.questions ?? [], form.picks(), form.others()) === null);
      form.onChange(check);
      card.check = check;
      card.buttons = [send, deny, ...form.controls];
      send.addEventListener("click", () => {
        const answers = questionAnswers(p.questions ?? [], form.picks(), form.others());
        if (answers) this.answer(card, { request: p.id, behavior: "allow", answers, source });
      });
      deny.addEventListener("click", () => this.answer(card, { request: p.id, behavior: "deny", source }));
      card.actions.replaceChildren(row(send, deny));
      check();
      return;
    }
    if (kind === "elicitation" && form) {
      const accept = button("accept", "Accept", "#7fdc9a");
      const decline = button("decline", "Decline", "#ff9b8f");
      card.buttons = [accept, decline, ...form.controls];
      // What was wrong goes away as soon as the form is touched again.
      const clear = () => (card.error.style.display = "none");
      form.root.addEventListener("input", clear);
      form.root.addEventListener("change", clear);
      accept.addEventListener("click", () => {
        const got = formContent(p.fields ?? [], form.values());
        if ("error" in got) {
          card.error.textContent = got.error;
          card.error.style.display = "";
          return;
        }
        this.answer(card, { request: p.id, behavior: "accept", content: got.content, source });
      });
      decline.addEventListener("click", () => this.answer(card, { request: p.id, behavior: "decline", source }));
      card.actions.replaceChildren(row(accept, decline));
      return;
    }
    const allow = button("allow", "Allow", "#7fdc9a");
    const deny = button("deny", "Deny", "#ff9b8f");
    const always = button("always", `Always allow ${p.tool} this session`, "transparent", { color: "#dfe5f5", borderColor: "#4b5470", fontWeight: "400" });
    const message = h("input", "message", INPUT);
    message.placeholder = "Message with Deny (optional)";
    message.maxLength = MAX_MESSAGE;
    message.setAttribute("aria-label", "Message with a deny");
    message.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") deny.click();
    });
    card.message = message;
    card.buttons = [allow, deny, always];
    allow.addEventListener("click", () => this.answer(card, { request: p.id, behavior: "allow", source }));
    deny.addEventListener("click", () => {
      const text = message.value.trim();
      this.answer(card, { request: p.id, behavior: "deny", source, ...(text ? { message: text } : {}) });
    });
    always.addEventListener("click", () => this.answer(card, { request: p.id, behavior: "allow", always: true, source }));
    card.actions.replaceChildren(row(allow, deny, message), row(always));
  }

  private answer(card: Card, answer: PermissionAnswer): void {
    for (const b of card.buttons) b.disabled = true;
    card.error.style.display = "none";
    const again = (why: string) => {
      for (const b of card.buttons) b.disabled = false;
      card.check?.();
      card.error.textContent = why;
      card.error.style.display = "";
    };
    this.port.act("permission", { ...answer }).then(
      (ack) => {
        this.acks.push(ack);
        if (ack.ok) return; // the snapshot will say what it did
        again(ack.error ?? "refused");
      },
      (err) => again(`not sent: ${(err as Error)?.message ?? err}`),
    );
  }
}
