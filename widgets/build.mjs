// Builds the browser bundles into ../ccviz_kernel/static/ (git-ignored, built at install):
//   widget.js  the anywidget entry (ESM, default export { render })
//   page.js    the standalone page (ESM) and page.css
// and, for the page's shell, a content-hashed copy of each (page.<hash>.js, ...) with its
// gzip (level 9) and brotli (quality 11) encodings beside it (.gz, .br), named in
// manifest.json {logical name → hashed name}; the server serves those with long-lived caching
// (ccviz_kernel/server/pages.py). Older hashed copies are removed. widget.js keeps its one
// name: the notebook widget inlines it (notebook/widget.py), nothing fetches it by URL.
// `node build.mjs --watch` rebuilds on change; `--dev` skips minification.
// The town's facts come from ../ccviz_kernel/engine/town.json, bundled in (src/town/facts.ts).
// Importing this file builds nothing: test/facts.test.mjs reads `options` to check the bundles.
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

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

/** The bundles given hashed names (what manifest.json maps). */
export const HASHED = ["page.js", "page.css"];
const HASHED_NAME = /^(page|widget)\.[0-9a-f]{16}\.(js|css)(\.gz|\.br)?$/;

/** Writes the hashed, precompressed copies of the bundles and manifest.json; returns it. */
export function writeHashed(dir = outdir, quality = constants.BROTLI_MAX_QUALITY) {
  const manifest = {};
  const keep = new Set(["manifest.json"]);
  for (const name of HASHED) {
    let data;
    try {
      data = readFileSync(join(dir, name));
    } catch {
      continue; // page.css is only there when the page imports CSS
    }
    const hash = createHash("sha256").update(data).digest("hex").slice(0, 16);
    const dot = name.lastIndexOf(".");
    const hashed = `${name.slice(0, dot)}.${hash}${name.slice(dot)}`;
    writeFileSync(join(dir, hashed), data);
    writeFileSync(join(dir, `${hashed}.gz`), gzipSync(data, { level: 9 }));
    const br = brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: quality,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    });
    writeFileSync(join(dir, `${hashed}.br`), br);
    manifest[name] = hashed;
    for (const suffix of ["", ".gz", ".br"]) keep.add(hashed + suffix);
  }
  for (const file of readdirSync(dir)) {
    if (HASHED_NAME.test(file) && !keep.has(file)) rmSync(join(dir, file));
  }
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Rewrites the hashed copies after every successful (re)build, in watch mode too. */
const hashing = {
  name: "ccviz-hashed",
  setup(build) {
    build.onEnd((result) => {
      // brotli's best quality takes seconds: a watched rebuild settles for a quicker one
      if (result.errors.length === 0) writeHashed(outdir, args.has("--watch") ? 5 : undefined);
    });
  },
};

if (main) await build();

async function build() {
  mkdirSync(outdir, { recursive: true });
  const started = performance.now();
  if (args.has("--watch")) {
    const ctx = await esbuild.context({ ...options, plugins: [hashing] });
    await ctx.watch();
    console.log(`watching; writing to ${outdir}`);
  } else {
    await esbuild.build({ ...options, plugins: [hashing] });
    console.log(`built widget.js, page.js, page.css (+ hashed, .gz, .br) into ${outdir} in ${Math.round(performance.now() - started)} ms`);
  }
}
