// The lobby: every game the server knows, live or stored, as cards with "watch" and
// "replay"; a search box and filters by status and project narrow the list.
import { el, STATUS_TEXT, withToken } from "./dom";
import type { CcvizSocket } from "./socket";
import type { GameSummary } from "./types";

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
      el("header", {}, el("h1", {}, "ccviz"), el("span", { class: "sub" }, "Claude Code sessions"), status),
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
  const draw = () => {
    const f = filter();
    const shown = rows.filter((g) => matches(g, f));
    list.replaceChildren(...shown.map((g) => gameCard(g, base, token, rows)));
    empty.hidden = rows.length > 0;
    none.hidden = rows.length === 0 || shown.length > 0;
    count.textContent = rows.length ? `${shown.length} of ${rows.length}` : "";
  };
  for (const input of [search, statusSelect, projectSelect]) input.addEventListener("input", draw);
  socket.onStatus((s) => {
    status.textContent = s === "connected" ? "live" : (STATUS_TEXT[s] ?? s);
    status.dataset.state = s;
  });
  socket.onGames((games) => {
    rows = [...games].sort((a, b) => (b.lastEventAt ?? 0) - (a.lastEventAt ?? 0));
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
