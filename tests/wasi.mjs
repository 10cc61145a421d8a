// Cargo's runner for wasm32-wasip1 (scripts/test-wasm.sh): runs a test binary built for WASI under
// Node, whose V8 is the browser's engine, so the scorer's own tests check the kernels written
// for wasm32 (simd128) as the app runs them. The whole file system is visible (tests read
// models and fixtures by absolute path) and the environment is passed through (CYBORG_REQUIRE_*).
//
//   node tests/wasi.mjs TEST.wasm [ARGS…]
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [program, ...args] = process.argv.slice(2);
const wasi = new WASI({
  version: "preview1",
  args: [program, ...args],
  env: process.env,
  preopens: { "/": "/" },
});
const module = await WebAssembly.compile(await readFile(program));
process.exitCode = wasi.start(await WebAssembly.instantiate(module, wasi.getImportObject()));
