//! The encoder's layers on the reader's GPU, through WebGPU compute shaders.
//!
//! Driven with web-sys's WebGPU bindings rather than `wgpu`: the worker already links web-sys,
//! and four compute kernels do not need a portable graphics layer (which would add its own
//! megabyte of wasm). The embeddings, a table lookup, run on the CPU with the scorer's own code;
//! the transformer layers and the pooling run here, and only each window's pooled sum is read
//! back. The head, thresholds, features and advisories stay on the CPU, shared with the native
//! scorer, so a GPU can change an embedding only by rounding.
//!
//! Each layer is the paper's (Devlin et al., 2019): query, key and value projections, attention
//! per head, an output projection, a residual connection and layer normalisation, then the
//! feed-forward block with its own residual and normalisation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use candle_core::{Device, Tensor};
use cyborg_scorer::config::{Architecture, HiddenAct};
use cyborg_scorer::encoder::{Encoder, TokenBatch};
use cyborg_scorer::model::{plan_batches, PreparedText};
use wasm_bindgen::{JsCast, JsValue};

use crate::describe;
use web_sys::{
    gpu_buffer_usage as usage, gpu_map_mode, GpuAdapter, GpuAdapterInfo, GpuAutoLayoutMode,
    GpuBindGroupDescriptor, GpuBindGroupEntry, GpuBuffer, GpuBufferBinding, GpuBufferDescriptor,
    GpuComputePassEncoder, GpuComputePipeline, GpuComputePipelineDescriptor, GpuDevice,
    GpuDeviceLostInfo, GpuError, GpuErrorFilter, GpuProgrammableStage, GpuQueue,
    GpuShaderModuleDescriptor, WorkerGlobalScope,
};

/// The most tokens in one GPU batch: its buffers then take about 70 MB for this encoder, which
/// any GPU with WebGPU has (fewer when the adapter's largest buffer is smaller).
const MOST_BATCH_TOKENS: usize = 4096;

/// What went wrong on the GPU, in words for the page.
pub type GpuResult<T> = Result<T, String>;

/// The compiled kernels (one pipeline each, see the `.wgsl` files beside this one).
struct Kernels {
    linear: GpuComputePipeline,
    add_norm: GpuComputePipeline,
    attention: GpuComputePipeline,
    pool: GpuComputePipeline,
}

/// A linear layer's weight (outputs × inputs) and bias on the GPU.
struct GpuLinear {
    weight: GpuBuffer,
    bias: GpuBuffer,
    inputs: u32,
    outputs: u32,
}

/// A layer normalisation's scale and shift on the GPU.
struct GpuNorm {
    weight: GpuBuffer,
    bias: GpuBuffer,
}

/// One transformer layer's weights on the GPU.
struct GpuLayer {
    query: GpuLinear,
    key: GpuLinear,
    value: GpuLinear,
    attention_output: GpuLinear,
    attention_norm: GpuNorm,
    intermediate: GpuLinear,
    output: GpuLinear,
    output_norm: GpuNorm,
}

/// The encoder's layers uploaded to a GPU device, ready to run batches of windows.
pub struct GpuEncoder {
    device: GpuDevice,
    queue: GpuQueue,
    kernels: Kernels,
    layers: Vec<GpuLayer>,
    hidden: u32,
    heads: u32,
    head_size: u32,
    eps: f32,
    activation: u32,
    /// The most tokens (windows × padded length) in one batch.
    batch_tokens: usize,
    /// Why the device was lost, once it has been.
    lost: Rc<RefCell<Option<String>>>,
    /// The adapter, for people: vendor and architecture.
    pub adapter: String,
}

