// transformers.js (wasm backend with one thread like Cyborg's worker, or WebGPU) on the same encoder, exported
// to ONNX by prepare.py. Everything is served locally; nothing may come from a CDN.
import { env, pipeline } from "/transformers/transformers.js";

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = "/models/";
env.backends.onnx.wasm.wasmPaths = "/ort/";
env.backends.onnx.wasm.numThreads = 1;

let extractor;
// `device`: "wasm" (one thread) or "webgpu"; `dtype`: "fp32" (onnx/model.onnx) or "q8"
// (onnx/model_quantized.onnx).
window.load = async ({ model, device = "wasm", dtype = "fp32" }) => {
  const start = performance.now();
  extractor = await pipeline("feature-extraction", model, { dtype, device });
  return { loadMs: performance.now() - start };
};

window.timeEach = async (texts) => {
  const ms = [];
  for (const text of texts) {
    const start = performance.now();
    await extractor(text, { pooling: "mean", normalize: false });
    ms.push(performance.now() - start);
  }
  return ms;
};

// Milliseconds per essay for `texts` in batches of `group` (padded to the longest in each).
window.timeBatch = async (texts, group) => {
  const start = performance.now();
  for (let i = 0; i < texts.length; i += group) {
    await extractor(texts.slice(i, i + group), { pooling: "mean", normalize: false });
  }
  return (performance.now() - start) / texts.length;
};
