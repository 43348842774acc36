// Looking closer and the legend: DOM panels over the town (so they read the same on the page
// and in a notebook widget; text is always set with textContent, never as HTML).
//
// - hover a character, a building or the HUD: a panel with what the snapshot says about it
//   (type, parent, state, the current tool and its summary, last actions, calls, failures);
//   click to pin it (click elsewhere or Esc to let go);
// - click a line of the ticker: that event's own fields, and its raw JSON on demand;
// - `?` (or the ? button in the ticker's corner): the legend of places, costumes, tags and
//   effects.
import type { Agent, Place, Snapshot, Tokens } from "../types";
import { BUBBLES, CHAR_H, CHAR_W, makeCanvas, paintCharacter, roofColour } from "./art";
import { formatCount, type TickerEntry } from "./hud";
import { HOME } from "./facts";
import { C, LOOKS, lookKey, STATUS_COLOURS } from "./palette";
import type { Hit, TownScene } from "./scene";

const FONT = '12px/1.45 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", sans-serif';
const MONO = '11px/1.4 "DejaVu Sans Mono", ui-monospace, Menlo, monospace';
const PANEL_BG = "rgba(27,31,44,0.96)";

/** What each place is for, in a few words (the tools sent there come from the snapshot's own
 * rules; a place added at run time has no words here and shows its tools only). */
const PLACE_WORDS: Record<string, string> = {
  square: "Home: prompts arrive here and turns end here.",
  library: "Reading and searching files and code.",
  workshop: "Writing and editing files.",
  terminal: "Running shell commands.",
  observatory: "The web: fetching pages, searching.",
  questboard: "Planning: the todo list and tasks.",
  guildhall: "Spawning subagents and messaging them.",
  embassy: "MCP servers: one booth per server.",
  helpdesk: "Waiting for you: permissions and questions.",
};

const LOOK_WORDS: Record<string, string> = {
  main: "the main agent (crown)",
  explore: "Explore subagent (green, explorer hat)",
  plan: "Plan subagent (purple, wizard hat)",
  general: "general-purpose subagent (blue cap)",
  other: "any other subagent type (pink beanie)",
};

const BUBBLE_WORDS: Record<string, string> = {
  say: "what an agent does or says",
  prompt: "your prompt",
  wait: "waiting for you",
  flash: "a failure or a refusal",
  note: "a note added from Python",
  compact: "compacting its context",
};

type Attrs = Record<string, string>;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  style: Partial<CSSStyleDeclaration> | null = null,
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (style) Object.assign(e.style, style);
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

