#!/usr/bin/env node
// Screenshot a page in headless Chromium (Debian's /usr/bin/chromium, via playwright-core) and
// report console messages and the view's debug handle.
//
//   node dev/shot.mjs URL OUT.png [--width 800] [--height 500] [--dpr 1] [--wait 1500]
//                    [--shots 3 --every 700]   several shots: OUT-1.png, OUT-2.png, …
//                    [--widget GAMEID]          read window.__ccvizWidgets[GAMEID] instead
import { chromium } from "playwright-core";

const argv = process.argv.slice(2);
const [url, out] = argv;
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
if (!url || !out) {
  console.error("usage: shot.mjs URL OUT.png [--width W --height H --dpr D --wait MS --shots N --every MS]");
  process.exit(2);
}

export const LAUNCH = {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
};

const browser = await chromium.launch(LAUNCH);
const page = await browser.newPage({
  viewport: { width: Number(opt("width", "800")), height: Number(opt("height", "500")) },
  deviceScaleFactor: Number(opt("dpr", "1")),
});
const messages = [];
page.on("console", (m) => messages.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => messages.push(`pageerror: ${e.message}`));
await page.goto(url);
const widget = opt("widget", null);
const handle = widget ? `window.__ccvizWidgets && window.__ccvizWidgets[${JSON.stringify(widget)}]` : "window.__ccviz";
try {
  await page.waitForFunction(`(${handle}) && (${handle}).ready`, null, { timeout: 15000 });
} catch {
  messages.push("warning: the view did not become ready in 15 s");
}
await page.waitForTimeout(Number(opt("wait", "1500")));
const shots = Number(opt("shots", "1"));
for (let i = 1; i <= shots; i++) {
  const file = shots === 1 ? out : out.replace(/\.png$/, `-${i}.png`);
  await page.screenshot({ path: file });
  console.log(`saved ${file}`);
  if (i < shots) await page.waitForTimeout(Number(opt("every", "700")));
}
const info = await page.evaluate(`(() => {
  const h = ${handle};
  if (!h) return null;
  if (h.lobby) return { lobby: true, ready: h.ready, games: h.games().length, errors: h.errors };
  return { ready: h.ready, seq: h.seq, frames: h.frames, renderer: h.renderer, errors: h.errors,
           agents: h.agents().map(a => [a.id.slice(0, 10), a.place, Math.round(a.x), Math.round(a.y), a.visible, a.state, a.walking]) };
})()`);
console.log(JSON.stringify(info));
for (const m of messages) console.log(m);
await browser.close();
