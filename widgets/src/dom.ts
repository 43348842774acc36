// Small DOM helpers shared by the page's two screens (one game, the lobby).

export const meta = (name: string): string | null =>
  document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? null;

export const STATUS_TEXT: Record<string, string | null> = {
  connected: null,
  connecting: "connecting…",
  reconnecting: "reconnecting…",
  unauthorized: "not authorised: open the page with ?token=…",
};

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string | null)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null) node.append(c); // strings become text nodes: never HTML
  return node;
}

export function withToken(href: string, token: string | null): string {
  return token ? `${href}?token=${encodeURIComponent(token)}` : href;
}

/** Where "Notify me" (the lobby) remembers the choice, for every page of this origin. */
export const NOTIFY_KEY = "ccviz-notify";

/** Did the person ask for browser notifications here (and the browser allow them)? */
export function notifyOn(): boolean {
  try {
    return typeof Notification !== "undefined" && Notification.permission === "granted" && localStorage.getItem(NOTIFY_KEY) === "1";
  } catch {
    return false;
  }
}