impl GpuEncoder {
    /// Asks the browser for a GPU, compiles the kernels and uploads every layer's weights once.
    pub async fn open(encoder: &Encoder) -> GpuResult<GpuEncoder> {
        let config = encoder.config();
        if config.architecture() != Architecture::Bert {
            return Err(
                "the GPU kernels run BERT encoders; this one is MPNet, whose relative \
                        position bias they do not add"
                    .into(),
            );
        }
        let sizes = [
            config.hidden_size,
            config.intermediate_size,
            config.head_size(),
        ];
        if sizes.iter().any(|size| size % 4 != 0) {
            return Err(format!(
                "the GPU kernels read vectors of 4, and this encoder's sizes {sizes:?} are not \
                 all multiples of 4"
            ));
        }
        let (adapter, device) = request_device().await?;
        let lost = Rc::new(RefCell::new(None));
        watch_for_loss(&device, lost.clone());
        device.push_error_scope(GpuErrorFilter::Validation);
        device.push_error_scope(GpuErrorFilter::OutOfMemory);
        let kernels = Kernels::compile(&device, config.head_size());
        let queue = device.queue();
        let layers = upload_layers(&device, &queue, encoder)?;
        check_scopes(&device, "setting up the GPU encoder").await?;
        // The largest buffer holds the feed-forward block's activations: 4 bytes per token
        // and intermediate unit.
        let limits = device.limits();
        let largest = limits
            .max_storage_buffer_binding_size()
            .min(limits.max_buffer_size());
        let batch_tokens =
            MOST_BATCH_TOKENS.min((largest / (4 * config.intermediate_size) as f64) as usize);
        Ok(GpuEncoder {
            kernels,
            layers,
            hidden: config.hidden_size as u32,
            heads: config.num_attention_heads as u32,
            head_size: config.head_size() as u32,
            eps: config.layer_norm_eps as f32,
            activation: match config.hidden_act {
                HiddenAct::Gelu => 1,
                HiddenAct::GeluApproximate => 2,
                HiddenAct::Relu => 3,
            },
            batch_tokens,
            lost,
            adapter: describe_adapter(&adapter.info()),
            queue,
            device,
        })
    }

    /// The pooled embedding of each text (texts, hidden), as
    /// [`cyborg_scorer::model::TextEncoder::pooled`] computes it on the CPU: the same
    /// windows, in batches of up to `batch_tokens` tokens.
    pub async fn pooled(&self, encoder: &Encoder, texts: &[PreparedText]) -> GpuResult<Tensor> {
        let windows: Vec<&[u32]> = texts
            .iter()
            .flat_map(|t| t.windows.iter().map(Vec::as_slice))
            .collect();
        let mut sums: Vec<Vec<f32>> = vec![Vec::new(); windows.len()];
        for batch in plan_batches(windows.iter().map(|w| w.len()), self.batch_tokens) {
            let members: Vec<&[u32]> = batch.iter().map(|&i| windows[i]).collect();
            for (sum, &i) in self
                .window_sums(encoder, &members)
                .await?
                .into_iter()
                .zip(&batch)
            {
                sums[i] = sum;
            }
        }
        let hidden = self.hidden as usize;
        let mut pooled = Vec::with_capacity(texts.len() * hidden);
        let mut next = 0;
        for text in texts {
            let mine = &sums[next..next + text.windows.len()];
            next += text.windows.len();
            let tokens = text.tokens().max(1) as f32;
            pooled.extend((0..hidden).map(|h| mine.iter().map(|s| s[h]).sum::<f32>() / tokens));
        }
        Tensor::from_vec(pooled, (texts.len(), hidden), &Device::Cpu).map_err(|e| e.to_string())
    }

    /// Destroys the device and frees its memory; every later call fails, as after a driver
    /// reset.
    pub fn destroy(&self) {
        self.device.destroy();
    }

