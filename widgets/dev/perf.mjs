#!/usr/bin/env node
// How busy the page's main thread is while a busy game plays (DESIGN: under 50 % with 20
// agents and 30 updates/s in headless Chromium with SwiftShader WebGL).
//
//   node dev/perf.mjs [--agents 20] [--rate 30] [--seconds 12] [--shot /tmp/perf.png]
//
// Needs the dev page (dev/serve.mjs) and a ccviz server, as dev/live.sh does.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const agents = opt("agents", "20");
const rate = opt("rate", "30");
const seconds = Number(opt("seconds", "12"));
const port = process.env.DEV_PORT || "8781";
const game = randomUUID();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});
const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
const problems = [];
page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
page.on("pageerror", (e) => problems.push(e.message));
await page.goto(`http://127.0.0.1:${port}/view/${game}`);
await page.waitForFunction("window.__ccviz && window.__ccviz.ready", null, { timeout: 15000 });

const feed = spawn(process.execPath, [join(here, "feed.mjs"), "busy", "--agents", agents, "--rate", rate,
  "--seconds", String(seconds + 6), "--session", game], { stdio: ["ignore", "ignore", "inherit"] });
// Let the crowd gather first.
await page.waitForFunction(`window.__ccviz.agents().filter(a => a.visible).length >= ${agents}`, null, { timeout: 20000 });
await page.waitForTimeout(2000);

const cdp = await page.context().newCDPSession(page);
await cdp.send("Performance.enable");
const metric = async () => {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
};
const a = await metric();
const f0 = await page.evaluate("window.__ccviz.frames");
const s0 = await page.evaluate("window.__ccviz.seq");
const t0 = Date.now();
await page.waitForTimeout(seconds * 1000);
const b = await metric();
const f1 = await page.evaluate("window.__ccviz.frames");
const s1 = await page.evaluate("window.__ccviz.seq");
const wall = (Date.now() - t0) / 1000;
const busy = (b.TaskDuration - a.TaskDuration) / wall;
const script = (b.ScriptDuration - a.ScriptDuration) / wall;
const report = {
  agents: Number(agents),
  eventsPerSecond: +((s1 - s0) / wall).toFixed(1),
  fps: +((f1 - f0) / wall).toFixed(1),
  mainThreadBusy: `${(busy * 100).toFixed(1)} %`,
  script: `${(script * 100).toFixed(1)} %`,
  layout: `${(((b.LayoutDuration - a.LayoutDuration) / wall) * 100).toFixed(1)} %`,
  heapMB: +(b.JSHeapUsedSize / 1e6).toFixed(1),
  errors: [...problems, ...(await page.evaluate("window.__ccviz.errors"))],
};
const shot = opt("shot", null);
if (shot) await page.screenshot({ path: shot });
console.log(JSON.stringify(report, null, 1));
feed.kill();
await browser.close();
process.exit(busy < 0.5 && report.errors.length === 0 ? 0 : 1);
