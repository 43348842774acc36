// The widget follows its host's light or dark theme: JupyterLab (`data-jp-theme-light` on
// <body>, else the luminance of `--jp-layout-color0`, which every Lab theme sets) and VS
// Code (`vscode-dark` / `vscode-high-contrast` on <body>). The town keeps its one palette
// (town/palette.ts); a dark host gets it at dusk: dimmed and a little desaturated, so the
// bright green square does not glare out of a dark notebook. No fact of the town changes.

/** The filter of the town's canvases under a dark theme. */
export const DUSK = "brightness(0.78) saturate(0.85) contrast(1.05)";

/** Whether the page around `el` is dark, as the host's theme says (null: it says nothing). */
export function hostIsDark(doc: Document = document): boolean | null {
  const body = doc.body;
  if (!body) return null;
  const light = body.dataset.jpThemeLight;
  if (light === "true" || light === "false") return light === "false";
  if (body.classList.contains("vscode-dark") || body.classList.contains("vscode-high-contrast")) return true;
  if (body.classList.contains("vscode-light")) return false;
  const lum = luminance(getComputedStyle(body).getPropertyValue("--jp-layout-color0"));
  return lum === null ? null : lum < 0.4;
}

/** Relative luminance (0–1) of a CSS colour `#rgb`, `#rrggbb` or `rgb(r, g, b)`; null else. */
export function luminance(color: string): number | null {
  const c = color.trim();
  let rgb: number[] | null = null;
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c);
  if (hex) {
    const h = hex[1].length === 3 ? [...hex[1]].map((x) => x + x).join("") : hex[1];
    rgb = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  } else {
    const m = /^rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)/i.exec(c);
    if (m) rgb = [m[1], m[2], m[3]].map(Number);
  }
  if (!rgb) return null;
  const [r, g, b] = rgb.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Keep `root` in the host's theme (`ccviz-dark` class and the dusk filter on `town`) as
 * it changes (Lab switches themes without a reload); returns the way to stop. */
export function followTheme(root: HTMLElement, town: HTMLElement): () => void {
  const apply = () => {
    const dark = hostIsDark() === true;
    root.classList.toggle("ccviz-dark", dark);
    town.style.filter = dark ? DUSK : "";
  };
  apply();
  if (typeof MutationObserver === "undefined" || !document.body) return () => {};
  const observer = new MutationObserver(apply);
  observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });
  return () => observer.disconnect();
}
