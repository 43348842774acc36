// Import TypeScript modules from src/ in node: bundle them with esbuild in memory, so tests
// (and tests/js/client.mjs) run the shipped source, never a copy of it.
//
//   await load("src/mirror.ts")                      pure modules: everything bundled in
//   await load("src/socket.ts", { packages: true })  npm packages left to node: they are
//                         imported from widgets/node_modules with node's own conditions (the
//                         node build of socket.io-client, with `ws`), not bundled
import * as esbuild from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const widgets = join(here, "..", "..");

/** A bundled module's code lives in a data: URL, which cannot resolve bare names: point each
 * package import at the file node itself would load from here. */
const packagesFromHere = {
  name: "packages-from-widgets",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("node:") ? { path: args.path, external: true } : { path: import.meta.resolve(args.path), external: true },
    );
  },
};

export async function load(relative, { packages = false } = {}) {
  const result = await esbuild.build({
    entryPoints: [join(widgets, relative)],
    bundle: true,
    format: "esm",
    platform: packages ? "node" : "neutral",
    plugins: packages ? [packagesFromHere] : [],
    write: false,
    logLevel: "error",
  });
  const code = result.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
}
