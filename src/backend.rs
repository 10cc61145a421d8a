//! Where the scoring worker runs the encoder for a model: WebAssembly on the CPU, or WebGPU,
//! chosen when the model loads, and WebAssembly for good once WebGPU has failed.

use candle_core::Tensor;
use cyborg_scorer::model::PreparedText;
use cyborg_scorer::Scorer;

use crate::gpu::GpuEncoder;
use crate::protocol::{Backend, BackendReport, BatchTiming, Calibration};

/// What the worker times both backends on: about 100 tokens of ordinary prose, long enough to
/// exercise every kernel and short enough to time in well under a second on a CPU.
const CALIBRATION_TEXT: &str = "Reading widely gives students more to say and more ways to \
    say it. When a writer has met an idea in a novel, a newspaper and a textbook, the essay \
    that follows can compare them, weigh the evidence each offers, and reach a conclusion that \
    is the writer's own. Teachers notice this in the structure of paragraphs as much as in the \
    choice of words: claims are followed by reasons, reasons by examples, and examples by a \
    sentence that explains why they matter. ";

/// Copies of the calibration text in the timed batch.
const CALIBRATION_BATCH: usize = 8;

/// WebGPU this many times slower than WebAssembly on one response is not timed on a batch:
/// batching would not make up the difference, and on a slow adapter the timing costs seconds.
const TOO_FAR_BEHIND: f64 = 4.0;

/// The encoder backends for one loaded model.
pub struct Backends {
    gpu: Option<GpuEncoder>,
    report: BackendReport,
    /// Fault injection: destroy the GPU device after this many GPU calls.
    lose_after: Option<u32>,
    gpu_calls: u32,
}

impl Backends {
    /// Sets up the backends for `scorer`. `choice` forces one; `None` times both on the same
    /// text and takes the faster. WebGPU that cannot start leaves WebAssembly, with the reason.
    pub async fn choose(scorer: &Scorer, choice: Option<Backend>, lose_after: Option<u32>) -> Self {
        if choice == Some(Backend::Wasm) {
            return Backends::wasm("the link asks for WebAssembly (backend=wasm)".into());
        }
        let gpu = match GpuEncoder::open(&scorer.text_encoder.encoder).await {
            Ok(gpu) => gpu,
            Err(error) => return Backends::wasm(format!("WebGPU is not available: {error}")),
        };
        let mut backends = Backends {
            report: BackendReport {
                single: Backend::WebGpu,
                batch: Backend::WebGpu,
                adapter: Some(gpu.adapter.clone()),
                calibration: None,
                note: None,
            },
            gpu: Some(gpu),
            lose_after,
            gpu_calls: 0,
        };
        if choice.is_none() {
            backends.calibrate(scorer).await;
        }
        backends
    }

    fn wasm(note: String) -> Self {
        Backends {
            gpu: None,
            report: BackendReport {
                single: Backend::Wasm,
                batch: Backend::Wasm,
                adapter: None,
                calibration: None,
                note: Some(note),
            },
            lose_after: None,
            gpu_calls: 0,
        }
    }

    /// The chosen backend and what decided it.
    pub fn report(&self) -> &BackendReport {
        &self.report
    }

    /// Times one response, then a batch of copies of it, on each backend (WebGPU after an
    /// untimed run that compiles its pipelines) and keeps the faster for each; notes how far
    /// their embeddings differ.
    async fn calibrate(&mut self, scorer: &Scorer) {
        let calibration = match self.time_both(scorer).await {
            Ok(calibration) => calibration,
            Err(error) => return self.fall_back(error),
        };
        let faster = |wasm: f64, webgpu: f64| {
            if wasm <= webgpu {
                Backend::Wasm
            } else {
                Backend::WebGpu
            }
        };
        self.report.single = faster(calibration.wasm_ms, calibration.webgpu_ms);
        self.report.batch = calibration
            .batch
            .as_ref()
            .map_or(Backend::Wasm, |b| faster(b.wasm_ms, b.webgpu_ms));
        if self.report.single == Backend::Wasm && self.report.batch == Backend::Wasm {
            // Nothing will run on the GPU: give its memory back.
            self.release_gpu();
            let batch = match &calibration.batch {
                Some(b) => format!(
                    ", {:.0} against {:.0} ms each in a batch",
                    b.wasm_ms, b.webgpu_ms
                ),
                None => "; too far behind to be timed on a batch".into(),
            };
            self.report.note = Some(format!(
                "WebAssembly was faster on this device ({:.0} ms against {:.0} ms for one \
                 response{batch})",
                calibration.wasm_ms, calibration.webgpu_ms,
            ));
        }
        self.report.calibration = Some(calibration);
    }

