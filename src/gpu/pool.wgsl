// The sum of each window's hidden states over its real tokens: (batch, width). Only these
// sums are read back; the CPU divides by the token count over all of a text's windows.

struct Shape {
    batch: u32,
    seq: u32,
    width: u32,
    unused: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> xs: array<f32>; // (batch · seq, width)
@group(0) @binding(2) var<storage, read> mask: array<f32>; // (batch, seq)
@group(0) @binding(3) var<storage, read_write> sums: array<f32>; // (batch, width)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let column = id.x;
    let window = id.y;
    if (column >= shape.width) {
        return;
    }
    var sum = 0.0;
    for (var j = 0u; j < shape.seq; j++) {
        if (mask[window * shape.seq + j] != 0.0) {
            sum += xs[(window * shape.seq + j) * shape.width + column];
        }
    }
    sums[window * shape.width + column] = sum;
}
