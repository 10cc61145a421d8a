// A residual connection and layer normalisation: ys = LayerNorm(a + b) · gamma + beta, one
// workgroup per row, the mean and variance reduced in workgroup memory (two passes, as the CPU
// kernel does, so that large means do not cancel).

struct Shape {
    rows: u32,
    width: u32,
    eps: f32,
    unused: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> ys: array<f32>;

const THREADS: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

// The sum of every thread's `value`, returned to every thread.
fn workgroup_sum(thread: u32, value: f32) -> f32 {
    partial[thread] = value;
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
        if (thread < stride) {
            partial[thread] += partial[thread + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let base = group.x * shape.width;
    let thread = local.x;
    var sum = 0.0;
    for (var i = thread; i < shape.width; i += THREADS) {
        sum += a[base + i] + b[base + i];
    }
    let mean = workgroup_sum(thread, sum) / f32(shape.width);
    var squares = 0.0;
    for (var i = thread; i < shape.width; i += THREADS) {
        let d = a[base + i] + b[base + i] - mean;
        squares += d * d;
    }
    let scale = inverseSqrt(workgroup_sum(thread, squares) / f32(shape.width) + shape.eps);
    for (var i = thread; i < shape.width; i += THREADS) {
        ys[base + i] = (a[base + i] + b[base + i] - mean) * scale * gamma[i] + beta[i];
    }
}
