// The Train view end to end in Debian's headless Chromium, against a real `cyborg serve`:
//
//   node train.mjs URL TOKEN ESSAYS_CSV CYBORG ARTIFACTS_DIR
//
// The page at URL/#train takes the token, uploads ESSAYS_CSV (columns essay_id, full_text,
// score), shows its score counts, trains a small student (tune head, weights int8), follows its progress,
// and gives a share link; the link opened in a new page loads the model and scores, and its
// scores equal `cyborg score` (the CYBORG binary) with the bundle the server made. Then that
// model teaches a second one (half the rows' scores set aside), and an LLM teacher at an
// address where nothing listens fails the job with that address named; a reload lists all
// three jobs.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseCsv } from "./csv.mjs";
import { typeAndScore } from "./scorer-page.mjs";

const [url, token, essaysPath, cyborg, artifacts] = process.argv.slice(2);
if (!artifacts) {
  console.error("usage: node train.mjs URL TOKEN ESSAYS_CSV CYBORG ARTIFACTS_DIR");
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });
const essays = parseCsv(fs.readFileSync(essaysPath, "utf8"));
const TIMEOUT = 300_000;
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
const context = await browser.newContext();
const page = await context.newPage();
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
try {
  await page.goto(`${url}/#train`);
  await page.getByTestId("token").fill(token);
  await page.getByTestId("train-file").setInputFiles(essaysPath);
  await page.getByTestId("score-counts").waitFor({ timeout: TIMEOUT });
  const dataset = await page.getByTestId("dataset").textContent();
  check(dataset.includes(`${essays.length} rows`), `the upload is read: "${dataset}"`);
  check(await page.getByTestId("column-text").inputValue() === "full_text", "the text column is guessed");
  check(await page.getByTestId("column-score").inputValue() === "score", "the score column is guessed");
  const counted = await page.getByTestId("score-counts").locator("tr td:nth-child(2)").allTextContents();
  check(counted.reduce((a, n) => a + Number(n), 0) === essays.length, `score counts add up to ${essays.length}`);

  await page.getByTestId("setting-tune").fill("head");
  await page.getByTestId("setting-weights").selectOption("int8");
  await page.getByTestId("train-start").click();
  await page.getByTestId("job-state").filter({ hasText: "running" }).waitFor({ timeout: TIMEOUT });
  check(true, "the job runs and its state is shown live");
  await page.getByTestId("job-state").filter({ hasText: /done|failed|cancelled/ }).waitFor({ timeout: TIMEOUT });
  const state = await page.getByTestId("job-state").textContent();
  check(state.endsWith("done"), `the job ends done: "${state}"`);
  const log = await page.getByTestId("job-log").locator("li").allTextContents();
  check(log.some((l) => l.includes("linear probe")), `progress notes are followed (${log.length} lines)`);
  check((await page.getByTestId("job-metrics").textContent()).includes("Development QWK"), "its development QWK is shown");
  await page.screenshot({ path: path.join(artifacts, "train-done.png"), fullPage: true });

  const share = await page.getByTestId("train-share-link").inputValue();
  const bundleUrl = new URL(share).searchParams.get("bundle");
  check(/^\/bundles\/[0-9a-f]{16}\.cyborg$/.test(bundleUrl), `the share link names the job's bundle: ${share}`);
  const openHref = await page.getByTestId("open-in-scorer").getAttribute("href");
  check(openHref === `/?bundle=${bundleUrl}`, "Open in scorer opens the same bundle");

  // The share link, opened by somebody else: a new context with nothing cached.
  const reader = await (await browser.newContext()).newPage();
  await reader.goto(share);
  await reader.getByTestId("model-name").waitFor({ timeout: TIMEOUT });
  const weights = await reader.getByTestId("model-precision").textContent();
  check(weights === "int8", `the model trained with Weights int8 is an int8 bundle: "${weights}"`);
  const bundleFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cyborg-train-")), "shared.cyborg");
  fs.writeFileSync(bundleFile, Buffer.from(await (await fetch(url + bundleUrl)).arrayBuffer()));
  const scoredFile = `${bundleFile}.csv`;
  execFileSync(cyborg, ["score", bundleFile, essaysPath, "--text", "full_text", "--id", "essay_id",
    "--out", scoredFile, "--quiet"]);
  const cli = new Map(parseCsv(fs.readFileSync(scoredFile, "utf8")).map((r) => [r.id, r]));
  for (const essay of essays.slice(0, 3)) {
    const { score, raw } = await typeAndScore(reader, essay.full_text, TIMEOUT);
    const expected = cli.get(essay.essay_id);
    // An int8 bundle: the page multiplies its integers, inputs rounded to 16 bits (app.mjs).
    check(expected && Number(expected.score) === score && Math.abs(Number(expected.raw_score) - raw) <= 2e-3,
      `essay ${essay.essay_id} scored from the share link: ${score} (raw ${raw}) = cyborg score ${expected?.score} (raw ${expected?.raw_score})`);
  }
  await reader.screenshot({ path: path.join(artifacts, "train-shared.png"), fullPage: true });

  // A second model taught by the first: half the rows keep their scores, the first model's
  // scores label the other half.
  const firstJob = bundleUrl.match(/[0-9a-f]{16}/)[0];
  await page.getByTestId("setting-teacher").selectOption("bundle");
  await page.getByTestId("setting-teacher-job").waitFor({ timeout: TIMEOUT });
  check(await page.getByTestId("setting-teacher-job").inputValue() === firstJob,
    "the model just trained is offered, and picked, as the teacher");
  await page.getByTestId("setting-human-fraction").fill("0.5");
  await page.getByTestId("train-start").click();
  const ended = async () => {
    await page.waitForFunction((first) => {
      const state = document.querySelector('[data-testid="job-state"]')?.textContent ?? "";
      return !state.includes(first) && /done|failed|cancelled$/.test(state);
    }, firstJob, { timeout: TIMEOUT });
    return page.getByTestId("job-state").textContent();
  };
  const taught = await ended();
  check(taught.endsWith("done"), `the taught job ends done: "${taught}"`);
  const taughtLog = await page.getByTestId("job-log").locator("li").allTextContents();
  check(taughtLog.some((l) => l.startsWith("teacher ready")), "the teacher's development QWK is in the log");
  const taughtMetrics = await page.getByTestId("job-metrics").textContent();
  const labelled = Number(taughtMetrics.match(/(\d+) training rows were labelled by the teacher/)?.[1]);
  check(labelled > 0, `the teacher labelled the rows set aside: "${taughtMetrics}"`);
  await page.screenshot({ path: path.join(artifacts, "train-taught.png"), fullPage: true });

  // An LLM teacher reaches the trainer with its address: nothing listens there, so the job
  // fails and says where it looked.
  await page.getByTestId("setting-teacher").selectOption("llm");
  await page.getByTestId("setting-llm-api-root").fill("http://127.0.0.1:9/v1");
  await page.getByTestId("setting-llm-model").fill("no-such-model");
  await page.getByTestId("train-start").click();
  await page.getByTestId("job-state").filter({ hasText: /failed$/ }).waitFor({ timeout: TIMEOUT });
  const failure = await page.getByTestId("train-error").textContent();
  check(failure.includes("http://127.0.0.1:9/v1/chat/completions"),
    `a failed LLM teacher says which address it could not reach: "${failure}"`);

  // Opened again later: every job is listed, newest first, a finished one with its model.
  await page.reload();
  await page.getByTestId("job-list").waitFor({ timeout: TIMEOUT });
  const listed = await page.getByTestId("listed-state").allTextContents();
  check(listed.join(",") === "failed,done,done", `after a reload the three jobs are listed, newest first: ${listed}`);
  const reason = await page.getByTestId("listed-error").allTextContents();
  check(reason.length === 1 && reason[0].includes("http://127.0.0.1:9/v1/chat/completions"),
    `the failed job's reason is listed: ${reason}`);
  const firstRow = page.locator(`[data-testid="listed-job"][data-job="${firstJob}"]`);
  check(await firstRow.getByTestId("listed-open").getAttribute("href") === `/?bundle=${bundleUrl}`,
    "the first job's model opens from the list");
  check(pageErrors.length === 0, `no page errors${pageErrors.length ? ": " + pageErrors.join("; ") : ""}`);
} catch (error) {
  await page.screenshot({ path: path.join(artifacts, "train-failed.png"), fullPage: true }).catch(() => {});
  check(false, `the Train view: ${error}`);
}
await browser.close();
if (failures.length) {
  console.error(`\n${failures.length} Train view check(s) failed`);
  process.exit(1);
}
console.log("\nall Train view checks passed");
