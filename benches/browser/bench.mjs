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
  // A browser may keep the app's files for an hour, as a static host lets it (GitHub Pages: 10
  // minutes), so a returning visitor's page and worker come from the HTTP cache.
  res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream", "content-length": body.length, "cache-control": "max-age=3600" });
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
// bundle cached, each in milliseconds from the start of navigation to the moment the element
// appears (noted by the page itself, so the driver's polling adds nothing); the median of
// APP_VISITS cached visits.
const APP_VISITS = 3;
async function appTimesOf(bundle) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cyborg-bench-app-"));
  const visit = async (query, testId) => {
    const context = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: chromiumArgs });
    const page = context.pages()[0];
    await page.addInitScript((id) => {
      new MutationObserver((_, observer) => {
        if (document.querySelector(`[data-testid=${id}]`)) {
          window.appearedAt = performance.now();
          observer.disconnect();
        }
      }).observe(document, { subtree: true, childList: true });
    }, testId);
    await page.goto(`${origin}/?${query}`);
    await page.getByTestId(testId).waitFor({ timeout: 300_000 });
    const ms = Math.round(await page.evaluate(() => window.appearedAt));
    const from = await page.getByTestId("model-origin").textContent();
    await context.close();
    return { ms, from };
  };
  const link = `bundle=${encodeURIComponent(bundle)}`;
  const firstLoad = (await visit(link, "model-name")).ms;
  const cached = [];
  for (let i = 0; i < APP_VISITS; i++) {
    const { ms, from } = await visit(`${link}&text=${encodeURIComponent(texts["256"][0])}`, "score");
    if (!from.includes("cache")) throw new Error(`the visit did not use the cached bundle: ${from}`);
    cached.push(ms);
  }
  fs.rmSync(profile, { recursive: true, force: true });
  return { firstLoad, cachedFirstScore: stats(cached).median, cachedVisits: cached };
}
// The app's batch panel on BATCH_ROWS rows (the 256-token essays over and over), with one
// worker and with one per core (`?workers=N`): seconds as the page reports them, and how late
// a 50 ms timer on the page's thread ran at worst meanwhile (is the page still responsive?).
const BATCH_ROWS = Number(process.env.BATCH_ROWS ?? 1000);
async function timeAppBatch(bundle, workers) {
  return withContext(async (_, page) => {
    await page.goto(`${origin}/?bundle=${encodeURIComponent(bundle)}&workers=${workers}`);
    await page.getByTestId("model-name").waitFor({ timeout: 300_000 });
    const csv = path.join(os.tmpdir(), `cyborg-bench-batch-${BATCH_ROWS}.csv`);
    const row = (i) => `${i},"${texts["256"][i % texts["256"].length].replaceAll('"', '""')}"`;
    fs.writeFileSync(csv, ["id,text", ...Array.from({ length: BATCH_ROWS }, (_, i) => row(i))].join("\n") + "\n");
    await page.getByTestId("batch-file").setInputFiles(csv);
    await page.getByTestId("batch-run").waitFor();
    await page.evaluate(() => {
      window.lateness = 0;
      let last = performance.now();
      setInterval(() => {
        const now = performance.now();
        window.lateness = Math.max(window.lateness, now - last - 50);
        last = now;
      }, 50);
    });
    await page.getByTestId("batch-run").click();
    await page.waitForFunction(() => document.querySelector("[data-testid=batch-progress]")?.textContent.includes("finished in"), null, { timeout: 3_600_000, polling: 500 });
    const progress = await page.getByTestId("batch-progress").textContent();
    const shown = (await page.getByTestId("batch-workers").count()) ? Number(await page.getByTestId("batch-workers").textContent()) : 1;
    fs.rmSync(csv);
    return { workers: shown, seconds: Number(progress.match(/finished in ([\d.]+) s/)[1]), lateness: await page.evaluate(() => window.lateness) };
  });
}
const cores = os.cpus().length;
// BENCH_ONLY=batch,app,encode,webgpu (any of them) runs only those parts.
const wanted = (part) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(",").includes(part);
const batches = wanted("batch") && BATCH_ROWS > 0 ? [await timeAppBatch(bundleUrl(0), 1), await timeAppBatch(bundleUrl(0), cores)] : [];
if (batches.length) {
  console.log(`\nBatch of ${BATCH_ROWS} rows in the app (bundle ${path.basename(bundlePath)}):\n`);
  console.log("| workers | seconds | ms per row | speed-up over one worker | the page's thread, longest delay |");
  console.log("|---|---|---|---|---|");
  for (const b of batches) console.log(`| ${b.workers} | ${b.seconds.toFixed(1)} | ${(1000 * b.seconds / BATCH_ROWS).toFixed(0)} | ${(batches[0].seconds / b.seconds).toFixed(2)} | ${b.lateness.toFixed(0)} ms |`);
}