    /// Runs one batch of windows through every layer and returns each window's sum of hidden
    /// states over its tokens.
    async fn window_sums(&self, encoder: &Encoder, windows: &[&[u32]]) -> GpuResult<Vec<Vec<f32>>> {
        if let Some(reason) = self.lost.borrow().clone() {
            return Err(format!("the GPU device was lost ({reason})"));
        }
        let tokens = TokenBatch::new(windows, &Device::Cpu).map_err(|e| e.to_string())?;
        let embedded: Vec<f32> = encoder
            .embed(&tokens)
            .and_then(|t| Ok(t.flatten_all()?.to_vec1()?))
            .map_err(|e| e.to_string())?;
        let mask: Vec<f32> = tokens
            .mask
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(|e| e.to_string())?;
        let (batch, seq) = (
            windows.len() as u32,
            (mask.len() / windows.len().max(1)) as u32,
        );
        self.device.push_error_scope(GpuErrorFilter::Validation);
        self.device.push_error_scope(GpuErrorFilter::OutOfMemory);
        let mut run = Run::new(self);
        let result = self
            .encode_and_read(&mut run, &embedded, &mask, batch, seq)
            .await;
        let scopes = check_scopes(&self.device, "running the encoder on the GPU").await;
        run.release();
        // A WebGPU error explains a failed read better than the read's own failure does.
        scopes?;
        Ok(result?
            .chunks(self.hidden as usize)
            .map(<[f32]>::to_vec)
            .collect())
    }

    async fn encode_and_read(
        &self,
        run: &mut Run<'_>,
        embedded: &[f32],
        mask: &[f32],
        batch: u32,
        seq: u32,
    ) -> GpuResult<Vec<f32>> {
        let width = self.hidden;
        let intermediate = self.layers.first().map_or(0, |l| l.intermediate.outputs);
        let buffers = LayerBuffers::new(run, embedded, mask, batch * seq, width, intermediate)?;
        let sums = run.scratch(batch * width)?;
        let commands = self.device.create_command_encoder();
        let pass = commands.begin_compute_pass();
        for layer in &self.layers {
            self.record_layer(run, &pass, layer, &buffers, batch, seq)?;
        }
        run.dispatch(
            &pass,
            &self.kernels.pool,
            [batch, seq, width, 0],
            &[&buffers.hidden, &buffers.mask, &sums],
            [width.div_ceil(64), batch, 1],
        )?;
        pass.end();
        let bytes = batch * width * 4;
        let readback = run.buffer(bytes, usage::MAP_READ | usage::COPY_DST)?;
        commands
            .copy_buffer_to_buffer_with_u32_and_u32_and_u32(&sums, 0, &readback, 0, bytes)
            .map_err(|e| describe(&e))?;
        self.queue.submit(&[commands.finish()]);
        settle(readback.map_async(gpu_map_mode::READ)).await?;
        let range = readback.get_mapped_range().map_err(|e| describe(&e))?;
        let values = js_sys::Float32Array::new(&range).to_vec();
        readback.unmap();
        Ok(values)
    }

    /// Records one encoder layer into `pass`: attention, then the feed-forward block, each
    /// added to its input and normalised; the layer's output replaces `buffers.hidden`.
    fn record_layer(
        &self,
        run: &mut Run<'_>,
        pass: &GpuComputePassEncoder,
        layer: &GpuLayer,
        buffers: &LayerBuffers,
        batch: u32,
        seq: u32,
    ) -> GpuResult<()> {
        let rows = batch * seq;
        run.linear(pass, &layer.query, &buffers.hidden, &buffers.query, rows, 0)?;
        run.linear(pass, &layer.key, &buffers.hidden, &buffers.key, rows, 0)?;
        run.linear(pass, &layer.value, &buffers.hidden, &buffers.value, rows, 0)?;
        let scale = 1.0 / (self.head_size as f32).sqrt();
        run.dispatch(
            pass,
            &self.kernels.attention,
            [batch, seq, self.heads, scale.to_bits()],
            &[
                &buffers.query,
                &buffers.key,
                &buffers.value,
                &buffers.mask,
                &buffers.context,
            ],
            [seq.div_ceil(64), self.heads, batch],
        )?;
        run.linear(
            pass,
            &layer.attention_output,
            &buffers.context,
            &buffers.projected,
            rows,
            0,
        )?;
        let attention_sum = [&buffers.projected, &buffers.hidden];
        run.add_norm(
            pass,
            &layer.attention_norm,
            attention_sum,
            &buffers.attended,
            rows,
        )?;
        let activation = self.activation;
        run.linear(
            pass,
            &layer.intermediate,
            &buffers.attended,
            &buffers.inner,
            rows,
            activation,
        )?;
        run.linear(
            pass,
            &layer.output,
            &buffers.inner,
            &buffers.projected,
            rows,
            0,
        )?;
        // The layer's output overwrites its input, which nothing reads any more.
        let output_sum = [&buffers.projected, &buffers.attended];
        run.add_norm(pass, &layer.output_norm, output_sum, &buffers.hidden, rows)
    }
}

