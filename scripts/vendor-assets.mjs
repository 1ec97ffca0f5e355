// Copy the browser assets Watchkeeper serves from node_modules into the package's static dir.
import { copyFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dest = join(root, "src", "watchkeeper", "web", "static", "vendor");
const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
  "uplot/dist/uPlot.min.css": "uPlot.min.css",
  "modern-normalize/modern-normalize.css": "modern-normalize.css",
};
mkdirSync(dest, { recursive: true });
for (const [from, to] of Object.entries(files)) {
  const src = join(root, "node_modules", from);
  if (!existsSync(src)) {
    console.error(`missing ${src}: run npm ci`);
    process.exit(1);
  }
  copyFileSync(src, join(dest, to));
}
console.log(`web assets copied to ${dest}`);
