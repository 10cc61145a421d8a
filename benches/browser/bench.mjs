// The browser benchmark, in Debian's headless Chromium: Cyborg's app and scoring worker beside
// transformers.js on the same encoder, in the same browser, in one run. Prints a Markdown
// report and writes it as JSON.
//
//   node bench.mjs DIST BUNDLE[,BUNDLE…] PREPARED_DIR OUT_JSON
//
// The first bundle is timed per essay; every bundle (e.g. the same model at f32 and int8) is
// timed loading in the app. PREPARED_DIR is prepare.py's output: models/<name>/ (ONNX export) and texts.json (the same
// essays cut to 256 and 512 tokens).
import { chromium } from "playwright-core";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

const [distArg, bundlesArg, preparedArg, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: node bench.mjs DIST BUNDLE[,BUNDLE…] PREPARED_DIR OUT_JSON");
  process.exit(2);
}
const here = path.dirname(new URL(import.meta.url).pathname);
const dist = path.resolve(distArg);
const prepared = path.resolve(preparedArg);
const texts = JSON.parse(fs.readFileSync(path.join(prepared, "texts.json"), "utf8"));
const modelName = fs.readdirSync(path.join(prepared, "models"))[0];

// URL prefix → folder.
const bundlePaths = bundlesArg.split(",").map((b) => path.resolve(b));
const bundlePath = bundlePaths[0];
const bundleUrl = (i) => `/bench/bundle-${i}.cyborg`;
const roots = [
  ...bundlePaths.map((b, i) => [bundleUrl(i), b]),
  ["/bench/", path.join(here, "pages")],
  ["/models/", path.join(prepared, "models")],
  ["/ort/", path.join(here, "node_modules/onnxruntime-web/dist")],
  ["/transformers/", path.join(here, "node_modules/@huggingface/transformers/dist")],
  ["/", dist],
];
const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json" };
const offSite = [];
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  let file = null;
  for (const [prefix, root] of roots) {
    if (url.pathname === prefix) { file = root; break; }
    if (prefix.endsWith("/") && url.pathname.startsWith(prefix)) {
      file = path.join(root, decodeURIComponent(url.pathname.slice(prefix.length)) || "index.html");
      break;
    }
  }
  if (file && fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
  if (!file || !fs.existsSync(file)) {
    res.writeHead(404);
    return res.end();
  }
  const body = fs.readFileSync(file);
  res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream", "content-length": body.length });
  res.end(body);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const chromiumArgs = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
// WebGPU needs the GPU process; headless Chromium gives it only with this flag.
const webgpuArgs = [...chromiumArgs.filter((a) => a !== "--disable-gpu"), "--enable-unsafe-webgpu"];
async function withContext(run, args = chromiumArgs) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cyborg-bench-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args,
  });
  context.on("request", (r) => !r.url().startsWith(origin) && !r.url().startsWith("blob:") && !r.url().startsWith("data:") && offSite.push(r.url()));
  try {
    return await run(context, context.pages()[0] ?? (await context.newPage()));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const stats = (ms) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    n: ms.length,
    mean: ms.reduce((a, b) => a + b, 0) / ms.length,
    median: sorted[Math.floor(sorted.length / 2)],
  };
};

// V8 first runs wasm in its baseline compiler and swaps in optimised code for hot functions
// later, so each system scores the 256-token set twice: cold (straight after loading) and warm;
// then the 512-token set, warm.
async function timePage(pagePath, loadArg) {
  return withContext(async (_, page) => {
    await page.goto(origin + pagePath);
    await page.waitForFunction(() => typeof window.timeEach === "function");
    const loaded = await page.evaluate((arg) => window.load(arg), loadArg);
    const run = async (length) => stats(await page.evaluate((t) => window.timeEach(t), texts[length]));
    const cold = await run("256");
    const warm = await run("256");
    return { loaded, results: { cold256: cold, "256": warm, "512": await run("512") } };
  });
}

