// The person in the loop (docs/protocol.md §14): a panel over the town that lists the game's
// permission requests next to the character waiting at the help desk, with Allow / Deny /
// "always allow" for a controller. The server decides everything (which requests are open,
// who may answer, what an answer did); the panel only shows the snapshot's `permissions` and
// sends `agent-action {type: "permission"}`. Styles are inline: the notebook widget has no
// page.css. Text is always set as text, never as HTML.
import type { Ack } from "./socket";
import type { Permission, PermissionAnswer, Role, Snapshot } from "./types";

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

/** One sentence of what became of a closed request: "Allowed by ada via the page". */
export function outcomeText(p: Permission): string {
  const who = `${p.by ? ` by ${p.by}` : ""}${p.source ? ` via ${VIA[p.source] ?? p.source}` : ""}`;
  switch (p.state) {
    case "allowed":
      return `Allowed${p.always ? ` for the session (always ${p.tool})` : ""}${who}`;
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

interface Card {
  root: HTMLDivElement;
  waited: HTMLSpanElement;
  actions: HTMLDivElement;
  outcome: HTMLDivElement;
  error: HTMLDivElement;
  message: HTMLInputElement | null;
  buttons: HTMLButtonElement[];
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
  private collapsed = false;
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
      this.collapsed = !this.collapsed;
      toggle.textContent = this.collapsed ? "+" : "–";
      this.render();
    });
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
    for (const type of ["click", "pointermove", "pointerdown", "wheel"])
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
    (this.head.firstChild as HTMLElement).textContent =
      open === 0 ? "Answered" : open === 1 ? "Claude Code asks you" : `${open} requests wait for you`;
    const keep = new Set(shown.map((p) => p.id));
    for (const [id, c] of this.cards) if (!keep.has(id)) (c.root.remove(), this.cards.delete(id));
    shown.forEach((p, i) => {
      const card = this.card(p, snap!, controls);
      if (this.list.children[i] !== card.root) this.list.insertBefore(card.root, this.list.children[i] ?? null);
      if (p.askedAt) card.waited.textContent = p.state === "open" ? ` · waiting ${waited(now - p.askedAt)}` : "";
    });
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
      const who = snap.agents?.[p.agent]?.name ?? p.agent;
      const waitedSpan = h("span", "ccviz-permission-waited", { color: "#9aa4bf", fontWeight: "400" });
      const title = h(
        "div",
        "",
        { fontWeight: "600", marginTop: "4px" },
        `${who} `,
        h("span", "", { color: "#9aa4bf", fontWeight: "400" }, "asks to use "),
        h("span", "ccviz-permission-tool", { background: "#f2c14e", color: "#2b2620", borderRadius: "4px", padding: "0 5px" }, p.tool),
        waitedSpan,
      );
      const text = h("div", "ccviz-permission-text", { font: MONO, marginTop: "3px", padding: "3px 6px", background: "rgba(0,0,0,0.35)", borderRadius: "5px", overflowWrap: "anywhere" }, p.text);
      const fields = h("div", "ccviz-permission-input", { font: MONO, color: "#c7cee2", marginTop: "2px" });
      for (const [k, v] of inputLines(p)) {
        const line = h("div", "", { whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" }, h("span", "", { color: "#8d97b3" }, `${k}: `), v);
        line.title = `${k}: ${v}`;
        fields.append(line);
      }
      const suggestions = p.suggestions?.length
        ? h(
            "div",
            "ccviz-permission-suggestions",
            { marginTop: "4px", display: "flex", flexWrap: "wrap", gap: "4px", alignItems: "center" },
            h("span", "", { color: "#8d97b3" }, "Claude Code suggests"),
            ...p.suggestions.map((s) => h("span", "ccviz-permission-suggestion", { border: "1px solid #4b5470", borderRadius: "8px", padding: "0 6px", color: "#dfe5f5" }, s)),
          )
        : null;
      const actions = h("div", "ccviz-permission-actions", { marginTop: "6px" });
      const outcome = h("div", "ccviz-permission-outcome", { marginTop: "6px", fontWeight: "600", display: "none" });
      const error = h("div", "ccviz-permission-error", { marginTop: "4px", color: "#ff9b8f", display: "none" });
      const root = h("div", "ccviz-permission", { borderTop: "1px solid #3a4360", paddingTop: "4px", marginTop: "4px" }, title, text, fields, suggestions, actions, outcome, error);
      root.dataset.request = p.id;
      card = { root, waited: waitedSpan, actions, outcome, error, message: null, buttons: [], state: "", controls: null, replay: false };
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
    if (p.state !== "open") {
      card.actions.replaceChildren();
      card.actions.style.display = "none";
      card.error.style.display = "none";
      card.outcome.textContent = outcomeText(p);
      card.outcome.style.color = p.state === "allowed" ? "#7fdc9a" : p.state === "denied" ? "#ff9b8f" : "#c7cee2";
      card.outcome.style.display = "";
      card.root.style.opacity = "0.85";
      return;
    }
    card.outcome.style.display = "none";
    card.actions.style.display = "";
    const note = (text: string) => h("div", "ccviz-permission-note", { color: "#9aa4bf", fontStyle: "italic" }, text);
    if (!p.answerable) return void card.actions.replaceChildren(note("Asked through api/hooks: answer it in Claude Code."));
    if (this.view.replay) return void card.actions.replaceChildren(note("A replay: this was asked when the session ran."));
    if (controls === null) return void card.actions.replaceChildren(note("…"));
    if (!controls) return void card.actions.replaceChildren(note("Waiting for a controller (the ingest token) to answer."));
    const allow = button("allow", "Allow", "#7fdc9a");
    const deny = button("deny", "Deny", "#ff9b8f");
    const always = button("always", `Always allow ${p.tool} this session`, "transparent", { color: "#dfe5f5", borderColor: "#4b5470", fontWeight: "400" });
    const message = h("input", "message", { font: FONT, flex: "1 1 120px", minWidth: "0", color: "#eef1f8", background: "#262c3b", border: "1px solid #3a4258", borderRadius: "6px", padding: "2px 6px" });
    message.placeholder = "Message with Deny (optional)";
    message.maxLength = 500;
    message.setAttribute("aria-label", "Message with a deny");
    message.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") deny.click();
    });
    card.message = message;
    card.buttons = [allow, deny, always];
    allow.addEventListener("click", () => this.answer(card, { request: p.id, behavior: "allow", source: this.source }));
    deny.addEventListener("click", () => {
      const text = message.value.trim();
      this.answer(card, { request: p.id, behavior: "deny", source: this.source, ...(text ? { message: text } : {}) });
    });
    always.addEventListener("click", () => this.answer(card, { request: p.id, behavior: "allow", always: true, source: this.source }));
    const row = (...c: Node[]) => h("div", "", { display: "flex", flexWrap: "wrap", gap: "6px", alignItems: "center", marginTop: "4px" }, ...c);
    card.actions.replaceChildren(row(allow, deny, message), row(always));
  }

  private answer(card: Card, answer: PermissionAnswer): void {
    for (const b of card.buttons) b.disabled = true;
    card.error.style.display = "none";
    this.port.act("permission", { ...answer }).then(
      (ack) => {
        this.acks.push(ack);
        if (ack.ok) return; // the snapshot will say what it did
        for (const b of card.buttons) b.disabled = false;
        card.error.textContent = ack.error ?? "refused";
        card.error.style.display = "";
      },
      (err) => {
        for (const b of card.buttons) b.disabled = false;
        card.error.textContent = `not sent: ${(err as Error)?.message ?? err}`;
        card.error.style.display = "";
      },
    );
  }
}
