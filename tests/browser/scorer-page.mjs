// The scorer page as the checks drive it.

import fs from "node:fs";
import { parseCsv } from "./csv.mjs";

/**
 * Types `text` as the response and waits until the shown score is this text's (the page marks
 * the result busy until then), however long scoring takes. Returns its level and raw score.
 */
export async function typeAndScore(page, text, timeout) {
  await page.getByTestId("response").fill(text);
  await page.waitForFunction(
    (expected) => document.querySelector("#response")?.value === expected &&
      document.querySelector("[data-testid=raw-score]") !== null,
    text,
    { timeout },
  );
  await page.waitForFunction(
    () => document.querySelector("[data-testid=result]")?.getAttribute("aria-busy") === "false",
    null,
    { timeout },
  );
  return {
    score: Number(await page.getByTestId("score").textContent()),
    raw: Number(await page.getByTestId("raw-score").getAttribute("data-raw")),
  };
}

// Waits for the batch panel to finish `n` rows.
export const batchFinished = (page, n, perRow = 5_000) => page.waitForFunction(
  (n) => Number(document.querySelector("[data-testid=batch-done]")?.textContent) === n &&
    document.querySelector("[data-testid=batch-cancel]").disabled,
  n,
  { timeout: n * perRow },
);

export async function downloadBatch(page) {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("batch-download").click(),
  ]);
  return parseCsv(fs.readFileSync(await download.path(), "utf8"));
}

// How many downloaded rows have the score, raw score (within `tolerance`) and advisories
// that `cyborg score` gave (`cli`: essay id → its row); 0 unless every row is there.
export function sameAsCli(rows, cli, tolerance) {
  let agree = 0;
  let maxRawDiff = 0;
  for (const row of rows) {
    const c = cli.get(row.essay_id);
    if (!c) continue;
    const diff = Math.abs(Number(c.raw_score) - Number(row.raw_score));
    maxRawDiff = Math.max(maxRawDiff, diff);
    if (Number(c.score) === Number(row.score) && diff <= tolerance && c.advisories === row.advisories) agree += 1;
  }
  return { agree: rows.length === cli.size ? agree : 0, maxRawDiff };
}
