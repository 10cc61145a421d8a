//! Smaller bundles: the precision a bundle stores its encoder's matrices in.
//!
//! Half of the encoder's weights are the word-embedding table, which is only looked up, and
//! the rest are the layers' matrices; vectors (biases, layer norms) and the head are a tiny
//! fraction and always stay f32. A matrix is turned back into f32 when the bundle loads, so
//! every kernel, in the CLI and in the browser, runs unchanged: what shrinks is the download
//! and the bundle's checksum work.
//!
//! int8 stores `w[i][j] ≈ q[i][j] × row[i] × column[j]`, q in −127..=127 kept as the byte
//! `q + 128`. The column scale is the square root of the column's largest magnitude: a few
//! hidden dimensions of a BERT encoder are far larger than the rest, and with a scale per row
//! alone they coarsen every value of every row. Sharing the range between rows and columns
//! lowered the mean raw-score change from f32 on five of the eight ASAP-AES prompts (by 18% in
//! geometric mean; by a third on prompt 7), though not the number of essays that change level
//! (BENCHMARKS.md, "Smaller bundles").

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a bundle stores its encoder's matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats: exactly the trained weights.
    #[default]
    F32,
    /// 16-bit floats: half the size.
    F16,
    /// 8-bit integers with a scale per row and per column: a quarter of the size.
    Int8,
}

/// The name suffixes of an int8 matrix's three stored tensors.
const INT8: &str = ".int8";
const ROW_SCALES: &str = ".int8_row_scales";
const COLUMN_SCALES: &str = ".int8_column_scales";

impl Precision {
    /// Every precision, largest first.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Int8];

    /// Its name, as `--weights` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
    }

    /// The stored form of the matrix `name`: one tensor, or integers and their scales.
    pub fn store_matrix(self, name: &str, matrix: &Tensor) -> Result<Vec<(String, Tensor)>> {
        Ok(match self {
            Precision::F32 => vec![(name.to_string(), matrix.to_dtype(DType::F32)?)],
            Precision::F16 => vec![(name.to_string(), matrix.to_dtype(DType::F16)?)],
            Precision::Int8 => {
                let (values, rows, columns) = quantize_int8(matrix)?;
                vec![
                    (format!("{name}{INT8}"), values),
                    (format!("{name}{ROW_SCALES}"), rows),
                    (format!("{name}{COLUMN_SCALES}"), columns),
                ]
            }
        })
    }

    /// The precision of stored `tensors`: the smallest form any matrix uses.
    pub fn of_stored(tensors: &HashMap<String, Tensor>) -> Precision {
        if tensors.keys().any(|name| name.ends_with(INT8)) {
            Precision::Int8
        } else if tensors.values().any(|t| t.dtype() == DType::F16) {
            Precision::F16
        } else {
            Precision::F32
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("\"{s}\" is not a precision (f32, f16 or int8)"))
    }
}

/// The largest magnitude in `values`, or 1 when they are all zero (their integers are then
/// all zero whatever the scale).
fn largest_or_one(values: impl Iterator<Item = f32>) -> f32 {
    let largest = values.fold(0f32, |m, v| m.max(v.abs()));
    if largest > 0.0 {
        largest
    } else {
        1.0
    }
}

/// The integers (as bytes), row scales and column scales of `matrix`.
fn quantize_int8(matrix: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let (rows, columns) = matrix.dims2()?;
    let values = matrix
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let column_scales: Vec<f32> = (0..columns)
        .map(|j| largest_or_one((0..rows).map(|i| values[i * columns + j])).sqrt())
        .collect();
    let mut bytes = Vec::with_capacity(values.len());
    let mut row_scales = Vec::with_capacity(rows);
    for row in values.chunks(columns) {
        let balanced: Vec<f32> = row.iter().zip(&column_scales).map(|(v, c)| v / c).collect();
        let scale = largest_or_one(balanced.iter().copied()) / 127.0;
        row_scales.push(scale);
        bytes.extend(
            balanced
                .iter()
                .map(|v| ((v / scale).round().clamp(-127.0, 127.0) as i32 + 128) as u8),
        );
    }
    let device = matrix.device();
    Ok((
        Tensor::from_vec(bytes, (rows, columns), device)?,
        Tensor::from_vec(row_scales, rows, device)?,
        Tensor::from_vec(column_scales, columns, device)?,
    ))
}

