// The WebGPU encoder in Debian's headless Chromium, whose --enable-unsafe-webgpu gives a
// software adapter (SwiftShader): right answers, not real speed.
//
//   node webgpu.mjs DIST BUNDLE ESSAYS_CSV CLI_SCORES_CSV ARTIFACTS_DIR
//
// ESSAYS_CSV has columns essay_id and full_text; CLI_SCORES_CSV is `cyborg score`'s output for
// them with BUNDLE. Checks:
// 1. The scoring worker itself, spoken to in its own protocol: on the 50 shortest essays (the
//    software adapter runs the encoder about 10× slower than WebAssembly), the WebGPU pooled
//    embeddings match WebAssembly's within 1e-3, and every level equals `cyborg score`'s.
// 2. `?backend=webgpu`: the page says it runs on WebGPU, names the adapter, and scores a
//    response as `cyborg score` does. Without the parameter it times both and says so.
// 3. The GPU device is destroyed mid-batch (`?lose_webgpu_after=1`: after the first group of
//    rows, scored together on the GPU): every row of the batch is still scored, as
//    `cyborg score` scores it, and the page says it fell back.
// 4. A browser without WebGPU, asked for it: the page says WebGPU is not available and scores
//    with WebAssembly.
// The worker's WebAssembly also puts the words of crates/scorer/tests/fixtures/lexical_buckets.json
// in the lexical block's buckets exactly as the fixture says (and as the native test checks).
import { chromium } from "playwright-core";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { formatCsv, parseCsv } from "./csv.mjs";
import { batchFinished, downloadBatch, sameAsCli, typeAndScore } from "./scorer-page.mjs";

const [distArg, bundlePath, essaysPath, cliScoresPath, artifacts] = process.argv.slice(2);
if (!artifacts) {
  console.error("usage: node webgpu.mjs DIST BUNDLE ESSAYS_CSV CLI_SCORES_CSV ARTIFACTS_DIR");
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });
const dist = path.resolve(distArg);
const bundle = fs.readFileSync(bundlePath);
const EMBEDDING_TOLERANCE = 1e-3;
const RAW_TOLERANCE = 1e-4;
// The software adapter takes seconds per essay.
const TIMEOUT = 600_000;
const PARITY_ESSAYS = 50;
// Three of the page's groups of 8 rows: the first on WebGPU, then the device is lost.
const BATCH_ESSAYS = 24;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "cyborg-webgpu-"));

const essays = parseCsv(fs.readFileSync(essaysPath, "utf8"))
  .sort((a, b) => a.full_text.length - b.full_text.length);
const cliScores = new Map(parseCsv(fs.readFileSync(cliScoresPath, "utf8")).map((r) => [r.id, r]));
const lexicalFixture = JSON.parse(fs.readFileSync(
  new URL("../../crates/scorer/tests/fixtures/lexical_buckets.json", import.meta.url), "utf8"));
