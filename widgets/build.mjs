// Builds the browser bundles into ../ccviz_kernel/static/ (git-ignored, built at install):
//   widget.js  the anywidget entry (ESM, default export { render })
//   page.js    the standalone page (ESM) and page.css
// `node build.mjs --watch` rebuilds on change; `--dev` skips minification.
// The town's facts come from ../ccviz_kernel/engine/town.json, bundled in (src/town/facts.ts).
// Importing this file builds nothing: test/facts.test.mjs reads `options` to check the bundles.
import * as esbuild from "esbuild";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "ccviz_kernel", "static");
const main = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
const args = new Set(main ? process.argv.slice(2) : []);

export const options = {
  // Phaser ships a prebuilt, minified ESM build: bundling it is 6× faster than re-minifying
  // the 8.8 MB one, and tree shaking gains nothing either way.
  alias: { phaser: join(here, "node_modules/phaser/dist/phaser.esm.min.js") },
  entryPoints: { widget: join(here, "src/widget.ts"), page: join(here, "src/page.ts") },
  outdir,
  bundle: true,
  format: "esm",
  target: ["es2022", "chrome100", "firefox100", "safari15"],
  minify: !args.has("--dev"),
  legalComments: "none",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
};

if (main) await build();

async function build() {
  mkdirSync(outdir, { recursive: true });
  const started = performance.now();
  if (args.has("--watch")) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log(`watching; writing to ${outdir}`);
  } else {
    await esbuild.build(options);
    console.log(`built widget.js, page.js, page.css into ${outdir} in ${Math.round(performance.now() - started)} ms`);
  }
}
