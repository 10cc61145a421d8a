// The scorer page as the checks drive it.

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