// An empty response is refused before its words are read.
const lexicalCases = lexicalFixture.cases.filter((c) => c.text !== "");

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };
const httpServer = http.createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  const file = url.pathname === "/bundles/default.cyborg"
    ? path.resolve(bundlePath)
    : path.join(dist, url.pathname === "/" ? "index.html" : url.pathname);
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
  res.end(fs.readFileSync(file));
});
await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${httpServer.address().port}`;

const chromiumWith = (args) => chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run", ...args],
});
const withGpu = await chromiumWith(["--enable-unsafe-webgpu"]);
const withoutGpu = await chromiumWith(["--disable-gpu"]);
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};

async function openPage(browser, query) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => failures.push(`page error: ${e}`));
  await page.goto(`${origin}/${query}`);
  await page.getByTestId("model-name").waitFor({ timeout: TIMEOUT });
  await page.locator("details.about").evaluate((d) => { d.open = true; });
  return { context, page };
}

const text = (page, id) => page.getByTestId(id).textContent();

try {
  // 1. The worker's own protocol: WebGPU beside WebAssembly, essay by essay.
  {
    const { context, page } = await openPage(withGpu, "?backend=wasm");
    const parity = essays.slice(0, PARITY_ESSAYS);
    const results = await page.evaluate(async ([texts, fixtureTexts]) => {
      const bytes = new Uint8Array(await (await fetch("/bundles/default.cyborg")).arrayBuffer());
      async function worker(backend) {
        const w = new Worker("./scoring-worker_loader.js");
        const waiting = new Map();
        let greeted;
        const greeting = new Promise((resolve) => { greeted = resolve; });
        w.onmessage = (event) => {
          const reply = JSON.parse(event.data);
          if (reply.body.Started) greeted();
          else waiting.get(reply.id)?.(reply.body);
        };
        await greeting;
        let next = 1;
        const call = (body, transfer) => new Promise((resolve) => {
          const id = next++;
          waiting.set(id, resolve);
          w.postMessage(transfer ? [JSON.stringify({ id, body }), transfer] : [JSON.stringify({ id, body })]);
        });
        const loaded = await call({ Load: { name: "model.cyborg", backend } }, bytes.slice());
        return { call, loaded };
      }
      const gpu = await worker("WebGpu");
      const cpu = await worker("Wasm");
      const rows = [];
      for (const text of texts) {
        const [a, b] = [await gpu.call({ Inspect: { text } }), await cpu.call({ Inspect: { text } })];
        if (!a.Inspected || !b.Inspected) {
          rows.push({ error: JSON.stringify(a.Failed ?? b.Failed ?? [a, b]) });
          continue;
        }
        const difference = Math.max(...a.Inspected.embedding.map((x, i) => Math.abs(x - b.Inspected.embedding[i])));
        rows.push({ difference, scored: a.Inspected.scored });
      }
      const buckets = [];
      for (const text of fixtureTexts) {
        buckets.push((await cpu.call({ Inspect: { text } })).Inspected?.word_buckets);
      }
      return { backend: gpu.loaded.Loaded?.backend, rows, buckets };
    }, [parity.map((e) => e.full_text), lexicalCases.map((c) => c.text)]);
    const sameBuckets = lexicalCases.filter((c, i) =>
      JSON.stringify(results.buckets[i]) === JSON.stringify(c.counts)).length;
    check(sameBuckets === lexicalCases.length,
      `${sameBuckets} of ${lexicalCases.length} fixture texts hit the lexical buckets the fixture gives, in wasm`);
    check(results.backend?.single === "WebGpu",
      `the worker runs the encoder on WebGPU when asked (adapter: ${results.backend?.adapter})`);
    const errors = results.rows.filter((r) => r.error);
    const fine = results.rows.filter((r) => !r.error);
    const largest = Math.max(...fine.map((r) => r.difference));
    const onGpu = fine.filter((r) => r.scored.backend === "WebGpu" && !r.scored.fallback).length;
    check(errors.length === 0 && onGpu === parity.length,
      `${onGpu} of ${parity.length} essays encoded on WebGPU${errors.length ? `; errors: ${errors[0].error}` : ""}`);
    check(fine.length === parity.length && largest <= EMBEDDING_TOLERANCE,
      `WebGPU's pooled embeddings equal WebAssembly's within ${EMBEDDING_TOLERANCE} on ${fine.length} essays (largest difference ${largest.toExponential(2)})`);
    let sameLevel = 0;
    let largestRaw = 0;
    fine.forEach((r, i) => {
      const cli = cliScores.get(parity[i].essay_id);
      const raw = Math.abs(Number(cli.raw_score) - r.scored.score.raw);
      largestRaw = Math.max(largestRaw, raw);
      if (Number(cli.score) === r.scored.score.score && raw <= RAW_TOLERANCE) sameLevel += 1;
    });
    check(sameLevel === parity.length,
      `${sameLevel} of ${parity.length} WebGPU scores equal cyborg score's (largest raw difference ${largestRaw.toExponential(2)})`);
    await context.close();
  }

  // 2. The page, told to use WebGPU, and left to choose.
  {
    const { context, page } = await openPage(withGpu, "?backend=webgpu");
    const runsOn = await text(page, "model-backend");
    const details = await text(page, "backend-details");
    check(runsOn === "WebGPU" && details.includes("swiftshader"),
      `?backend=webgpu: the model card says "${runsOn}"; About: "${details}"`);
    const essay = essays[0];
    const scored = await typeAndScore(page, essay.full_text, TIMEOUT);
    const cli = cliScores.get(essay.essay_id);
    check(scored.score === Number(cli.score) && Math.abs(scored.raw - Number(cli.raw_score)) <= RAW_TOLERANCE,
      `a response typed on WebGPU scores ${scored.score} (raw ${scored.raw}), as cyborg score does`);
    await page.screenshot({ path: path.join(artifacts, "webgpu.png"), fullPage: true });
    await context.close();

    const chosen = await openPage(withGpu, "");
    const timing = await text(chosen.page, "backend-details");
    check(/took \d+ ms on WebAssembly and \d+ ms on WebGPU/.test(timing),
      `without ?backend the worker times both and picks ${await text(chosen.page, "model-backend")}: "${timing}"`);
    await chosen.context.close();
  }

  // 3. The GPU device is lost mid-batch.
  {
    const { context, page } = await openPage(withGpu, `?backend=webgpu&lose_webgpu_after=1`);
    const batch = essays.slice(0, BATCH_ESSAYS);
    const csvPath = path.join(scratch, "batch.csv");
    fs.writeFileSync(csvPath, formatCsv(["essay_id", "full_text"], batch));
    await page.getByTestId("batch-file").setInputFiles(csvPath);
    await page.getByTestId("batch-run").click();
    await batchFinished(page, batch.length, TIMEOUT / BATCH_ESSAYS);
    const cli = new Map(batch.map((e) => [e.essay_id, cliScores.get(e.essay_id)]));
    const { agree, maxRawDiff } = sameAsCli(await downloadBatch(page), cli, RAW_TOLERANCE);
    check(agree === batch.length,
      `device lost after the first group of rows: ${agree} of ${batch.length} batch rows scored as cyborg score does (largest raw difference ${maxRawDiff.toExponential(2)})`);
    const note = await page.getByTestId("backend-note").textContent().catch(() => "");
    const runsOn = await text(page, "model-backend");
    check(note.includes("WebGPU failed") && runsOn.startsWith("WebAssembly"),
      `the page says it fell back: "${note}"; runs on "${runsOn}"`);
    await context.close();
  }

  // 4. No WebGPU in this browser.
  {
    const { context, page } = await openPage(withoutGpu, "?backend=webgpu");
    const note = await page.getByTestId("backend-note").textContent().catch(() => "");
    const essay = essays[1];
    const scored = await typeAndScore(page, essay.full_text, TIMEOUT);
    check(note.includes("WebGPU is not available") && scored.score === Number(cliScores.get(essay.essay_id).score),
      `without WebGPU the page says "${note}" and still scores ${scored.score}`);
    await context.close();
  }
} catch (error) {
  failures.push(String(error?.stack ?? error));
  console.error(error);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
  await withGpu.close();
  await withoutGpu.close();
  httpServer.close();
}

if (failures.length) {
  console.error(`\n${failures.length} WebGPU check(s) failed`);
  process.exit(1);
}
console.log("\nevery WebGPU check passed");
