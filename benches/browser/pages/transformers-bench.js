// transformers.js (wasm backend, one thread like Cyborg's worker) on the same encoder, exported
// to ONNX by prepare.py. Everything is served locally; nothing may come from a CDN.
import { env, pipeline } from "/transformers/transformers.js";

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = "/models/";
env.backends.onnx.wasm.wasmPaths = "/ort/";
env.backends.onnx.wasm.numThreads = 1;

let extractor;
window.load = async (model) => {
  const start = performance.now();
  extractor = await pipeline("feature-extraction", model, { dtype: "fp32", device: "wasm" });
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
