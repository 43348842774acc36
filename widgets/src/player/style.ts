// The player bar's look, shared by the page and the widget (a widget's bundle carries no CSS
// file, so the rules go into the document once, from here). The page's placement of the bar
// (fixed at the bottom, the town above it) is in page.css.
const CSS = `
.ccviz-player {
  box-sizing: border-box; height: 80px; padding: 5px 8px 6px; position: relative;
  background: #1f2433; color: #f3f5fb; line-height: normal; text-align: left;
  font: 12px/1.3 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", sans-serif;
  user-select: none; -webkit-user-select: none; container: ccviz-player / inline-size;
}
.ccviz-player[hidden] { display: none; }
.ccviz-player-row { display: flex; align-items: center; gap: 4px; height: 26px; min-width: 0; white-space: nowrap; }
.ccviz-player-status {
  flex: none; font-size: 11px; font-weight: 700; letter-spacing: 0.4px; line-height: 18px;
  padding: 0 7px; border-radius: 9px; background: #3fa46a; color: #fff; margin-right: 3px;
}
.ccviz-player-status[data-mode="own"] { background: #6a4bb8; }
.ccviz-player-status[data-mode="presenter"] { background: #c0603a; }
.ccviz-player-btn {
  flex: none; display: inline-flex; align-items: center; justify-content: center; gap: 4px;
  height: 24px; min-width: 26px; padding: 0 5px; box-sizing: border-box;
  font: inherit; font-size: 12px; color: inherit; background: #343b52;
  border: 1px solid #4b5470; border-radius: 6px; cursor: pointer;
}
.ccviz-player-btn svg { width: 14px; height: 14px; display: block; }
.ccviz-player-btn:hover:not(:disabled) { border-color: #f2c14e; }
.ccviz-player-btn:disabled { opacity: 0.45; cursor: default; }
.ccviz-player-btn:focus-visible, .ccviz-player-speed:focus-visible { outline: 2px solid #f2c14e; outline-offset: 1px; }
.ccviz-player-btn.play { min-width: 32px; }
.ccviz-player-btn.failure { color: #ff8f84; }
.ccviz-player-btn.stopmark[aria-pressed="true"] { background: #f2c14e; color: #2b2620; border-color: #f2c14e; }
.ccviz-player-btn[hidden] { display: none; }
.ccviz-player-speed {
  flex: none; height: 24px; font: inherit; font-size: 12px; color: inherit; background: #343b52;
  border: 1px solid #4b5470; border-radius: 6px; padding: 0 3px; cursor: pointer;
}
.ccviz-player .pos { flex: none; font-variant-numeric: tabular-nums; color: #dfe5f5; margin-left: 4px; }
.ccviz-player-time { flex: 0 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; font-variant-numeric: tabular-nums; color: #aab3cc; }
.ccviz-player-msg { flex: 0 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; color: #ff9a8f; }
.ccviz-player-spacer { flex: 1 1 0; min-width: 0; }
.ccviz-player-btn.follow { padding: 0 8px; background: #4a3f7a; border-color: #7d6bc4; }
.ccviz-player[data-mode="own"] .ccviz-player-btn.follow { background: #2f5d45; border-color: #4caf6a; }
.ccviz-player-timeline { position: relative; height: 42px; margin-top: 5px; }
.ccviz-player-timeline canvas { position: absolute; left: 0; top: 0; display: block; width: 100%; height: 42px; cursor: pointer; touch-action: none; }
.ccviz-player-timeline canvas.ccviz-player-history { pointer-events: none; }
.ccviz-player-tip {
  position: absolute; bottom: calc(100% + 6px); left: 0; z-index: 5; box-sizing: border-box;
  width: max-content; max-width: min(360px, 100%); padding: 5px 9px; border-radius: 7px;
  background: #0f121b; border: 1px solid #4b5470; border-left: 4px solid var(--kind, #aab3cc);
  color: #f3f5fb; font-size: 12px; line-height: 1.35; white-space: normal; pointer-events: none;
  box-shadow: 0 3px 10px rgba(0, 0, 0, 0.35);
}
.ccviz-player-tip[hidden] { display: none; }
.ccviz-player-tip .head { font-weight: 700; }
.ccviz-player-tip .muted { color: #aab3cc; }
.ccviz-player-btn.zoom-reset { color: #f2c14e; border-color: #f2c14e; }
/* Narrow bars (a window or a notebook output of about the town's own width): the clock goes,
 * the way back to the lobby keeps only its arrow. */
@container ccviz-player (max-width: 960px) {
  .ccviz-player-time { display: none; }
  .ccviz-player .back-text { display: none; }
}
@container ccviz-player (max-width: 640px) {
  .ccviz-player-btn.stopmark, .ccviz-player-btn.failure { display: none; }
}
`;

const ID = "ccviz-player-style";

/** Put the bar's rules into the document (once). */
export function injectStyle(doc: Document = document): void {
  if (doc.getElementById(ID)) return;
  const style = doc.createElement("style");
  style.id = ID;
  style.textContent = CSS;
  (doc.head ?? doc.documentElement).append(style);
}
