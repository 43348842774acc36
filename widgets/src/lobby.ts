// The lobby: every game the server knows, live or stored, as cards with "watch" and
// "replay"; a search box and filters by status and project narrow the list. "Who needs you"
// leads it: the games whose rows say someone waits for a person (protocol §14), newest
// first, each waiting agent with its text and, for a permission, Allow / Deny for a
// controller; an opt-in browser notification when something starts waiting.
import { el, NOTIFY_KEY, notifyOn, STATUS_TEXT, withToken } from "./dom";
import { waited } from "./permissions";
import type { Ack, CcvizSocket } from "./socket";
import { MAX_MESSAGE } from "./town/facts";
import type { GameSummary, Role, Waiting } from "./types";

/** When a game's newest wait started (null: nobody waits). */
export function waitingSince(g: GameSummary): number | null {
  const w = g.waiting ?? [];
  if (!w.length) return null;
  return Math.max(...w.map((x) => x.since ?? 0));
}

/** The lobby's order: games with someone waiting first (newest wait first), then the rest
 * as the server sent them (newest `lastEventAt` first). */
export function lobbyOrder(rows: GameSummary[]): { waiting: GameSummary[]; others: GameSummary[] } {
  const waiting = rows.filter((g) => (g.waiting ?? []).length > 0);
  waiting.sort((a, b) => (waitingSince(b) ?? 0) - (waitingSince(a) ?? 0));
  return { waiting, others: rows.filter((g) => !(g.waiting ?? []).length) };
}

