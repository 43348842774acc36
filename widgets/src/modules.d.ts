// Side-effect CSS imports (esbuild bundles them into page.css).
declare module "*.css";
