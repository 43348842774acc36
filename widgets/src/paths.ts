// Base paths and socket.io paths, shared by the page and the widget.

/** "/socket.io", "socket.io/", "/user/x/ccviz/socket.io/" → "/…/socket.io" (socket.io adds the
 * trailing slash). */
export function normalizeSocketPath(path: string | null | undefined): string {
  const p = (path || "/socket.io").trim().replace(/\/+$/, "");
  return p.startsWith("/") ? p : `/${p}`;
}

/** A base path always starts and ends with "/". */
export function normalizeBase(base: string | null | undefined): string {
  let b = (base || "/").trim();
  if (!b.startsWith("/")) b = `/${b}`;
  if (!b.endsWith("/")) b = `${b}/`;
  return b;
}

/** Which page a path is under `base`: the lobby, or one game's view. */
export function routeOf(pathname: string, base: string): { page: "lobby" } | { page: "game"; gameId: string } | { page: "unknown" } {
  const b = normalizeBase(base);
  let rel: string;
  if (pathname.startsWith(b)) rel = pathname.slice(b.length);
  else if (`${pathname}/` === b) rel = "";
  else return { page: "unknown" };
  if (rel === "" || rel === "index.html") return { page: "lobby" };
  const m = /^view\/([^/]+)\/?$/.exec(rel);
  if (m) {
    try {
      return { page: "game", gameId: decodeURIComponent(m[1]) };
    } catch {
      return { page: "unknown" };
    }
  }
  return { page: "unknown" };
}

/** Guess the base when the page carries no ccviz-base meta tag. */
export function inferBase(pathname: string): string {
  const i = pathname.lastIndexOf("/view/");
  if (i >= 0) return normalizeBase(pathname.slice(0, i + 1));
  return normalizeBase(pathname.slice(0, pathname.lastIndexOf("/") + 1));
}