function withClass<T extends HTMLElement>(e: T, cls: string, attrs: Attrs = {}): T {
  e.className = cls;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

const row = (key: string, value: Node | string) =>
  h("div", { display: "flex", gap: "8px", alignItems: "baseline" }, h("span", { color: "#9aa4bf", minWidth: "70px", flex: "none" }, key), h("span", { minWidth: "0", overflowWrap: "anywhere" }, value));

const chip = (text: string, bg: string, fg = "#ffffff") =>
  h("span", { background: bg, color: fg, borderRadius: "4px", padding: "0 5px", fontWeight: "bold", whiteSpace: "nowrap" }, text);

function ago(at: number): string {
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min ago` : `${Math.round(m / 60)} h ago`;
}

/** A JSON view that opens on demand. */
function rawJson(value: unknown): HTMLElement {
  const pre = h("pre", {
    font: MONO,
    margin: "4px 0 0",
    padding: "6px",
    background: "rgba(0,0,0,0.35)",
    borderRadius: "6px",
    maxHeight: "180px",
    overflow: "auto",
    whiteSpace: "pre-wrap",
    overflowWrap: "anywhere",
  });
  pre.textContent = JSON.stringify(value, null, 2);
  const summary = h("summary", { cursor: "pointer", color: "#9cc4ff" }, "raw JSON");
  return withClass(h("details", { marginTop: "6px" }, summary, pre), "ccviz-town-raw");
}

function avatar(look: string, size = 28): HTMLCanvasElement {
  const k = 2;
  const canvas = makeCanvas(CHAR_W * k, CHAR_H * k);
  paintCharacter(canvas, k, LOOKS[look] ?? LOOKS.other, 0);
  Object.assign(canvas.style, { width: `${(size * CHAR_W) / CHAR_H}px`, height: `${size}px`, flex: "none" });
  return canvas;
}

export class Overlay {
  readonly panel: HTMLDivElement;
  readonly legend: HTMLDivElement;
  private hovered: Hit | null = null;
  private pinned: Hit | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private pointer = { x: 0, y: 0 };
  private cleanup: (() => void)[] = [];

  constructor(
    private root: HTMLElement,
    private scene: TownScene,
  ) {
    const base: Partial<CSSStyleDeclaration> = {
      position: "absolute",
      font: FONT,
      color: "#eef1f8",
      background: PANEL_BG,
      border: "1px solid #3a4360",
      borderRadius: "9px",
      boxShadow: "0 6px 22px rgba(0,0,0,0.35)",
      lineHeight: "1.45",
      textAlign: "left",
      boxSizing: "border-box",
      display: "none",
    };
    this.panel = withClass(h("div", { ...base, zIndex: "5", padding: "8px 10px", width: "min(330px, calc(100% - 16px))", maxHeight: "calc(100% - 16px)", overflow: "auto" }), "ccviz-town-panel", {
      role: "dialog",
      "aria-live": "polite",
    });
    this.legend = withClass(
      h("div", { ...base, zIndex: "6", left: "50%", top: "50%", transform: "translate(-50%, -50%)", padding: "10px 14px", width: "min(640px, calc(100% - 16px))", maxHeight: "calc(100% - 16px)", overflow: "auto" }),
      "ccviz-town-legend",
      { role: "dialog", "aria-label": "Legend" },
    );
    root.append(this.panel, this.legend);
    if (root.tabIndex < 0) root.tabIndex = 0; // a widget can take the keyboard once clicked
    root.style.outline = "none";

    const listen = <K extends keyof HTMLElementEventMap>(el: HTMLElement | Document, type: K, f: (e: HTMLElementEventMap[K]) => void) => {
      el.addEventListener(type, f as EventListener);
      this.cleanup.push(() => el.removeEventListener(type, f as EventListener));
    };
    const inOverlay = (e: Event) => {
      const t = e.target as Node | null;
      return !!t && (this.panel.contains(t) || this.legend.contains(t));
    };
    listen(root, "pointermove", (e) => {
      if (inOverlay(e)) return;
      const p = this.local(e);
      const hit = this.scene.hitTest(p.x, p.y);
      root.style.cursor = hit ? "pointer" : "";
      this.pointer = p;
      if (this.pinned) return;
      if (!sameHit(hit, this.hovered)) {
        this.hovered = hit && hit.kind !== "help" && hit.kind !== "event" ? hit : null;
        this.show(this.hovered);
      } else if (this.hovered) this.position();
    });
    listen(root, "pointerleave", () => {
      root.style.cursor = "";
      if (!this.pinned) this.show((this.hovered = null));
    });
    listen(root, "click", (e) => {
      if (inOverlay(e)) return;
      const p = this.local(e);
      this.pointer = p;
      const hit = this.scene.hitTest(p.x, p.y);
      if (hit?.kind === "help") return this.toggleLegend();
      if (this.legend.style.display !== "none") this.toggleLegend(false);
      this.pinned = hit;
      this.hovered = null;
      this.show(hit);
    });
    listen(document, "keydown", (e) => {
      const t = e.target as HTMLElement | null;
      const editable = !!t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
      const ours = !t || t === document.body || t === document.documentElement || root.contains(t);
      if (editable || !ours || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "?") {
        e.preventDefault();
        this.toggleLegend();
      } else if (e.key === "Escape") {
        this.toggleLegend(false);
        this.pinned = this.hovered = null;
        this.show(null);
      }
    });
    scene.onChange = () => this.refreshSoon();
  }

  destroy(): void {
    for (const f of this.cleanup.splice(0)) f();
    this.panel.remove();
    this.legend.remove();
  }

  /** The legend is showing. */
  get legendOpen(): boolean {
    return this.legend.style.display !== "none";
  }

  /** What the panel shows: "agent:<id>", "place:<id>", "event", "hud", or null. */
  get showing(): string | null {
    const hit = this.pinned ?? this.hovered;
    if (!hit || this.panel.style.display === "none") return null;
    return hit.kind === "agent" || hit.kind === "place" ? `${hit.kind}:${hit.id}` : hit.kind;
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const r = this.root.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  toggleLegend(open = !this.legendOpen): void {
    if (open) {
      this.legend.replaceChildren(...this.legendContent());
      this.legend.style.display = "block";
      this.legend.scrollTop = 0;
    } else this.legend.style.display = "none";
  }

  private refreshSoon(): void {
    if (this.refreshTimer !== null || this.panel.style.display === "none") return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      const hit = this.pinned ?? this.hovered;
      if (hit && hit.kind !== "event") this.fill(hit, false);
    }, 250);
  }

  private show(hit: Hit | null): void {
    this.scene.focus = hit?.kind === "agent" ? hit.id : null;
    if (!hit || hit.kind === "help") {
      this.panel.style.display = "none";
      return;
    }
    this.fill(hit, true);
  }

  /** Write the panel for `hit` (keeping an open raw JSON view open on a refresh). */
  private fill(hit: Hit, move: boolean): void {
    const snap = this.scene.snapshot;
    const open = !move && (this.panel.querySelector("details")?.open ?? false); // a refresh keeps it open
    let body: HTMLElement[] | null = null;
    if (hit.kind === "agent") body = snap?.agents?.[hit.id] ? this.agentPanel(snap, snap.agents[hit.id]) : null;
    else if (hit.kind === "place") body = snap || this.scene.placeLabel(hit.id) ? this.placePanel(snap, hit.id) : null;
    else if (hit.kind === "hud") body = snap ? this.hudPanel(snap) : null;
    else if (hit.kind === "event") body = this.eventPanel(hit.entry);
    if (!body) {
      this.panel.style.display = "none";
      return;
    }
    const pinned = this.pinned !== null;
    const close = withClass(
      h("button", { float: "right", marginLeft: "8px", background: "none", border: "none", color: "#aab3cc", font: FONT, fontSize: "14px", cursor: "pointer", padding: "0 2px" }, "×"),
      "ccviz-town-close",
      { type: "button", "aria-label": "Close" },
    );
    close.addEventListener("click", () => {
      this.pinned = this.hovered = null;
      this.show(null);
    });
    this.panel.replaceChildren(...(pinned ? [close] : []), ...body);
    if (open) {
      const d = this.panel.querySelector("details");
      if (d) d.open = true;
    }
    this.panel.dataset.kind = hit.kind;
    this.panel.style.display = "block";
    this.panel.querySelector("details")?.addEventListener("toggle", () => this.position(false));
    this.position(move);
  }

  /** Next to the pointer (or where it is), inside the view. */
  private position(toPointer = true): void {
    const r = this.root.getBoundingClientRect();
    const pw = this.panel.offsetWidth || 300;
    const ph = this.panel.offsetHeight || 160;
    let x = toPointer ? this.pointer.x + 16 : parseFloat(this.panel.style.left) || 6;
    let y = toPointer ? this.pointer.y + 14 : parseFloat(this.panel.style.top) || 6;
    if (x + pw > r.width - 6) x = Math.max(6, toPointer ? this.pointer.x - pw - 16 : r.width - pw - 6);
    if (y + ph > r.height - 6) y = Math.max(6, r.height - ph - 6);
    this.panel.style.left = `${Math.round(x)}px`;
    this.panel.style.top = `${Math.round(y)}px`;
  }

  // -- the panels ------------------------------------------------------------------------

  private name(snap: Snapshot | null, id: string | null | undefined): string {
    if (!id) return "";
    return snap?.agents?.[id]?.name ?? id;
  }

  private agentPanel(snap: Snapshot, a: Agent): HTMLElement[] {
    const look = lookKey(a.kind, a.type);
    const title = h(
      "div",
      { display: "flex", alignItems: "center", gap: "8px", marginBottom: "4px" },
      avatar(look),
      h("div", null, h("div", { fontWeight: "bold", fontSize: "13px", color: LOOKS[look]?.label ?? "#fff" }, a.name), h("div", { color: "#aab3cc" }, a.kind === "main" ? "main agent" : `${a.type} subagent`)),
    );
    const out: HTMLElement[] = [title];
    if (a.parent) out.push(row("parent", `${this.name(snap, a.parent)}${snap.agents[a.parent]?.kind === "main" ? " (main)" : ""}`));
    const kids = Object.values(snap.agents).filter((k) => k.parent === a.id);
    if (kids.length) {
      const here = kids.filter((k) => k.state !== "left").length;
      out.push(row("subagents", `${kids.map((k) => k.name).join(", ")}${here < kids.length ? ` (${kids.length - here} left)` : ""}`));
    }
    const state = [a.state + (a.wait ? ` (${a.wait})` : ""), a.overlay ? `· ${a.overlay}` : ""].filter(Boolean).join(" ");
    out.push(row("state", `${state} at ${this.scene.placeLabel(a.place)}`));
    if (a.tool) {
      const tool = h("span", null, chip(a.tool.name, this.scene.placeColour(a.place)), a.tool.booth ? ` booth ${a.tool.booth}` : "");
      out.push(row("tool", tool));
      if (a.tool.summary) out.push(row("input", withClass(h("span", { color: "#ffe7a3" }, a.tool.summary), "ccviz-town-summary")));
    } else out.push(row("tool", h("span", { color: "#9aa4bf" }, "none")));
    out.push(row("calls", `${a.calls ?? 0} tool calls · ${a.failures ?? 0} failures`));
    out.push(row("tokens", tokensOf(snap, a)));
    if (a.model) out.push(row("model", a.model));
    if (a.context && a.context.window > 0) {
      const pct = Math.round((100 * a.context.used) / a.context.window);
      out.push(row("context", `${formatCount(a.context.used)} of ${formatCount(a.context.window)} (${pct} %)`));
    }
    if (a.note) out.push(row("note", a.note));
    const acts = this.scene.history.get(a.id) ?? [];
    if (acts.length) {
      const list = h("div", { marginTop: "4px" }, h("div", { color: "#9aa4bf" }, "last actions"));
      for (const act of acts.slice(-6).reverse()) {
        const look = BUBBLES[act.kind as keyof typeof BUBBLES];
        list.append(
          h(
            "div",
            { display: "flex", gap: "6px", alignItems: "baseline" },
            chip(act.kind, look ? look.bg : "#4b566f", look ? look.text : "#ffffff"),
            h("span", { minWidth: "0", overflowWrap: "anywhere", flex: "1" }, act.text || "—"),
            h("span", { color: "#7f89a6", whiteSpace: "nowrap" }, ago(act.at)),
          ),
        );
      }
      out.push(list);
    }
    out.push(rawJson(a));
    return out;
  }

  private placePanel(snap: Snapshot | null, id: string): HTMLElement[] {
    const place = snap?.places?.[id];
    const label = this.scene.placeLabel(id);
    const out: HTMLElement[] = [
      h("div", { display: "flex", alignItems: "center", gap: "8px", marginBottom: "4px" }, swatch(place ?? { id, label, x: 0, y: 0 }), h("b", { fontSize: "13px" }, label)),
    ];
    if (PLACE_WORDS[id]) out.push(h("div", { color: "#cfd6e8", marginBottom: "3px" }, PLACE_WORDS[id]));
    const here = Object.values(snap?.agents ?? {}).filter((a) => a.place === id && a.state !== "left");
    out.push(row("here now", here.length ? here.map((a) => a.name + (a.tool ? ` (${a.tool.name})` : "")).join(", ") : "nobody"));
    const calls = snap?.stats?.placeCalls?.[id];
    if (calls !== undefined) out.push(row("calls", `${calls} tool calls so far`));
    const tools = toolsOf(snap, id);
    if (tools) out.push(row("tools", tools));
    if (place?.booths?.length) out.push(row("booths", place.booths.join(", ")));
    if (place) out.push(rawJson(place));
    return out;
  }

  private hudPanel(snap: Snapshot): HTMLElement[] {
    const [bg, fg] = STATUS_COLOURS[String(snap.status)] ?? STATUS_COLOURS.idle;
    const out: HTMLElement[] = [h("div", { fontWeight: "bold", fontSize: "13px", marginBottom: "4px" }, "This session ", chip(String(snap.status).toUpperCase(), bg, fg))];
    if (snap.prompt) out.push(row("prompt", snap.prompt));
    if (snap.title && snap.title !== snap.prompt) out.push(row("title", snap.title));
    if (snap.caption) out.push(row("now", snap.caption));
    if (snap.cwd) out.push(row("folder", snap.cwd));
    if (snap.model) out.push(row("model", snap.model));
    const st = snap.stats;
    const tools = Object.values(st?.toolCalls ?? {}).reduce((x, y) => x + y, 0);
    out.push(row("counters", `${st?.prompts ?? 0} prompts · ${tools} tool calls · ${st?.failures ?? 0} failures · ${st?.subagents ?? 0} subagents`));
    out.push(row("tokens", st?.tokens ? tokenParts(st.tokens) : "none counted yet"));
    if (snap.continues) out.push(row("after", `/clear of ${snap.continues.slice(0, 8)}`));
    return out;
  }

  private eventPanel(entry: TickerEntry): HTMLElement[] {
    const e = entry.effect;
    const look = BUBBLES[e.kind as keyof typeof BUBBLES];
    const out: HTMLElement[] = [
      h("div", { display: "flex", gap: "8px", alignItems: "center", marginBottom: "4px" }, h("b", { fontSize: "13px" }, "Event"), chip(e.kind, look ? look.bg : "#4b566f", look ? look.text : "#fff"), typeof e.seq === "number" ? h("span", { color: "#9aa4bf" }, `#${e.seq}`) : null),
    ];
    if (e.agentId) out.push(row("agent", `${entry.name ?? e.agentId} (${e.agentId})`));
    if (e.text) out.push(row("text", withClass(h("span", { color: "#ffe7a3" }, String(e.text)), "ccviz-town-summary")));
    for (const [k, v] of Object.entries(e)) {
      if (["kind", "agentId", "text", "seq", "gameId"].includes(k)) continue;
      out.push(row(k, typeof v === "string" ? v : JSON.stringify(v)));
    }
    out.push(row("arrived", `${new Date(entry.at).toLocaleTimeString()} (${ago(entry.at)})`));
    const raw = rawJson(e);
    out.push(raw);
    return out;
  }

  private legendContent(): HTMLElement[] {
    const snap = this.scene.snapshot;
    const section = (title: string) => h("div", { fontWeight: "bold", color: "#f2c14e", margin: "10px 0 4px", letterSpacing: "0.3px" }, title);
    const grid = () => h("div", { display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(270px, 1fr))", gap: "4px 14px" });
    const item = (icon: Node, words: Node | string) =>
      h("div", { display: "flex", alignItems: "center", gap: "8px", minWidth: "0" }, icon, h("span", { minWidth: "0" }, words));
    const close = withClass(
      h("button", { float: "right", background: "none", border: "none", color: "#aab3cc", font: FONT, fontSize: "15px", cursor: "pointer" }, "×"),
      "ccviz-town-close",
      { type: "button", "aria-label": "Close the legend" },
    );
    close.addEventListener("click", () => this.toggleLegend(false));
    const out: HTMLElement[] = [
      close,
      h("div", { fontWeight: "bold", fontSize: "14px" }, "How to read the town"),
      h("div", { color: "#cfd6e8" }, "Each Claude Code session is a town; each agent a character. A tool call sends its agent to a place. Hover or click a character, a building, the top bar or a line of recent events for details. Press ? or Esc to close."),
    ];
    out.push(section("Places"));
    const places = grid();
    for (const p of Object.values(this.scene.places)) {
      const tools = toolsOf(snap, p.id, 5);
      const words = h("span", null, h("b", null, p.label), ` — ${PLACE_WORDS[p.id] ?? "a place added by the session"}`, tools ? h("span", { color: "#9aa4bf" }, ` (${tools})`) : null);
      places.append(item(swatch(p), words));
    }
    out.push(places);
    out.push(section("Characters"));
    const looks = grid();
    for (const [look, words] of Object.entries(LOOK_WORDS)) looks.append(item(avatar(look, 30), words));
    looks.append(item(h("span", { width: "22px", borderTop: "2px solid #3aa58f", flex: "none" }), "a thread ties a subagent to the agent that spawned it (nested subagents make a tree)"));
    out.push(looks);
    out.push(section("Above heads"));
    const tags = grid();
    tags.append(
      item(chip("Read", "#b8564b"), "the tool in use, in its place's colour"),
      item(chip("permission?", "#f2c14e", "#3b3330"), "waiting for your permission (or input?)"),
      item(badge("?", "#f2c14e", "#3b3330"), "waiting for you"),
      item(badge("!", "#e0483e"), "the last tool call failed"),
      item(badge("✓", "#4caf6a"), "done: the turn has ended"),
      item(h("span", { letterSpacing: "2px", fontWeight: "bold" }, "•••"), "thinking"),
      item(chip("#3", "#2b2230"), "a name shortened in a crowd (hover for the full one)"),
      item(chip("+2 more", "#ffffff", "#2d2622"), "speech bubbles folded where there is no room"),
    );
    out.push(tags);
    out.push(section("Bubbles and effects"));
    const fx = grid();
    for (const [kind, words] of Object.entries(BUBBLE_WORDS)) {
      const look = BUBBLES[kind as keyof typeof BUBBLES];
      if (look) fx.append(item(h("span", { background: look.bg, color: look.text, border: `1px solid ${look.border}`, borderRadius: "6px", padding: "0 6px", flex: "none" }, kind), words));
    }
    fx.append(
      item(h("span", { color: "#fff3b0", fontWeight: "bold" }, "◯"), "a ring: a subagent joins"),
      item(h("span", { color: "#aab3cc" }, "░"), "fading away: a subagent leaves"),
      item(h("span", { color: "#ff3b30", fontWeight: "bold" }, "▮"), "a red blink and a shake: a failure"),
      item(h("span", { color: "#8a5cf6" }, "✦"), "a spiral of sparks: compacting the context"),
      item(h("span", { color: "#ffec96" }, "✺"), "the help desk's lamp glows: someone waits for you"),
    );
    out.push(fx);
    out.push(section("The top bar and the corner"));
    out.push(
      h(
        "div",
        { color: "#cfd6e8" },
        "The top bar shows the prompt being worked on (or the session's title), the time and the status; under it, one sentence of what is happening now, and the counters. Recent events run in the corner; click one for its fields and raw JSON. The quest board lists the todos.",
      ),
    );
    return out;
  }
}

