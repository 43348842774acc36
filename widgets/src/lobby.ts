// The lobby: every game the server knows, live or stored, as cards.
import type { CcvizSocket } from "./socket";
import type { GameSummary } from "./types";
import { el, STATUS_TEXT, withToken } from "./dom";

export function lobbyPage(app: HTMLElement, socket: CcvizSocket, base: string, token: string | null, errors: string[]): void {
  document.body.classList.add("ccviz-lobby");
  document.title = "ccviz: sessions";
  const status = el("span", { class: "conn" }, "connecting…");
  const list = el("div", { class: "games" });
  const empty = el(
    "p",
    { class: "empty" },
    "No sessions yet. Start Claude Code with the ccviz hook installed, or run ",
    el("code", {}, "ccviz demo"),
    ".",
  );
  app.append(
    el(
      "main",
      { class: "lobby" },
      el("header", {}, el("h1", {}, "ccviz"), el("span", { class: "sub" }, "Claude Code sessions, live"), status),
      list,
      empty,
    ),
  );
  let rows: GameSummary[] = [];
  let ready = false;
  const draw = () => {
    list.replaceChildren(...rows.map((g) => gameCard(g, base, token)));
    empty.hidden = rows.length > 0;
  };
  socket.onStatus((s) => {
    status.textContent = s === "connected" ? "live" : (STATUS_TEXT[s] ?? s);
    status.dataset.state = s;
  });
  socket.onGames((games) => {
    rows = [...games].sort((a, b) => (b.lastEventAt ?? 0) - (a.lastEventAt ?? 0));
    ready = true;
    draw();
  });
  setInterval(draw, 15_000); // "3 min ago" moves on
  window.__ccviz = {
    lobby: true,
    get ready() {
      return ready;
    },
    games: () => structuredClone(rows),
    get errors() {
      return errors;
    },
  };
}

function gameCard(g: GameSummary, base: string, token: string | null): HTMLElement {
  const status = g.status ?? (g.live === false ? "stored" : "idle");
  const href = withToken(`${base}view/${encodeURIComponent(g.gameId)}`, token);
  const facts: (string | null)[] = [
    g.agents != null ? `${g.agents} agent${g.agents === 1 ? "" : "s"}` : null,
    `${g.seq} event${g.seq === 1 ? "" : "s"}`,
    g.lastEventAt ? ago(g.lastEventAt) : null,
  ];
  return el(
    "a",
    { class: "game", href, "data-game": g.gameId },
    el(
      "div",
      { class: "row1" },
      el("span", { class: `badge ${status}` }, status),
      g.replay ? el("span", { class: "badge replay" }, "replay") : null,
      el("span", { class: "title" }, g.title || g.gameId),
    ),
    el("div", { class: "cwd" }, g.cwd || ""),
    el("div", { class: "facts" }, facts.filter(Boolean).join(" · ")),
  );
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}