/// The buffers every layer of one batch reads and writes: the hidden states (the embeddings
/// first), the padding mask, and the scratch space between the layer's steps.
struct LayerBuffers {
    hidden: GpuBuffer,
    mask: GpuBuffer,
    query: GpuBuffer,
    key: GpuBuffer,
    value: GpuBuffer,
    context: GpuBuffer,
    projected: GpuBuffer,
    attended: GpuBuffer,
    inner: GpuBuffer,
}

impl LayerBuffers {
    fn new(
        run: &mut Run<'_>,
        embedded: &[f32],
        mask: &[f32],
        rows: u32,
        width: u32,
        intermediate: u32,
    ) -> GpuResult<Self> {
        Ok(LayerBuffers {
            hidden: run.input(embedded)?,
            mask: run.input(mask)?,
            query: run.scratch(rows * width)?,
            key: run.scratch(rows * width)?,
            value: run.scratch(rows * width)?,
            context: run.scratch(rows * width)?,
            projected: run.scratch(rows * width)?,
            attended: run.scratch(rows * width)?,
            inner: run.scratch(rows * intermediate)?,
        })
    }
}

/// The buffers one batch needs, destroyed together when it is done (or has failed).
struct Run<'a> {
    encoder: &'a GpuEncoder,
    buffers: Vec<GpuBuffer>,
}

impl<'a> Run<'a> {
    fn new(encoder: &'a GpuEncoder) -> Self {
        Run {
            encoder,
            buffers: Vec::new(),
        }
    }

    fn buffer(&mut self, bytes: u32, usage: u32) -> GpuResult<GpuBuffer> {
        let buffer = create_buffer(&self.encoder.device, bytes, usage)?;
        self.buffers.push(buffer.clone());
        Ok(buffer)
    }

    fn scratch(&mut self, floats: u32) -> GpuResult<GpuBuffer> {
        self.buffer(floats * 4, usage::STORAGE | usage::COPY_SRC)
    }

    fn input(&mut self, values: &[f32]) -> GpuResult<GpuBuffer> {
        let buffer = self.buffer(values.len() as u32 * 4, usage::STORAGE | usage::COPY_DST)?;
        write(&self.encoder.queue, &buffer, bytemuck::cast_slice(values))?;
        Ok(buffer)
    }

    /// Encodes one kernel over `groups` workgroups, with `shape` as its uniform and `buffers`
    /// bound from 1 on, in the order the kernel declares them.
    fn dispatch(
        &mut self,
        pass: &GpuComputePassEncoder,
        kernel: &GpuComputePipeline,
        shape: [u32; 4],
        buffers: &[&GpuBuffer],
        groups: [u32; 3],
    ) -> GpuResult<()> {
        let uniform = self.buffer(16, usage::UNIFORM | usage::COPY_DST)?;
        write(&self.encoder.queue, &uniform, bytemuck::cast_slice(&shape))?;
        let entries: Vec<GpuBindGroupEntry> = std::iter::once(&uniform)
            .chain(buffers.iter().copied())
            .enumerate()
            .map(|(i, buffer)| {
                GpuBindGroupEntry::new_with_gpu_buffer_binding(
                    i as u32,
                    &GpuBufferBinding::new(buffer),
                )
            })
            .collect();
        let bind_group = self
            .encoder
            .device
            .create_bind_group(&GpuBindGroupDescriptor::new(
                &entries,
                &kernel.get_bind_group_layout(0),
            ));
        pass.set_pipeline(kernel);
        pass.set_bind_group(0, Some(&bind_group));
        pass.dispatch_workgroups_with_workgroup_count_y_and_workgroup_count_z(
            groups[0], groups[1], groups[2],
        );
        Ok(())
    }