    async fn time_both(&mut self, scorer: &Scorer) -> Result<Calibration, String> {
        let text = scorer
            .text_encoder
            .prepare(CALIBRATION_TEXT)
            .map_err(|error| format!("could not prepare its test text: {error}"))?;
        let one = std::slice::from_ref(&text);
        self.gpu_pooled(scorer, one).await?;
        let (on_gpu, webgpu_ms) = self.time(scorer, one, Backend::WebGpu).await?;
        let (on_cpu, wasm_ms) = self.time(scorer, one, Backend::Wasm).await?;
        let largest_difference = (on_gpu - on_cpu)
            .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
            .map_err(|e| e.to_string())?;
        let batch = if webgpu_ms > TOO_FAR_BEHIND * wasm_ms {
            None
        } else {
            let many = vec![text.clone(); CALIBRATION_BATCH];
            let (_, webgpu_batch) = self.time(scorer, &many, Backend::WebGpu).await?;
            let (_, wasm_batch) = self.time(scorer, &many, Backend::Wasm).await?;
            Some(BatchTiming {
                size: CALIBRATION_BATCH,
                wasm_ms: wasm_batch / CALIBRATION_BATCH as f64,
                webgpu_ms: webgpu_batch / CALIBRATION_BATCH as f64,
            })
        };
        Ok(Calibration {
            tokens: text.tokens(),
            wasm_ms,
            webgpu_ms,
            batch,
            largest_difference,
        })
    }

    /// The pooled embeddings of `texts` on `backend`, and the milliseconds they took.
    async fn time(
        &mut self,
        scorer: &Scorer,
        texts: &[PreparedText],
        backend: Backend,
    ) -> Result<(Tensor, f64), String> {
        let started = now_ms();
        let pooled = match backend {
            Backend::WebGpu => self.gpu_pooled(scorer, texts).await?,
            Backend::Wasm => scorer
                .text_encoder
                .pooled(texts)
                .map_err(|e| e.to_string())?,
        };
        Ok((pooled, now_ms() - started))
    }

    /// The pooled embeddings of `texts` on the backend chosen for one response or for a
    /// batch, the backend that computed them, and — when WebGPU failed on them — why, after
    /// which WebAssembly computed them and computes everything from now on.
    pub async fn pooled(
        &mut self,
        scorer: &Scorer,
        texts: &[PreparedText],
    ) -> cyborg_scorer::Result<(Tensor, Backend, Option<String>)> {
        let chosen = match texts.len() {
            1 => self.report.single,
            _ => self.report.batch,
        };
        let mut fallback = None;
        if chosen == Backend::WebGpu {
            match self.gpu_pooled(scorer, texts).await {
                Ok(pooled) => return Ok((pooled, Backend::WebGpu, None)),
                Err(error) => {
                    self.fall_back(error);
                    fallback = self.report.note.clone();
                }
            }
        }
        Ok((scorer.text_encoder.pooled(texts)?, Backend::Wasm, fallback))
    }

    async fn gpu_pooled(
        &mut self,
        scorer: &Scorer,
        texts: &[PreparedText],
    ) -> Result<Tensor, String> {
        let gpu = self.gpu.as_ref().ok_or("WebGPU is not set up")?;
        self.gpu_calls += 1;
        if self.lose_after.is_some_and(|after| self.gpu_calls > after) {
            gpu.destroy();
        }
        gpu.pooled(&scorer.text_encoder.encoder, texts).await
    }

    fn fall_back(&mut self, error: String) {
        // Whatever failed, the GPU's memory goes back now rather than when it is collected.
        self.release_gpu();
        self.report.single = Backend::Wasm;
        self.report.batch = Backend::Wasm;
        self.report.note = Some(format!(
            "WebGPU failed ({error}); scoring with WebAssembly for the rest of this session"
        ));
    }

    fn release_gpu(&mut self) {
        if let Some(gpu) = self.gpu.take() {
            gpu.destroy();
        }
    }
}

/// Milliseconds since the worker started.
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::global()
        .unchecked_into::<web_sys::WorkerGlobalScope>()
        .performance()
        .map_or_else(js_sys::Date::now, |p| p.now())
}