const apps = [];
for (const [i, file] of wanted("app") ? bundlePaths.entries() : []) {
  apps.push({ bundle: path.basename(file), bytes: fs.statSync(file).size, ...(await appTimesOf(bundleUrl(i))) });
}

const encode = wanted("encode") && {
  cyborg: await timePage("/bench/cyborg.html", { url: bundleUrl(0) }),
  // The second bundle (the int8 export), its matrices multiplied as its stored integers.
  cyborgInt8: bundlePaths.length > 1 && (await timePage("/bench/cyborg.html", { url: bundleUrl(1), int8Products: true })),
  transformers: await timePage("/bench/transformers.html", { model: modelName }),
  // transformers.js's default on wasm: 8-bit weights (prepare.py's model_quantized.onnx).
  transformersQ8: await timePage("/bench/transformers.html", { model: modelName, dtype: "q8" }),
};
const gpuCount = Number(process.env.WEBGPU_ESSAYS ?? 10);
const webgpu = wanted("webgpu") && gpuCount > 0 && {
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
  batches,
  app: apps,
  bundleBytes: size(bundlePath),
  wasm,
  onnxBytes: size(path.join(prepared, "models", modelName, "onnx/model.onnx")),
  onnxQ8Bytes: size(path.join(prepared, "models", modelName, "onnx/model_quantized.onnx")),
  ortWasm: ortWasm.map((f) => ({ file: f, bytes: size(path.join(here, "node_modules/onnxruntime-web/dist", f)) })),
  encode,
  webgpu,
};
fs.writeFileSync(outPath, JSON.stringify(report, null, 2));

const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;
console.log(`Headless Chromium ${report.chromium}, ${report.cores} cores; ${texts["256"].length} essays (data/demo/train.csv) cut to 256 and 512 tokens; one thread each. Cold: the first pass straight after loading; warm: a second pass.\n`);
if (encode) {
  const int8 = encode.cyborgInt8;
  if (int8 && !int8.loaded.int8Products) throw new Error("the int8 bundle was not multiplied as integers");
  console.log(`| tokens | Cyborg ms/essay (mean / median) | ${int8 ? "Cyborg int8, integer products | " : ""}transformers.js fp32 ms/essay (mean / median) | transformers.js q8 ms/essay (mean / median) | fp32 time ÷ Cyborg time | q8 time ÷ Cyborg time |${int8 ? " q8 time ÷ Cyborg int8 time |" : ""}`);
  console.log(`|---|---|---|---|---|---|${int8 ? "---|---|" : ""}`);
  for (const [key, label] of [["cold256", "256, cold"], ["256", "256, warm"], ["512", "512, warm"]]) {
    const [c, t, q] = [encode.cyborg, encode.transformers, encode.transformersQ8].map((r) => r.results[key]);
    const cell = (r) => `${r.mean.toFixed(0)} / ${r.median.toFixed(0)}`;
    const i = int8 && int8.results[key];
    console.log(`| ${label} | ${cell(c)} | ${i ? `${cell(i)} | ` : ""}${cell(t)} | ${cell(q)} | ${(t.mean / c.mean).toFixed(2)} | ${(q.mean / c.mean).toFixed(2)} |${i ? ` ${(q.mean / i.mean).toFixed(2)} |` : ""}`);
  }
}
if (apps.length) {
  console.log("\n| bundle | size | app's first load (page, worker, bundle; empty cache) | time to first score, bundle cached (reload of a link with a 256-token response) |");
  console.log("|---|---|---|---|");
  for (const a of apps) console.log(`| ${a.bundle} | ${mb(a.bytes)} | ${a.firstLoad} ms | ${a.cachedFirstScore} ms (median of ${a.cachedVisits.join(", ")}) |`);
}
console.log("");
if (encode) console.log(`- Cyborg bundle load in the worker (checksum, parse, weights): ${encode.cyborg.loaded.loadMs.toFixed(0)} ms; transformers.js pipeline load: fp32 ${encode.transformers.loaded.loadMs.toFixed(0)} ms, q8 ${encode.transformersQ8.loaded.loadMs.toFixed(0)} ms`);
for (const w of wasm) console.log(`- ${w.file}: ${mb(w.bytes)} (${mb(w.gzip)} gzipped)`);
console.log(`- bundle: ${mb(report.bundleBytes)}; ONNX export for transformers.js: ${mb(report.onnxBytes)} (q8: ${mb(report.onnxQ8Bytes)}); onnxruntime-web wasm: ${report.ortWasm.map((w) => `${w.file} ${mb(w.bytes)}`).join(", ")}`);
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