    fn linear(
        &mut self,
        pass: &GpuComputePassEncoder,
        layer: &GpuLinear,
        xs: &GpuBuffer,
        ys: &GpuBuffer,
        rows: u32,
        activation: u32,
    ) -> GpuResult<()> {
        self.dispatch(
            pass,
            &self.encoder.kernels.linear,
            [rows, layer.inputs, layer.outputs, activation],
            &[xs, &layer.weight, &layer.bias, ys],
            [layer.outputs.div_ceil(4).div_ceil(64), rows.div_ceil(4), 1],
        )
    }

    fn add_norm(
        &mut self,
        pass: &GpuComputePassEncoder,
        norm: &GpuNorm,
        [a, b]: [&GpuBuffer; 2],
        ys: &GpuBuffer,
        rows: u32,
    ) -> GpuResult<()> {
        let encoder = self.encoder;
        self.dispatch(
            pass,
            &encoder.kernels.add_norm,
            [rows, encoder.hidden, encoder.eps.to_bits(), 0],
            &[a, b, &norm.weight, &norm.bias, ys],
            [rows, 1, 1],
        )
    }

    fn release(self) {
        for buffer in self.buffers {
            buffer.destroy();
        }
    }
}

impl Kernels {
    fn compile(device: &GpuDevice, head_size: usize) -> Kernels {
        let attention = include_str!("attention.wgsl")
            .replace("HEAD_SIZE_FROM_CONFIG", &format!("{head_size}u"));
        Kernels {
            linear: pipeline(device, include_str!("linear.wgsl")),
            add_norm: pipeline(device, include_str!("add_norm.wgsl")),
            attention: pipeline(device, &attention),
            pool: pipeline(device, include_str!("pool.wgsl")),
        }
    }
}

fn pipeline(device: &GpuDevice, code: &str) -> GpuComputePipeline {
    let module = device.create_shader_module(&GpuShaderModuleDescriptor::new(code));
    let stage = GpuProgrammableStage::new(&module);
    stage.set_entry_point("main");
    device.create_compute_pipeline(
        &GpuComputePipelineDescriptor::new_with_gpu_auto_layout_mode(
            GpuAutoLayoutMode::Auto,
            &stage,
        ),
    )
}

fn upload_layers(
    device: &GpuDevice,
    queue: &GpuQueue,
    encoder: &Encoder,
) -> GpuResult<Vec<GpuLayer>> {
    let named: HashMap<String, &Tensor> = encoder.named_parameters().into_iter().collect();
    let tensor = |name: String| -> GpuResult<(GpuBuffer, Vec<usize>)> {
        let tensor = named
            .get(&name)
            .ok_or_else(|| format!("the encoder has no tensor \"{name}\""))?;
        let values: Vec<f32> = tensor
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(|e| e.to_string())?;
        let buffer = create_buffer(
            device,
            values.len() as u32 * 4,
            usage::STORAGE | usage::COPY_DST,
        )?;
        write(queue, &buffer, bytemuck::cast_slice(&values))?;
        Ok((buffer, tensor.dims().to_vec()))
    };
    let linear = |name: &str| -> GpuResult<GpuLinear> {
        let (weight, dims) = tensor(format!("{name}.weight"))?;
        let (bias, _) = tensor(format!("{name}.bias"))?;
        Ok(GpuLinear {
            weight,
            bias,
            outputs: dims[0] as u32,
            inputs: dims[1] as u32,
        })
    };
    let norm = |name: &str| -> GpuResult<GpuNorm> {
        Ok(GpuNorm {
            weight: tensor(format!("{name}.weight"))?.0,
            bias: tensor(format!("{name}.bias"))?.0,
        })
    };
    (0..encoder.layers().len())
        .map(|i| {
            let p = format!("encoder.layer.{i}");
            Ok(GpuLayer {
                query: linear(&format!("{p}.attention.self.query"))?,
                key: linear(&format!("{p}.attention.self.key"))?,
                value: linear(&format!("{p}.attention.self.value"))?,
                attention_output: linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                intermediate: linear(&format!("{p}.intermediate.dense"))?,
                output: linear(&format!("{p}.output.dense"))?,
                output_norm: norm(&format!("{p}.output.LayerNorm"))?,
            })
        })
        .collect()
}