// WebGPU beside WebAssembly, in a browser with WebGPU, on the first `count` essays (a software
// adapter takes seconds per essay): one untimed essay first, which compiles the GPU pipelines.
// The app's batch panel sends 8 rows at a time when batches run on WebGPU.
const BATCH_GROUP = 8;
async function timeWebGpu(pagePath, loadArg, count) {
  return withContext(async (_, page) => {
    await page.goto(origin + pagePath);
    await page.waitForFunction(() => typeof window.timeEach === "function");
    const adapter = await page.evaluate(async () => {
      const found = await navigator.gpu?.requestAdapter();
      return found && { name: `${found.info.vendor} ${found.info.architecture} ${found.info.description}`.trim(), f16: found.features.has("shader-f16") };
    });
    try {
      const loaded = await page.evaluate((arg) => window.load(arg), loadArg);
      await page.evaluate((t) => window.timeEach(t), texts["256"].slice(0, 1));
      const run = async (length) => stats(await page.evaluate((t) => window.timeEach(t), texts[length].slice(0, count)));
      const results = { "256": await run("256"), "512": await run("512") };
      const batch = await page.evaluate(([t, group]) => window.timeBatch(t, group), [texts["256"].slice(0, count), BATCH_GROUP]);
      return { adapter, loaded, results, batch };
    } catch (error) {
      return { adapter, error: String(error).split("\n")[0] };
    }
  }, webgpuArgs);
}

// The app as people use it: first load with an empty cache, then time to first score with the
// bundle cached.
async function appTimesOf(bundle) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cyborg-bench-app-"));
  const open = () => chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: chromiumArgs });
  let context = await open();
  let page = context.pages()[0];
  let start = Date.now();
  await page.goto(`${origin}/?bundle=${encodeURIComponent(bundle)}`);
  await page.getByTestId("model-name").waitFor({ timeout: 300_000 });
  const firstLoad = Date.now() - start;
  await context.close();
  context = await open();
  page = context.pages()[0];
  start = Date.now();
  await page.goto(`${origin}/?bundle=${encodeURIComponent(bundle)}&text=${encodeURIComponent(texts["256"][0])}`);
  await page.getByTestId("score").waitFor({ timeout: 300_000 });
  const cachedFirstScore = Date.now() - start;
  const origin_ = await page.getByTestId("model-origin").textContent();
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  if (!origin_.includes("cache")) throw new Error(`the second visit did not use the cache: ${origin_}`);
  return { firstLoad, cachedFirstScore };
}
const apps = [];
for (const [i, file] of bundlePaths.entries()) {
  apps.push({ bundle: path.basename(file), bytes: fs.statSync(file).size, ...(await appTimesOf(bundleUrl(i))) });
}

const cyborg = await timePage("/bench/cyborg.html", { url: bundleUrl(0) });
const transformers = await timePage("/bench/transformers.html", { model: modelName });
const gpuCount = Number(process.env.WEBGPU_ESSAYS ?? 10);
const webgpu = gpuCount > 0 && {
  count: gpuCount,
  cyborgWasm: await timeWebGpu("/bench/cyborg.html", { url: bundleUrl(0), backend: "Wasm" }, gpuCount),
  cyborg: await timeWebGpu("/bench/cyborg.html", { url: bundleUrl(0), backend: "WebGpu" }, gpuCount),
  transformers: await timeWebGpu("/bench/transformers.html", { model: modelName, device: "webgpu" }, gpuCount),
};
server.close();
if (offSite.length) throw new Error(`requests left the machine: ${offSite.join(", ")}`);

const size = (file) => fs.statSync(file).size;
const gzipSize = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
const wasm = fs.readdirSync(dist).filter((f) => f.endsWith(".wasm")).map((f) => ({
  file: f,
  bytes: size(path.join(dist, f)),
  gzip: gzipSize(path.join(dist, f)),
}));
const ortWasm = fs.readdirSync(path.join(here, "node_modules/onnxruntime-web/dist")).filter((f) => /^ort-wasm-simd-threaded\.(jsep\.)?wasm$/.test(f));
const report = {
  chromium: (await (async () => { const b = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: chromiumArgs }); const v = b.version(); await b.close(); return v; })()),
  cores: os.cpus().length,
  texts: Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, v.length])),
  app: apps,
  bundleBytes: size(bundlePath),
  wasm,
  onnxBytes: size(path.join(prepared, "models", modelName, "onnx/model.onnx")),
  ortWasm: ortWasm.map((f) => ({ file: f, bytes: size(path.join(here, "node_modules/onnxruntime-web/dist", f)) })),
  cyborg,
  transformers,
  webgpu,
};
fs.writeFileSync(outPath, JSON.stringify(report, null, 2));

