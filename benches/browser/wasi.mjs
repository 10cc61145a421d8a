// Runs a WASI command module (a Rust program built for wasm32-wasip1) in headless Chromium and
// prints what it wrote to standard output: for timing code as the browser's own engine runs it.
// Only the calls a plain Rust program makes are provided (stdout/stderr, the clock, exit).
//
//   node benches/browser/wasi.mjs PROGRAM.wasm
import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const bytes = await readFile(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
});
try {
  const page = await browser.newPage();
  const output = await page.evaluate(async (base64) => {
    const code = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    let memory;
    let text = "";
    const view = () => new DataView(memory.buffer);
    const decoder = new TextDecoder();
    class Exit extends Error {}
    const wasi = {
      environ_sizes_get: (count, size) => {
        view().setUint32(count, 0, true);
        view().setUint32(size, 0, true);
        return 0;
      },
      environ_get: () => 0,
      clock_time_get: (_id, _precision, time) => {
        view().setBigUint64(time, BigInt(Math.round(performance.now() * 1e6)), true);
        return 0;
      },
      fd_write: (_fd, iovs, count, written) => {
        let total = 0;
        for (let i = 0; i < count; i++) {
          const at = view().getUint32(iovs + 8 * i, true);
          const length = view().getUint32(iovs + 8 * i + 4, true);
          text += decoder.decode(new Uint8Array(memory.buffer, at, length));
          total += length;
        }
        view().setUint32(written, total, true);
        return 0;
      },
      proc_exit: (status) => {
        throw new Exit(`exit ${status}`);
      },
    };
    const { instance } = await WebAssembly.instantiate(code, { wasi_snapshot_preview1: wasi });
    memory = instance.exports.memory;
    try {
      instance.exports._start();
    } catch (e) {
      if (!(e instanceof Exit) || e.message !== "exit 0") throw e;
    }
    return text;
  }, bytes.toString("base64"));
  process.stdout.write(output);
} finally {
  await browser.close();
}