fn create_buffer(device: &GpuDevice, bytes: u32, usage: u32) -> GpuResult<GpuBuffer> {
    // WebGPU sizes are multiples of 4, and a binding must not be empty.
    let size = bytes.max(4).next_multiple_of(4);
    device
        .create_buffer(&GpuBufferDescriptor::new(size, usage))
        .map_err(|e| {
            format!(
                "could not make a GPU buffer of {size} bytes: {}",
                describe(&e)
            )
        })
}

fn write(queue: &GpuQueue, buffer: &GpuBuffer, bytes: &[u8]) -> GpuResult<()> {
    queue
        .write_buffer_with_u32_and_u8_slice(buffer, 0, bytes)
        .map_err(|e| format!("could not upload to the GPU: {}", describe(&e)))
}

/// Pops the out-of-memory and validation scopes pushed before `what`, failing on either.
async fn check_scopes(device: &GpuDevice, what: &str) -> GpuResult<()> {
    let mut errors = Vec::new();
    for _ in 0..2 {
        let error = settle(device.pop_error_scope()).await?;
        if let Some(error) = error.dyn_ref::<GpuError>() {
            errors.push(error.message());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "WebGPU reported an error {what}: {}",
            errors.join("; ")
        ))
    }
}

/// The browser's GPU adapter and a device on it, or why there is none.
async fn request_device() -> GpuResult<(GpuAdapter, GpuDevice)> {
    let navigator = js_sys::global()
        .unchecked_into::<WorkerGlobalScope>()
        .navigator();
    let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap_or_default();
    if gpu.is_undefined() {
        return Err("this browser offers no WebGPU here (navigator.gpu is missing)".into());
    }
    let gpu: web_sys::Gpu = gpu.unchecked_into();
    let adapter = settle(gpu.request_adapter()).await?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("the browser has WebGPU but found no GPU adapter".into());
    }
    let adapter: GpuAdapter = adapter.unchecked_into();
    let device = settle(adapter.request_device()).await?.unchecked_into();
    Ok((adapter, device))
}

/// Records why the device was lost, when it is.
fn watch_for_loss(device: &GpuDevice, lost: Rc<RefCell<Option<String>>>) {
    let promise = device.lost();
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(info) = settle(promise).await {
            let info: GpuDeviceLostInfo = info.unchecked_into();
            let message = info.message();
            *lost.borrow_mut() = Some(if message.is_empty() {
                format!("{:?}", info.reason())
            } else {
                message
            });
        }
    });
}

fn describe_adapter(info: &GpuAdapterInfo) -> String {
    let parts: Vec<String> = [info.vendor(), info.architecture(), info.description()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        "an unnamed adapter".into()
    } else {
        parts.join(" ")
    }
}

/// Waits for a promise, as a plain value or an error in words.
async fn settle(promise: impl JsCast) -> GpuResult<JsValue> {
    wasm_bindgen_futures::JsFuture::from(promise.unchecked_into::<js_sys::Promise>())
        .await
        .map_err(|e| describe(&e))
}
