//! Matrix products over a layer's weights packed once when the model loads, for inference on
//! the CPU: f32 ([`crate::packed`]) or an int8 bundle's integers ([`crate::int8`]).
//!
//! A general product (candle's `gemm`) packs both operands on every call and, for one
//! sequence's few hundred rows, leaves a core waiting; a layer's weights never change between
//! calls, so they are packed once in the order the kernel reads them, and each core takes whole
//! rows of the input. There is no backward pass: training multiplies as before.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use crate::kernels::{cpu_candidate, for_row_chunks, values};

/// A layer's matrix (outputs × inputs) packed for one of this CPU's product kernels.
pub trait PackedMatrix: Send + Sync {
    /// (outputs, inputs).
    fn shape(&self) -> (usize, usize);

    /// `x · wᵀ + bias` added into `out`, for whole rows of `x` (inputs wide) and of `out`
    /// (outputs wide).
    fn multiply_rows(&self, x: &[f32], bias: &[f32], out: &mut [f32]);
}

/// `x · wᵀ + bias (+ residual)` for `x` (…, inputs), on the CPU.
pub fn product(
    matrix: &Arc<dyn PackedMatrix>,
    x: &Tensor,
    bias: &Tensor,
    residual: Option<&Tensor>,
) -> Result<Tensor> {
    if !cpu_candidate(x) || !cpu_candidate(bias) {
        bail!("{}: needs f32 tensors on the CPU", Product::NAME);
    }
    let (x, bias) = (x.contiguous()?, bias.contiguous()?);
    let op = Product(matrix.clone());
    match residual {
        None => x.apply_op2_no_bwd(&bias, &op),
        Some(r) => x.apply_op3_no_bwd(&bias, &r.contiguous()?, &op),
    }
}

/// `x · wᵀ + bias`, and with a third input (a residual of the output's shape) `+ residual`:
/// the sum a residual connection takes next, in the same pass.
struct Product(Arc<dyn PackedMatrix>);

impl Product {
    const NAME: &'static str = "cyborg-packed-product";

    /// The product added to `start(output shape)`: zeros, or the residual.
    fn run(
        &self,
        (x, x_layout): (&CpuStorage, &Layout),
        (bias, bias_layout): (&CpuStorage, &Layout),
        start: impl FnOnce(&Shape) -> Result<Vec<f32>>,
    ) -> Result<(CpuStorage, Shape)> {
        let x = values(x, x_layout, Self::NAME)?;
        let bias = values(bias, bias_layout, Self::NAME)?;
        let (outputs, inputs) = self.0.shape();
        let mut dims = x_layout.dims().to_vec();
        if dims.last() != Some(&inputs) || bias.len() != outputs {
            bail!(
                "{}: input {dims:?} and bias of {} do not fit a {outputs}×{inputs} matrix",
                Self::NAME,
                bias.len(),
            );
        }
        *dims.last_mut().expect("an input dimension") = outputs;
        let shape = Shape::from(dims);
        let mut y = start(&shape)?;
        for_row_chunks(
            &mut y,
            outputs,
            #[inline(always)]
            |first, out| {
                let rows = out.len() / outputs;
                self.0
                    .multiply_rows(&x[first * inputs..][..rows * inputs], bias, out)
            },
        );
        Ok((CpuStorage::F32(y), shape))
    }
}

impl CustomOp2 for Product {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.run((s1, l1), (s2, l2), |shape| {
            Ok(vec![0f32; shape.elem_count()])
        })
    }
}

impl CustomOp3 for Product {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.run((s1, l1), (s2, l2), |shape| {
            if l3.dims() != shape.dims() {
                bail!("{}: residual {:?}, output {shape:?}", Self::NAME, l3.dims());
            }
            Ok(values(s3, l3, Self::NAME)?.to_vec())
        })
    }
}
