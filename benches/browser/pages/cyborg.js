// Drives the app's own scoring worker (dist/scoring-worker_loader.js) with the messages of
// src/protocol.rs, one response at a time, as the app does.
const worker = new Worker("/scoring-worker_loader.js");
const waiting = new Map();
let nextId = 1;
let started;
const ready = new Promise((resolve) => (started = resolve));
worker.onmessage = (event) => {
  const reply = JSON.parse(event.data);
  if (reply.body.Started) return started(reply.body.Started);
  waiting.get(reply.id)(reply.body);
  waiting.delete(reply.id);
};
function call(body, bytes) {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    const message = [JSON.stringify({ id, body })];
    if (bytes) {
      message.push(bytes);
      worker.postMessage(message, [bytes.buffer]);
    } else {
      worker.postMessage(message);
    }
  });
}
function answer(body) {
  if (body.Failed) throw new Error(body.Failed.message);
  return Object.values(body)[0];
}

// `backend`: "Wasm" or "WebGpu" forces one; null lets the worker choose, as the app does.
// `int8Products`: an int8 bundle's matrices multiplied as its stored integers.
window.load = async ({ url, backend = null, int8Products = false }) => {
  const build = await ready;
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const loaded = answer(await call({ Load: { name: url, backend, int8_products: int8Products } }, bytes));
  return { build, loadMs: loaded.load_ms, backend: loaded.backend, int8Products: loaded.int8_products };
};

window.timeEach = async (texts) => {
  const ms = [];
  for (const text of texts) {
    const start = performance.now();
    answer(await call({ Score: { text } }));
    ms.push(performance.now() - start);
  }
  return ms;
};

// Milliseconds per essay for `texts` scored in groups of `group`, as the app's batch panel
// sends them when batches run on WebGPU.
window.timeBatch = async (texts, group) => {
  const start = performance.now();
  for (let i = 0; i < texts.length; i += group) {
    for (const scored of answer(await call({ ScoreMany: { texts: texts.slice(i, i + group) } }))) {
      if (scored.Err) throw new Error(scored.Err);
    }
  }
  return (performance.now() - start) / texts.length;
};

// Each text's level and raw score, scored one at a time.
window.scoreEach = async (texts) => {
  const scores = [];
  for (const text of texts) {
    const { score } = answer(await call({ Score: { text } }));
    scores.push({ level: score.score, raw: score.raw });
  }
  return scores;
};