/// `tensors` as stored in a bundle, with every int8 matrix turned back into one f32 tensor
/// under its own name; `source_name` names the bundle in errors.
pub fn restore(
    mut tensors: HashMap<String, Tensor>,
    source_name: &str,
) -> Result<HashMap<String, Tensor>> {
    let names: Vec<String> = tensors
        .keys()
        .filter_map(|n| n.strip_suffix(INT8).map(str::to_string))
        .collect();
    for name in names {
        let mut take = |suffix: &str| {
            let full = format!("{name}{suffix}");
            tensors.remove(&full).ok_or_else(|| {
                Error::invalid(source_name, format!("has no tensor named \"{full}\""))
            })
        };
        let (values, rows, columns) = (take(INT8)?, take(ROW_SCALES)?, take(COLUMN_SCALES)?);
        let matrix = dequantize_int8(&values, &rows, &columns)
            .map_err(|why| Error::invalid(source_name, format!("tensor \"{name}\": {why}")))?;
        tensors.insert(name, matrix);
    }
    Ok(tensors)
}

/// The f32 matrix that `values` and its scales stand for, or why they do not fit together.
fn dequantize_int8(
    values: &Tensor,
    row_scales: &Tensor,
    column_scales: &Tensor,
) -> std::result::Result<Tensor, String> {
    let vector = |t: &Tensor| {
        t.to_dtype(DType::F32)
            .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
            .map_err(|e| e.to_string())
    };
    let (rows, columns) = values
        .dims2()
        .map_err(|_| format!("its integers have shape {:?}, not a matrix", values.dims()))?;
    if rows == 0 || columns == 0 {
        return Err(format!(
            "its integers have shape {rows}×{columns}, an empty matrix"
        ));
    }
    let (row_scales, column_scales) = (vector(row_scales)?, vector(column_scales)?);
    if row_scales.len() != rows || column_scales.len() != columns {
        return Err(format!(
            "{} row and {} column scales do not fit a {rows}×{columns} matrix",
            row_scales.len(),
            column_scales.len()
        ));
    }
    let bytes = values
        .to_dtype(DType::U8)
        .and_then(|t| t.flatten_all()?.to_vec1::<u8>())
        .map_err(|e| e.to_string())?;
    let mut restored = Vec::with_capacity(rows * columns);
    for (row, &scale) in bytes.chunks(columns).zip(&row_scales) {
        restore_row(row, scale, &column_scales, &mut restored);
    }
    Tensor::from_vec(restored, (rows, columns), values.device()).map_err(|e| e.to_string())
}