const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;
console.log(`Headless Chromium ${report.chromium}, ${report.cores} cores; ${texts["256"].length} essays (data/demo/train.csv) cut to 256 and 512 tokens; one thread each. Cold: the first pass straight after loading; warm: a second pass.\n`);
console.log("| tokens | Cyborg ms/essay (mean / median) | transformers.js ms/essay (mean / median) | transformers.js time ÷ Cyborg time |");
console.log("|---|---|---|---|");
for (const [key, label] of [["cold256", "256, cold"], ["256", "256, warm"], ["512", "512, warm"]]) {
  const c = cyborg.results[key];
  const t = transformers.results[key];
  console.log(`| ${label} | ${c.mean.toFixed(0)} / ${c.median.toFixed(0)} | ${t.mean.toFixed(0)} / ${t.median.toFixed(0)} | ${(t.mean / c.mean).toFixed(2)} |`);
}
console.log("\n| bundle | size | app's first load (page, worker, bundle; empty cache) | time to first score, bundle cached (reload of a link with a 256-token response) |");
console.log("|---|---|---|---|");
for (const a of apps) console.log(`| ${a.bundle} | ${mb(a.bytes)} | ${a.firstLoad} ms | ${a.cachedFirstScore} ms |`);
console.log("");
console.log(`- Cyborg bundle load in the worker (checksum, parse, weights): ${cyborg.loaded.loadMs.toFixed(0)} ms; transformers.js pipeline load: ${transformers.loaded.loadMs.toFixed(0)} ms`);
for (const w of wasm) console.log(`- ${w.file}: ${mb(w.bytes)} (${mb(w.gzip)} gzipped)`);
console.log(`- bundle: ${mb(report.bundleBytes)}; ONNX export for transformers.js: ${mb(report.onnxBytes)}; onnxruntime-web wasm: ${report.ortWasm.map((w) => `${w.file} ${mb(w.bytes)}`).join(", ")}`);
if (webgpu) {
  const { adapter } = webgpu.cyborg;
  console.log(`\nWebGPU, adapter: ${adapter ? adapter.name : "none"}${adapter && /swiftshader/i.test(adapter.name) ? " (software: these figures check that it runs, they are not GPU speed)" : ""}; the first ${webgpu.count} essays, warm, one at a time, then in batches.\n`);
  console.log("| tokens | Cyborg WebGPU ms/essay | Cyborg WebAssembly ms/essay | transformers.js WebGPU fp32 ms/essay | transformers.js time ÷ Cyborg WebGPU time | Cyborg WebAssembly ÷ WebGPU |");
  console.log("|---|---|---|---|---|---|");
  const cell = (r, key) => (r.error ? "failed" : r.results[key].mean.toFixed(0));
  const ratio = (a, b, key) => (a.error || b.error ? "—" : (a.results[key].mean / b.results[key].mean).toFixed(2));
  for (const key of ["256", "512"]) {
    console.log(`| ${key} | ${cell(webgpu.cyborg, key)} | ${cell(webgpu.cyborgWasm, key)} | ${cell(webgpu.transformers, key)} | ${ratio(webgpu.transformers, webgpu.cyborg, key)} | ${ratio(webgpu.cyborgWasm, webgpu.cyborg, key)} |`);
  }
  const batchCell = (r) => (r.error ? "failed" : r.batch.toFixed(0));
  console.log(`| 256, batches of ${BATCH_GROUP} | ${batchCell(webgpu.cyborg)} | ${batchCell(webgpu.cyborgWasm)} | ${batchCell(webgpu.transformers)} | ${webgpu.cyborg.error || webgpu.transformers.error ? "—" : (webgpu.transformers.batch / webgpu.cyborg.batch).toFixed(2)} | ${webgpu.cyborg.error || webgpu.cyborgWasm.error ? "—" : (webgpu.cyborgWasm.batch / webgpu.cyborg.batch).toFixed(2)} |`);
  console.log(`- Cyborg's worker, asked for WebGPU, ran on: ${webgpu.cyborg.loaded?.backend?.single ?? "—"}${webgpu.cyborg.loaded?.backend?.note ? ` (${webgpu.cyborg.loaded.backend.note})` : ""}`);
  for (const [name, r] of Object.entries(webgpu)) if (r?.error) console.log(`- ${name} failed: ${r.error}`);
  if (adapter && !adapter.f16) console.log("- transformers.js fp16 on WebGPU needs the adapter's shader-f16 feature, which this adapter lacks: not timed.");
}