/** A place's colour: its roof's, or the plaza's paving for the home place. */
function swatch(p: Place): HTMLElement {
  const colour = p.id === HOME ? C.plaza : roofColour(p);
  return h("span", { width: "12px", height: "12px", borderRadius: "3px", background: colour, border: "1px solid rgba(255,255,255,0.25)", flex: "none" });
}

function badge(text: string, bg: string, fg = "#ffffff"): HTMLElement {
  return h("span", { display: "inline-flex", alignItems: "center", justifyContent: "center", width: "16px", height: "16px", borderRadius: "50%", background: bg, color: fg, fontWeight: "bold", fontSize: "11px", flex: "none" }, text);
}

function sameHit(a: Hit | null, b: Hit | null): boolean {
  if (!a || !b) return a === b;
  if (a.kind !== b.kind) return false;
  if (a.kind === "agent" || a.kind === "place") return a.id === (b as typeof a).id;
  if (a.kind === "event") return a.entry === (b as typeof a).entry;
  return true;
}

/** The tools the snapshot's rules send to `placeId` (names and prefixes; the first `max`), or
 * "". */
function toolsOf(snap: Snapshot | null, placeId: string, max = Infinity): string {
  const rules = snap?.rules as { tools?: Record<string, string>; prefixes?: Record<string, string>; default?: string } | undefined;
  if (!rules) return "";
  const names = Object.entries(rules.tools ?? {}).filter(([, p]) => p === placeId).map(([t]) => t);
  const prefixes = Object.entries(rules.prefixes ?? {}).filter(([, p]) => p === placeId).map(([t]) => `${t}…`);
  const all = [...names, ...prefixes];
  if (rules.default === placeId) all.unshift("every tool no rule names");
  return all.length > max ? `${all.slice(0, max).join(", ")}, …` : all.join(", ");
}

/** An agent's tokens, read by the server from the session's transcript (live and in replays). */
function tokensOf(_snap: Snapshot, a: Agent): string {
  return a.tokens ? tokenParts(a.tokens) : "none counted yet";
}

/** "12.3k (in 1.2k · out 800 · cache 10.3k)". */
function tokenParts(t: Tokens): string {
  const cache = t.cacheRead + t.cacheWrite;
  return `${formatCount(t.total)} (in ${formatCount(t.input)} · out ${formatCount(t.output)} · cache ${formatCount(cache)})`;
}