/// Appends one row of a matrix to `out`. A function of its own, called once per row, because
/// in the browser V8 swaps in optimised code for a function only at its next call: restoring
/// a whole 11.7M-value embedding table in one call ran entirely in its baseline code.
#[inline(never)]
fn restore_row(row: &[u8], row_scale: f32, column_scales: &[f32], out: &mut Vec<f32>) {
    out.extend(
        row.iter()
            .zip(column_scales)
            .map(|(&b, &c)| (b as i32 - 128) as f32 * row_scale * c),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Values of every magnitude, one row all zero, one column far larger than the rest.
    fn matrix(rows: usize, columns: usize) -> Tensor {
        let mut values: Vec<f32> = (0..rows * columns)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 700.0)
            .collect();
        values[columns..2 * columns].fill(0.0);
        for (i, row) in values.chunks_mut(columns).enumerate().skip(2) {
            row[3] = if i % 2 == 0 { 20.0 } else { -20.0 };
        }
        Tensor::from_vec(values, (rows, columns), &Device::Cpu).unwrap()
    }

    fn stored(precision: Precision, name: &str, original: &Tensor) -> HashMap<String, Tensor> {
        precision
            .store_matrix(name, original)
            .unwrap()
            .into_iter()
            .collect()
    }

    fn round_trip(precision: Precision, original: &Tensor) -> Tensor {
        let stored = stored(precision, "m", original);
        assert_eq!(Precision::of_stored(&stored), precision);
        restore(stored, "test").unwrap().remove("m").unwrap()
    }

    #[test]
    fn int8_rounds_finely_and_a_large_column_does_not_coarsen_whole_rows() {
        let original = matrix(6, 64);
        let values = original.to_vec2::<f32>().unwrap();
        let restored = round_trip(Precision::Int8, &original)
            .to_vec2::<f32>()
            .unwrap();
        assert!(
            restored[1].iter().all(|&b| b == 0.0),
            "the zero row stays zero"
        );
        let (mut squared, mut squared_row_scale_alone) = (0f64, 0f64);
        for (i, (row, back)) in values.iter().zip(&restored).enumerate() {
            let step = row.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (j, (v, b)) in row.iter().zip(back).enumerate() {
                assert!((v - b).abs() <= 2.0 * step, "[{i}][{j}] {v} → {b}");
                squared += ((v - b) as f64).powi(2);
                if step > 0.0 {
                    squared_row_scale_alone += ((v - (v / step).round() * step) as f64).powi(2);
                }
            }
        }
        assert!(
            squared < squared_row_scale_alone / 4.0,
            "squared error {squared} against {squared_row_scale_alone} with row scales alone"
        );
    }

    #[test]
    fn float_precisions_keep_one_tensor_and_are_recognised() {
        let original = matrix(2, 32);
        assert_eq!(round_trip(Precision::F16, &original).dtype(), DType::F16);
        let back = round_trip(Precision::F32, &original);
        assert_eq!(
            back.to_vec2::<f32>().unwrap(),
            original.to_vec2::<f32>().unwrap()
        );
    }

    #[test]
    fn scales_that_do_not_fit_are_refused_with_the_tensor_named() {
        let mut tensors = stored(Precision::Int8, "layer.weight", &matrix(4, 64));
        tensors.insert(
            "layer.weight.int8_row_scales".into(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
        let error = restore(tensors.clone(), "b.cyborg")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("b.cyborg")
                && error.contains("\"layer.weight\"")
                && error.contains("3 row and 64 column scales do not fit a 4×64 matrix"),
            "{error}"
        );
        tensors.remove("layer.weight.int8_column_scales");
        let error = restore(tensors, "b.cyborg").unwrap_err().to_string();
        assert!(
            error.contains("\"layer.weight.int8_column_scales\""),
            "{error}"
        );
        // Shapes a hand-edited or damaged bundle could hold.
        let cpu = &Device::Cpu;
        for (integers, rows, columns, expect) in [
            (
                Tensor::zeros((4, 0), DType::U8, cpu),
                4,
                0,
                "4×0, an empty matrix",
            ),
            (
                Tensor::zeros(8, DType::U8, cpu),
                8,
                1,
                "shape [8], not a matrix",
            ),
        ] {
            let tensors = HashMap::from([
                ("m.int8".to_string(), integers.unwrap()),
                (
                    "m.int8_row_scales".to_string(),
                    Tensor::ones(rows, DType::F32, cpu).unwrap(),
                ),
                (
                    "m.int8_column_scales".to_string(),
                    Tensor::ones(columns, DType::F32, cpu).unwrap(),
                ),
            ]);
            let error = restore(tensors, "b.cyborg").unwrap_err().to_string();
            assert!(error.contains(expect), "{error}");
        }
    }

    #[test]
    fn names_parse_back() {
        for precision in Precision::ALL {
            assert_eq!(precision.name().parse::<Precision>(), Ok(precision));
        }
        assert!("int4".parse::<Precision>().unwrap_err().contains("int4"));
    }
}
