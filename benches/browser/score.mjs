// Scores a CSV file's responses in Debian's headless Chromium with the app's own scoring worker
// (one at a time, as the app does), to compare the browser's scores with `cyborg score`'s:
//
//   node score.mjs DIST BUNDLE IN_CSV OUT_CSV [--int8-products]
//
// IN_CSV has columns id and text; OUT_CSV gets id, score, raw_score (as `cyborg score` writes
// them). --int8-products multiplies an int8 bundle's matrices as its integers.
import { chromium } from "playwright-core";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { formatCsv, parseCsv } from "../../tests/browser/csv.mjs";

const [distArg, bundleArg, inPath, outPath, ...flags] = process.argv.slice(2);
if (!outPath || flags.some((f) => f !== "--int8-products")) {
  console.error("usage: node score.mjs DIST BUNDLE IN_CSV OUT_CSV [--int8-products]");
  process.exit(2);
}
const here = path.dirname(new URL(import.meta.url).pathname);
const files = (url) => {
  if (url === "/bench/bundle.cyborg") return path.resolve(bundleArg);
  if (url.startsWith("/bench/")) return path.join(here, "pages", url.slice("/bench/".length));
  return path.join(path.resolve(distArg), url);
};
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const server = http.createServer((req, res) => {
  const file = files(decodeURIComponent(new URL(req.url, "http://127.0.0.1").pathname));
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) return res.writeHead(404).end();
  res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
  res.end(fs.readFileSync(file));
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const rows = parseCsv(fs.readFileSync(inPath, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/bench/cyborg.html`);
  await page.waitForFunction(() => typeof window.scoreEach === "function");
  const int8Products = flags.includes("--int8-products");
  const loaded = await page.evaluate((arg) => window.load(arg), { url: "/bench/bundle.cyborg", backend: "Wasm", int8Products });
  if (int8Products && !loaded.int8Products) throw new Error(`${bundleArg}: not multiplied as integers (not an int8 bundle?)`);
  const scores = await page.evaluate((texts) => window.scoreEach(texts), rows.map((r) => r.text));
  const scored = rows.map((r, i) => ({ id: r.id, score: scores[i].level, raw_score: scores[i].raw.toFixed(6) }));
  fs.writeFileSync(outPath, formatCsv(["id", "score", "raw_score"], scored));
} finally {
  await browser.close();
  server.close();
}