/** The waits that started since `seen` was filled (keys of game, agent, kind and start). */
export function newWaits(rows: GameSummary[], seen: Set<string>): { game: GameSummary; wait: Waiting }[] {
  const out: { game: GameSummary; wait: Waiting }[] = [];
  for (const game of rows)
    for (const wait of game.waiting ?? []) {
      const key = `${game.gameId}\u0000${wait.agent}\u0000${wait.wait}\u0000${wait.request ?? wait.since ?? ""}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ game, wait });
      }
    }
  return out;
}

const WAIT_WORDS: Record<string, string> = {
  permission: "asks permission",
  input: "has a question",
  idle: "waits for your next prompt",
};

/** What a waiting row's request asks, worded (a plain permission says what `wait` says). */
const KIND_WORDS: Record<string, string> = {
  question: "has a question for you",
  elicitation: "is asked for input by an MCP server",
};

/** What a wait's request is: a plain permission (Allow / Deny right here), a question or an
 * elicitation (answered in the game, where its options or its form are), or none. */
export function requestKind(w: Waiting): "permission" | "question" | "elicitation" | null {
  if (!w.request) return null;
  if (w.kind === "question" || w.kind === "elicitation") return w.kind;
  // A server that says no kind: an agent waiting for input on a request is at a form.
  return w.kind === undefined && w.wait === "input" ? "elicitation" : "permission";
}

/** What a card's badge says: the game's status, or "stored" for a game not in memory. */
export function statusOf(g: GameSummary): string {
  return g.status ?? (g.live === false ? "stored" : "idle");
}

/** The project of a game: the last part of its working folder. */
export function projectOf(g: GameSummary): string | null {
  if (!g.cwd) return null;
  const parts = g.cwd.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? g.cwd;
}

export interface LobbyFilter {
  text: string;
  status: string; // "" for any; "replay" for replay games
  project: string; // "" for any
}

/** Does a game pass the filter? Search looks at the title, the folder and the id. */
export function matches(g: GameSummary, f: LobbyFilter): boolean {
  if (f.status === "replay" ? !g.replay : f.status && statusOf(g) !== f.status) return false;
  if (f.project && projectOf(g) !== f.project) return false;
  const needle = f.text.trim().toLowerCase();
  if (!needle) return true;
  return [g.title, g.cwd, g.gameId].some((s) => s && s.toLowerCase().includes(needle));
}

export function lobbyPage(
  app: HTMLElement,
  socket: CcvizSocket,
  base: string,
  token: string | null,
  errors: string[],
): void {
  document.body.classList.add("ccviz-lobby");
  document.title = "ccviz: sessions";
  const status = el("span", { class: "conn" }, "connecting…");
  const list = el("div", { class: "games" });
  const empty = el(
    "p",
    { class: "empty" },
    "No sessions yet. Start Claude Code with the ccviz hook installed, or run ",
    el("code", {}, "ccviz demo"),
    " or ",
    el("code", {}, "ccviz view FILE"),
    ".",
  );
  const none = el("p", { class: "empty none" }, "No session matches.");
  const search = el("input", {
    type: "search",
    class: "search",
    placeholder: "Search titles, folders, ids…",
    "aria-label": "Search sessions",
  });
  const statusSelect = el("select", { class: "status-filter", "aria-label": "Filter by status" });
  const projectSelect = el("select", { class: "project-filter", "aria-label": "Filter by project" });
  for (const [value, label] of [
    ["", "any status"],
    ["active", "active"],
    ["waiting", "waiting"],
    ["idle", "idle"],
    ["ended", "ended"],
    ["stored", "stored"],
    ["replay", "replays"],
  ])
    statusSelect.append(el("option", { value }, label));
  const count = el("span", { class: "count" });
  app.append(
    el(
      "main",
      { class: "lobby" },
      el("header", {}, el("h1", {}, "ccviz"), el("span", { class: "sub" }, "Claude Code sessions"), status, notifyButton()),
      el("div", { class: "filters" }, search, statusSelect, projectSelect, count),
      list,
      empty,
      none,
    ),
  );
  let rows: GameSummary[] = [];
  let ready = false;
  const filter = (): LobbyFilter => ({
    text: search.value,
    status: statusSelect.value,
    project: projectSelect.value,
  });
  const fillProjects = () => {
    const chosen = projectSelect.value;
    const projects = [...new Set(rows.map(projectOf).filter((p): p is string => !!p))].sort();
    projectSelect.replaceChildren(
      el("option", { value: "" }, "any project"),
      ...projects.map((p) => el("option", { value: p }, p)),
    );
    projectSelect.value = projects.includes(chosen) ? chosen : "";
  };
  let role: Role | null = null;
  const pending = new Map<string, string>(); // request → "sending…" or the refusal
  const acks: Ack[] = [];
  /** What a controller typed as the message to go with Deny, by request (kept across the
   * redraws the lobby makes on every update). */
  const drafts = new Map<string, string>();
  const answer = (g: GameSummary, w: Waiting, behavior: "allow" | "deny") => {
    const request = w.request!;
    const message = behavior === "deny" ? (drafts.get(request) ?? "").trim() : "";
    pending.set(request, "sending…");
    drafts.delete(request);
    draw();
    socket.act(g.gameId, "permission", { request, behavior, source: "lobby", ...(message ? { message } : {}) }).then(
      (ack: Ack) => {
        acks.push(ack);
        if (ack.ok) pending.set(request, behavior === "allow" ? "allowed" : "denied");
        else pending.set(request, ack.error ?? "refused");
        draw();
      },
      (err) => (pending.set(request, `not sent: ${(err as Error)?.message ?? err}`), draw()),
    );
  };
  const draw = () => {
    // A message being typed keeps its focus and caret through the redraw.
    const typing = document.activeElement instanceof HTMLInputElement && document.activeElement.classList.contains("message") ? document.activeElement : null;
    const caret = typing ? [typing.dataset.request ?? "", typing.selectionStart ?? 0, typing.selectionEnd ?? 0] as const : null;
    const f = filter();
    const shown = rows.filter((g) => matches(g, f));
    const { waiting, others } = lobbyOrder(shown);
    const card = (g: GameSummary) => gameCard(g, base, token, rows);
    const needs = waiting.map((g) => {
      const c = card(g);
      c.classList.add("game--waiting");
      c.append(waitingList(g, role === "controller", pending, drafts, answer, withToken(`${base}view/${encodeURIComponent(g.gameId)}`, token)));
      return c;
    });
    list.replaceChildren(
      ...(needs.length ? [el("h2", { class: "section needs" }, "Needs you"), ...needs] : []),
      ...(needs.length && others.length ? [el("h2", { class: "section" }, "Sessions")] : []),
      ...others.map(card),
    );
    empty.hidden = rows.length > 0;
    none.hidden = rows.length === 0 || shown.length > 0;
    count.textContent = rows.length ? `${shown.length} of ${rows.length}` : "";
    if (caret) {
      const again = [...list.querySelectorAll<HTMLInputElement>("input.message")].find((i) => i.dataset.request === caret[0]);
      again?.focus();
      again?.setSelectionRange(caret[1], caret[2]);
    }
  };
  for (const input of [search, statusSelect, projectSelect]) input.addEventListener("input", draw);
  socket.onStatus((s) => {
    status.textContent = s === "connected" ? "live" : (STATUS_TEXT[s] ?? s);
    status.dataset.state = s;
  });
  const notify = notifier(base, token);
  socket.onGames((games) => {
    rows = [...games].sort((a, b) => (b.lastEventAt ?? 0) - (a.lastEventAt ?? 0));
    if (socket.role) role = socket.role;
    else if (role === null) {
      // An older server says no role: without a token a viewer; with one, ask (an action
      // without a game is refused by its role for a viewer, by its fields for a controller).
      role = "viewer";
      if (token)
        void socket.call("agent-action", {}).then((ack) => {
          role = /controller role/i.test(String(ack.error ?? "")) ? "viewer" : "controller";
          draw();
        });
    }
    notify.games(rows);
    ready = true;
    fillProjects();
    draw();
  });
  setInterval(draw, 15_000); // "3 min ago" moves on
  window.__ccviz = {
    lobby: true,
    get ready() {
      return ready;
    },
    games: () => structuredClone(rows),
    shown: () => [...list.querySelectorAll<HTMLElement>(".game")].map((c) => c.dataset.game),
    get role() {
      return role;
    },
    notified: () => [...notified],
    acks: () => structuredClone(acks),
    get errors() {
      return errors;
    },
  };
}

/** One game: badges, title (a link to watch it), folder, facts, "watch" / "replay", and the
 * games a /clear links it to (the one it carried on from, the one that carried on from it). */
export function gameCard(g: GameSummary, base: string, token: string | null, all: GameSummary[] = []): HTMLElement {
  const status = statusOf(g);
  const view = `${base}view/${encodeURIComponent(g.gameId)}`;
  const watch = withToken(view, token);
  // From the first event, playing: on the viewer's own playhead (nobody else's view moves).
  const replay = `${view}?seq=0&play=1${token ? `&token=${encodeURIComponent(token)}` : ""}`;
  const facts: (string | null)[] = [
    g.agents != null ? `${g.agents} agent${g.agents === 1 ? "" : "s"}` : null,
    `${g.seq} event${g.seq === 1 ? "" : "s"}`,
    g.lastEventAt ? ago(g.lastEventAt) : null,
  ];
  return el(
    "div",
    { class: "game", "data-game": g.gameId },
    el(
      "div",
      { class: "row1" },
      el("span", { class: `badge badge--${status}` }, status),
      g.replay ? el("span", { class: "badge badge--replay" }, "replay") : null,
      el("a", { class: "title", href: watch }, g.title || g.gameId),
    ),
    el("div", { class: "cwd" }, g.cwd || ""),
    linkLine(g, all, base, token),
    el(
      "div",
      { class: "row2" },
      el("span", { class: "facts" }, facts.filter(Boolean).join(" · ")),
      el(
        "span",
        { class: "actions" },
        el("a", { class: "watch", href: watch }, status === "active" || status === "waiting" ? "watch live" : "watch"),
        g.seq > 0 ? el("a", { class: "replay-link", href: replay }, "replay from the start") : null,
      ),
    ),
  );
}

/** "after /clear of <title>" and "cleared into <title>", as links; null without links. */
export function linkLine(g: GameSummary, all: GameSummary[], base: string, token: string | null): HTMLElement | null {
  const link = (other: GameSummary | undefined, id: string) =>
    el("a", { href: withToken(`${base}view/${encodeURIComponent(id)}`, token) }, other?.title || id.slice(0, 8));
  const before = g.continues ? all.find((o) => o.gameId === g.continues) : undefined;
  const after = all.find((o) => o.continues === g.gameId);
  if (!g.continues && !after) return null;
  return el(
    "div",
    { class: "links" },
    g.continues ? el("span", {}, "after /clear of ", link(before, g.continues)) : null,
    g.continues && after ? " · " : null,
    after ? el("span", {}, "cleared into ", link(after, after.gameId)) : null,
  );
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

/** A waiting game's agents: who, what it waits for, since when; Allow / Deny on a permission
 * for a controller (the server says whether the request is still open: a refusal shows); a
 * question or a form is answered in the game (a link there), where its choices are. */
function waitingList(
  g: GameSummary,
  controller: boolean,
  pending: Map<string, string>,
  drafts: Map<string, string>,
  answer: (g: GameSummary, w: Waiting, behavior: "allow" | "deny") => void,
  game: string,
): HTMLElement {
  const now = Date.now();
  const rows = [...(g.waiting ?? [])].sort((a, b) => (b.since ?? 0) - (a.since ?? 0));
  return el(
    "ul",
    { class: "waiting" },
    ...rows.map((w) => {
      const said = w.request ? pending.get(w.request) : undefined;
      const buttons: (HTMLElement | null)[] = [];
      const kind = requestKind(w);
      if (kind === "question" || kind === "elicitation")
        buttons.push(el("a", { class: "answer-link", href: game, "data-request": w.request! }, controller ? "answer in the game" : "see it in the game"));
      else if (kind === "permission") {
        if (said) buttons.push(el("span", { class: "answer-note" }, said));
        else if (controller) {
          const allow = el("button", { type: "button", class: "allow", "data-request": w.request! }, "Allow");
          const deny = el("button", { type: "button", class: "deny", "data-request": w.request! }, "Deny");
          allow.addEventListener("click", () => answer(g, w, "allow"));
          deny.addEventListener("click", () => answer(g, w, "deny"));
          const message = el("input", {
            type: "text",
            class: "message",
            "data-request": w.request!,
            maxlength: String(MAX_MESSAGE),
            placeholder: "Message with Deny (optional)",
            "aria-label": `Message to ${w.name} with Deny`,
          });
          message.value = drafts.get(w.request!) ?? "";
          message.addEventListener("input", () => drafts.set(w.request!, message.value));
          message.addEventListener("keydown", (e) => {
            if (e.key === "Enter") answer(g, w, "deny");
          });
          buttons.push(message, allow, deny);
        } else buttons.push(el("span", { class: "answer-note" }, "a controller can answer"));
      }
      return el(
        "li",
        { class: `wait wait--${w.wait}${kind ? ` wait--${kind}` : ""}`, "data-agent": w.agent, ...(w.request ? { "data-request": w.request } : {}) },
        el("span", { class: "who" }, w.name),
        el("span", { class: "what" }, ` ${KIND_WORDS[kind ?? ""] ?? WAIT_WORDS[w.wait] ?? w.wait}`),
        w.since ? el("span", { class: "since" }, ` · ${waited(now - w.since)}`) : null,
        w.text ? el("div", { class: "text" }, w.text) : null,
        buttons.length ? el("span", { class: "answer" }, ...buttons) : null,
      );
    }),
  );
}

const notified: string[] = [];

/** "Notify me": asks the browser once, then remembers the choice for this origin. */
function notifyButton(): HTMLElement | null {
  if (typeof Notification === "undefined") return null;
  const b = el("button", { type: "button", class: "notify" }, notifyOn() ? "Notifications on" : "Notify me");
  b.title = "A browser notification when a session starts waiting for you";
  b.addEventListener("click", async () => {
    if (notifyOn()) {
      localStorage.removeItem(NOTIFY_KEY);
      b.textContent = "Notify me";
      return;
    }
    const answer = await Notification.requestPermission();
    if (answer === "granted") localStorage.setItem(NOTIFY_KEY, "1");
    b.textContent = answer === "granted" ? "Notifications on" : answer === "denied" ? "Notifications blocked" : "Notify me";
  });
  return b;
}

/** Tells of each wait that starts after the first list (the ones already there are known). */
function notifier(base: string, token: string | null): { games(rows: GameSummary[]): void } {
  const seen = new Set<string>();
  let first = true;
  return {
    games(rows) {
      const fresh = newWaits(rows, seen);
      if (first) return void (first = false);
      if (!notifyOn()) return;
      for (const { game, wait } of fresh) {
        const title = `${game.title || game.gameId.slice(0, 8)}: ${wait.name} ${KIND_WORDS[requestKind(wait) ?? ""] ?? WAIT_WORDS[wait.wait] ?? "waits"}`;
        try {
          const n = new Notification(title, { body: wait.text ?? "", tag: `ccviz-${game.gameId}` });
          n.onclick = () => {
            window.focus();
            location.href = withToken(`${base}view/${encodeURIComponent(game.gameId)}`, token);
          };
          notified.push(title);
        } catch {
          /* a browser that refuses page notifications */
        }
      }
    },
  };
}
