// A bounded load test of `cyborg serve` on loopback: N requests (default 10,000), C at a time
// (default 50), for what readers of a share link fetch — the page, its scripts and wasm, the
// health check, and a job's bundle, revalidated (If-Modified-Since → 304, as a browser with
// it cached asks) or its first megabyte (Range → 206). Prints p50/p99 latency per kind and
// overall; fails if any request gets another status. The bundle is the newest finished job's.
//
//   node load.mjs URL [N] [C]
import { performance } from "node:perf_hooks";

const [url, total = "10000", concurrency = "50"] = process.argv.slice(2);
if (!url) {
  console.error("usage: node load.mjs URL [N] [C]");
  process.exit(2);
}
const job = (await (await fetch(`${url}/api/jobs`)).json()).find((j) => j.state === "done")?.id;
if (!job) {
  console.error(`${url} has no finished job to serve a bundle of`);
  process.exit(1);
}
const index = await (await fetch(`${url}/`)).text();
const attribute = (name) => index.match(new RegExp(`${name}="/?([^"]+)"`))?.[1];
const bundle = `/bundles/${job}.cyborg`;
const modified = (await fetch(url + bundle, { method: "HEAD" })).headers.get("last-modified");
const kinds = [
  { kind: "page", path: "/", expect: 200 },
  { kind: "start.js", path: "/start.js", expect: 200 },
  { kind: "page js", path: `/${attribute("data-js")}`, expect: 200 },
  { kind: "page wasm", path: `/${attribute("data-wasm")}`, expect: 200 },
  { kind: "health", path: "/api/health", expect: 200 },
  { kind: "bundle, revalidated", path: bundle, headers: { "if-modified-since": modified }, expect: 304 },
  { kind: "bundle, first MB", path: bundle, headers: { range: "bytes=0-1048575" }, expect: 206 },
];
const latencies = new Map(kinds.map((k) => [k.kind, []]));
const failures = [];
let next = 0;
const started = performance.now();
async function worker() {
  for (let i = next++; i < Number(total); i = next++) {
    const k = kinds[i % kinds.length];
    const t0 = performance.now();
    try {
      const response = await fetch(url + k.path, { headers: k.headers ?? {} });
      await response.arrayBuffer();
      if (response.status !== k.expect) failures.push(`${k.kind}: ${response.status}`);
    } catch (error) {
      failures.push(`${k.kind}: ${error}`);
    }
    latencies.get(k.kind).push(performance.now() - t0);
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
const seconds = (performance.now() - started) / 1000;
const quantile = (values, q) => values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
const row = (name, values) =>
  `| ${name} | ${values.length} | ${quantile(values, 0.5).toFixed(1)} | ${quantile(values, 0.99).toFixed(1)} |`;
console.log(`${total} requests, ${concurrency} at a time, to ${url}: ${seconds.toFixed(1)} s, ${(Number(total) / seconds).toFixed(0)} requests/s`);
console.log("| request | n | p50 ms | p99 ms |\n|---|---|---|---|");
for (const [name, values] of latencies) console.log(row(name, values));
console.log(row("all", [...latencies.values()].flat()));
if (failures.length) {
  console.error(`${failures.length} requests failed, e.g. ${failures.slice(0, 5).join("; ")}`);
  process.exit(1);
}
