// Scaled dot-product attention, one thread per (window, head, query token), in one pass over
// the keys with a running maximum (online softmax), so no seq × seq score matrix is stored.
// Padding keys (mask 0) are skipped, which is what the CPU's large negative bias amounts to.
// Vectors are read as vec4, so the head size must be a multiple of 4 (the encoder checks).

struct Shape {
    batch: u32,
    seq: u32,
    heads: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> query: array<vec4<f32>>; // (batch · seq, heads · HEAD_SIZE)
@group(0) @binding(2) var<storage, read> key: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> value: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> mask: array<f32>; // (batch, seq): 1 token, 0 padding
@group(0) @binding(5) var<storage, read_write> ys: array<vec4<f32>>;

// Filled in from the model's configuration when the shader is compiled.
const HEAD_SIZE: u32 = HEAD_SIZE_FROM_CONFIG;
const QUARTERS: u32 = HEAD_SIZE / 4u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let token = id.x;
    let head = id.y;
    let window = id.z;
    if (token >= shape.seq) {
        return;
    }
    let width = shape.heads * QUARTERS;
    let mine = (window * shape.seq + token) * width + head * QUARTERS;
    var q: array<vec4<f32>, QUARTERS>;
    for (var d = 0u; d < QUARTERS; d++) {
        q[d] = query[mine + d] * shape.scale;
    }
    var acc: array<vec4<f32>, QUARTERS>;
    var best = -3.0e38;
    var total = 0.0;
    for (var j = 0u; j < shape.seq; j++) {
        if (mask[window * shape.seq + j] == 0.0) {
            continue;
        }
        let other = (window * shape.seq + j) * width + head * QUARTERS;
        var score = 0.0;
        for (var d = 0u; d < QUARTERS; d++) {
            score += dot(q[d], key[other + d]);
        }
        let new_best = max(best, score);
        let rescale = exp(best - new_best);
        let weight = exp(score - new_best);
        total = total * rescale + weight;
        for (var d = 0u; d < QUARTERS; d++) {
            acc[d] = acc[d] * rescale + weight * value[other + d];
        }
        best = new_best;
    }
    for (var d = 0u; d < QUARTERS; d++) {
        ys[mine + d] = acc[d] / total;
    }
}
