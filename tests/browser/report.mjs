// Opens a `cyborg eval --report` file in Debian's headless Chromium, checks that every plot
// rendered (laid out with a real size and drawn marks), that the page asked for nothing over
// the network, and saves a full-page screenshot.
//
//   node tests/browser/report.mjs REPORT.html SCREENSHOT.png
// Prints one JSON line: {"plots": [{"name", "width", "height", "marks"}], "requests": [...]}.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [report, screenshot] = process.argv.slice(2);
if (!report || !screenshot) {
  console.error('usage: node report.mjs REPORT.html SCREENSHOT.png');
  process.exit(2);
}
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'cyborg-chromium-')), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
  viewport: { width: 1000, height: 900 },
});
try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  const requests = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  await page.goto(pathToFileURL(resolve(report)).href, { waitUntil: 'load' });
  const plots = await page.$$eval('svg.plot', (svgs) => svgs.map((svg) => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('rect:not(.background), circle')]
      .filter((r) => { const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; });
    return { name: svg.dataset.plot, width: box.width, height: box.height, marks: marks.length };
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ plots, requests }));
} finally {
  await browser.close();
}
