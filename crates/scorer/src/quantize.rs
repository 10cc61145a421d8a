//! Smaller bundles: the precision a bundle stores its encoder's matrices in.
//!
//! Half of the encoder's weights are the word-embedding table, which is only looked up, and
//! the rest are the layers' matrices; vectors (biases, layer norms) and the head are a tiny
//! fraction and always stay f32. A matrix is turned back into f32 when the bundle loads, so
//! every kernel, in the CLI and in the browser, can run unchanged; where the CPU has AVX-512
//! VNNI, a layer's int8 matrix is also kept as stored and multiplied as integers
//! ([`crate::int8`]).
//!
//! int8 stores `w[i][j] ≈ q[i][j] × group[i][j / g] × column[j]`, q in −127..=127 kept as the
//! byte `q + 128`. The column scale is the square root of the column's largest magnitude: a few
//! hidden dimensions of a BERT encoder are far larger than the rest, and with row scales alone
//! they coarsen every value of every row. A layer's matrix takes a scale per group of
//! [`GROUP`] values of a row; an embedding table, which is only looked up (its rounding never
//! passes through a matrix product into every later layer), one per row. Scales are stored as
//! f16 (as f32 when one would not fit f16). Against a scale per row and column, groups halved
//! the essays that change level from f32 on ASAP-AES (BENCHMARKS.md, "Smaller bundles").

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::int8::Products;

/// How a bundle stores its encoder's matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats: exactly the trained weights.
    #[default]
    F32,
    /// 16-bit floats: half the size.
    F16,
    /// 8-bit integers with a scale per column and per group of a row: a quarter of the size.
    Int8,
}

/// The name suffixes of an int8 matrix's three stored tensors.
const INT8: &str = ".int8";
const GROUP_SCALES: &str = ".int8_scales";
const COLUMN_SCALES: &str = ".int8_column_scales";
/// Bundles written before groups (2026-12-03 to 12-04) hold one scale per row under this name:
/// read as one group per row.
const ROW_SCALES: &str = ".int8_row_scales";

/// Values of a layer's matrix row that share a scale. 64 rounded no better than 128 on ASAP-AES
/// prompts 7 and 8 and costs twice the bytes; at 32 an int8 bundle passes 24 MB.
pub const GROUP: usize = 128;

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
                let looked_up = name.starts_with("embeddings.");
                let (values, groups, columns) = quantize_int8(matrix, looked_up)?;
                vec![
                    (format!("{name}{INT8}"), values),
                    (format!("{name}{GROUP_SCALES}"), groups),
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

/// The integers (as bytes), group scales (rows × groups) and column scales of `matrix`; an
/// embedding table (`looked_up`) has one group per row.
fn quantize_int8(matrix: &Tensor, looked_up: bool) -> Result<(Tensor, Tensor, Tensor)> {
    let (rows, columns) = matrix.dims2()?;
    let group = if looked_up {
        columns
    } else {
        GROUP.min(columns)
    };
    let values = matrix
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let column_tops: Vec<f32> = (0..columns)
        .map(|j| largest_or_one((0..rows).map(|i| values[i * columns + j])).sqrt())
        .collect();
    let (column_rounding, column_scales) = Rounding::round(&column_tops);
    let balanced: Vec<f32> = values
        .chunks(columns)
        .flat_map(|row| row.iter().zip(&column_scales).map(|(v, c)| v / c))
        .collect();
    let groups: Vec<&[f32]> = balanced
        .chunks(columns)
        .flat_map(|row| row.chunks(group))
        .collect();
    let tops: Vec<f32> = groups
        .iter()
        .map(|g| largest_or_one(g.iter().copied()) / 127.0)
        .collect();
    let (group_rounding, group_scales) = Rounding::round(&tops);
    let mut bytes = Vec::with_capacity(values.len());
    for (part, &scale) in groups.iter().zip(&group_scales) {
        bytes.extend(
            part.iter()
                .map(|&v| ((v / scale).round().clamp(-127.0, 127.0) as i32 + 128) as u8),
        );
    }
    let device = matrix.device();
    Ok((
        Tensor::from_vec(bytes, (rows, columns), device)?,
        group_rounding.store(Tensor::from_vec(
            group_scales,
            (rows, columns.div_ceil(group)),
            device,
        )?)?,
        column_rounding.store(Tensor::from_vec(column_scales, columns, device)?)?,
    ))
}

/// How a set of scales is stored: as f16, or as f32 when one of them would round to zero or
/// infinity in f16. Rounding is applied before the integers are chosen, so they fit the
/// scales as stored.
#[derive(Clone, Copy)]
enum Rounding {
    F16,
    F32,
}

impl Rounding {
    /// How `scales` are stored, and their values as stored.
    fn round(scales: &[f32]) -> (Rounding, Vec<f32>) {
        let in_f16 = |s: f32| half::f16::from_f32(s).to_f32();
        let fits = |&s: &f32| in_f16(s) > 0.0 && in_f16(s).is_finite();
        if scales.iter().all(fits) {
            (Rounding::F16, scales.iter().map(|&s| in_f16(s)).collect())
        } else {
            (Rounding::F32, scales.to_vec())
        }
    }

    fn store(self, scales: Tensor) -> Result<Tensor> {
        Ok(match self {
            Rounding::F16 => scales.to_dtype(DType::F16)?,
            Rounding::F32 => scales,
        })
    }
}

/// `tensors` as stored in a bundle, with every int8 matrix turned back into one f32 tensor
/// under its own name; `source_name` names the bundle in errors. Where `products` asks for
/// integer products and this CPU has them ([`crate::int8`]), the stored tensors are kept too.
pub fn restore(
    mut tensors: HashMap<String, Tensor>,
    source_name: &str,
    products: Products,
) -> Result<HashMap<String, Tensor>> {
    let names: Vec<String> = tensors
        .keys()
        .filter_map(|n| n.strip_suffix(INT8).map(str::to_string))
        .collect();
    let keep_integers = products == Products::Integer && crate::int8::usable();
    for name in names {
        let Some(stored) = StoredInt8::find(&tensors, &name, source_name)? else {
            continue;
        };
        let matrix = stored
            .to_f32()
            .map_err(|why| Error::invalid(source_name, format!("tensor \"{name}\": {why}")))?;
        if !keep_integers {
            for suffix in [INT8, ROW_SCALES, GROUP_SCALES, COLUMN_SCALES] {
                tensors.remove(&format!("{name}{suffix}"));
            }
        }
        tensors.insert(name, matrix);
    }
    Ok(tensors)
}

/// An int8 matrix (outputs × inputs) as a bundle stores it: `w[i][j] ≈ (bytes[i][j] − 128) ×
/// group_scales[i][j / group] × column_scales[j]`.
pub struct StoredInt8 {
    /// Outputs (the matrix's rows).
    pub outputs: usize,
    /// Inputs (its columns).
    pub inputs: usize,
    /// Inputs per group of a row that share a scale; the last group may be shorter.
    pub group: usize,
    /// `q + 128` per value, row-major.
    pub bytes: Vec<u8>,
    /// Row-major (outputs × groups).
    pub group_scales: Vec<f32>,
    /// One per input.
    pub column_scales: Vec<f32>,
    device: Device,
}

impl StoredInt8 {
    /// The int8 matrix stored as `name` in `tensors`, if it is stored at int8; `source_name`
    /// names the bundle in errors.
    pub fn find(
        tensors: &HashMap<String, Tensor>,
        name: &str,
        source_name: &str,
    ) -> Result<Option<StoredInt8>> {
        let get = |suffix: &str| {
            let full = format!("{name}{suffix}");
            tensors.get(&full).ok_or_else(|| {
                Error::invalid(source_name, format!("has no tensor named \"{full}\""))
            })
        };
        let Ok(values) = get(INT8) else {
            return Ok(None);
        };
        let groups = get(ROW_SCALES).or_else(|_| get(GROUP_SCALES))?;
        let columns = get(COLUMN_SCALES)?;
        StoredInt8::from_tensors(values, groups, columns)
            .map(Some)
            .map_err(|why| Error::invalid(source_name, format!("tensor \"{name}\": {why}")))
    }

    /// The matrix that `values` and its scales stand for, or why they do not fit together.
    fn from_tensors(
        values: &Tensor,
        group_scales: &Tensor,
        column_scales: &Tensor,
    ) -> std::result::Result<StoredInt8, String> {
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
        let (group_scales, column_scales) = (vector(group_scales)?, vector(column_scales)?);
        // Groups per row, and the values per group they imply: the whole row for one, else
        // [`GROUP`] (the last group may be shorter). Not `columns / per_row`: 260 columns
        // are groups of 128, 128 and 4, not of 87.
        let per_row = group_scales.len() / rows;
        let group = if per_row == 1 { columns } else { GROUP };
        if per_row == 0
            || group_scales.len() % rows != 0
            || columns.div_ceil(group) != per_row
            || column_scales.len() != columns
        {
            return Err(format!(
                "{} group and {} column scales do not fit a {rows}×{columns} matrix",
                group_scales.len(),
                column_scales.len()
            ));
        }
        let bytes = values
            .to_dtype(DType::U8)
            .and_then(|t| t.flatten_all()?.to_vec1::<u8>())
            .map_err(|e| e.to_string())?;
        Ok(StoredInt8 {
            outputs: rows,
            inputs: columns,
            group,
            bytes,
            group_scales,
            column_scales,
            device: values.device().clone(),
        })
    }

    /// Groups per row.
    pub fn groups(&self) -> usize {
        self.inputs.div_ceil(self.group)
    }

    /// The f32 matrix it stands for.
    fn to_f32(&self) -> std::result::Result<Tensor, String> {
        let mut restored = Vec::with_capacity(self.bytes.len());
        for (row, scales) in self
            .bytes
            .chunks(self.inputs)
            .zip(self.group_scales.chunks(self.groups()))
        {
            restore_row(row, self.group, scales, &self.column_scales, &mut restored);
        }
        Tensor::from_vec(restored, (self.outputs, self.inputs), &self.device)
            .map_err(|e| e.to_string())
    }
}

/// Appends one row of a matrix to `out`. A function of its own, called once per row, because
/// in the browser V8 swaps in optimised code for a function only at its next call: restoring
/// a whole 11.7M-value embedding table in one call ran entirely in its baseline code.
#[inline(never)]
fn restore_row(
    row: &[u8],
    group: usize,
    group_scales: &[f32],
    column_scales: &[f32],
    out: &mut Vec<f32>,
) {
    for ((part, &scale), columns) in row
        .chunks(group)
        .zip(group_scales)
        .zip(column_scales.chunks(group))
    {
        out.extend(
            part.iter()
                .zip(columns)
                .map(|(&b, &c)| (b as i32 - 128) as f32 * scale * c),
        );
    }
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
        restore(stored, "test", Products::Restored)
            .unwrap()
            .remove("m")
            .unwrap()
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
    fn a_group_of_large_values_does_not_coarsen_the_rest_of_its_row() {
        // Every column's largest value is the same, so column scales balance nothing: row 0's
        // second group of small values is rounded finely only if it has a scale of its own.
        let columns = 2 * GROUP;
        let values: Vec<f32> = (0..2 * columns)
            .map(|i| {
                let (row, column) = (i / columns, i % columns);
                let sign = if i % 3 == 0 { -1.0 } else { 1.0 };
                if row == 0 && column >= GROUP {
                    sign * 0.01 * (1.0 + (i % 7) as f32 / 7.0)
                } else {
                    sign * 5.0
                }
            })
            .collect();
        let original = Tensor::from_vec(values.clone(), (2, columns), &Device::Cpu).unwrap();
        let layer = stored(Precision::Int8, "layer.weight", &original);
        assert_eq!(layer["layer.weight.int8_scales"].dims(), [2, 2]);
        assert_eq!(layer["layer.weight.int8_scales"].dtype(), DType::F16);
        let restored = restored_values(layer, "layer.weight");
        for (j, (v, b)) in values
            .iter()
            .zip(&restored)
            .enumerate()
            .take(columns)
            .skip(GROUP)
        {
            assert!((v - b).abs() <= 0.01 * v.abs(), "[0][{j}] {v} → {b}");
        }
        // An embedding table keeps one scale per row: it is only looked up.
        let table = stored(
            Precision::Int8,
            "embeddings.word_embeddings.weight",
            &original,
        );
        assert_eq!(
            table["embeddings.word_embeddings.weight.int8_scales"].dims(),
            [2, 1]
        );
    }

    #[test]
    fn a_row_whose_last_group_is_short_reads_back_with_its_own_scales() {
        // 260 columns: groups of 128, 128 and 4 (read back as three groups of 87 until
        // 2026-12-05, which put most values under another group's scale).
        let original = matrix(4, 2 * GROUP + 4);
        let values = original.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let restored = restored_values(stored(Precision::Int8, "m", &original), "m");
        let worst = values
            .iter()
            .zip(&restored)
            .map(|(v, b)| (v - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 0.05, "off by up to {worst}");
    }

    fn restored_values(stored: HashMap<String, Tensor>, name: &str) -> Vec<f32> {
        restore(stored, "test", Products::Restored).unwrap()[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    }

    #[test]
    fn scales_too_small_for_f16_are_kept_as_f32() {
        let values: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 1e-30).collect();
        let original = Tensor::from_vec(values.clone(), (2, 32), &Device::Cpu).unwrap();
        let tiny = stored(Precision::Int8, "m", &original);
        assert_eq!(tiny["m.int8_scales"].dtype(), DType::F32);
        for (v, b) in values.iter().zip(&restored_values(tiny, "m")) {
            assert!((v - b).abs() <= 3e-31, "{v} → {b}");
        }
    }

    #[test]
    fn bundles_with_a_scale_per_row_still_load() {
        let cpu = &Device::Cpu;
        let tensors = HashMap::from([
            (
                "m.int8".to_string(),
                Tensor::from_vec(vec![129u8, 126, 128, 255], (2, 2), cpu).unwrap(),
            ),
            (
                "m.int8_row_scales".to_string(),
                Tensor::from_vec(vec![0.5f32, 2.0], 2, cpu).unwrap(),
            ),
            (
                "m.int8_column_scales".to_string(),
                Tensor::from_vec(vec![1.0f32, 3.0], 2, cpu).unwrap(),
            ),
        ]);
        let restored = restore(tensors, "old.cyborg", Products::Restored).unwrap()["m"]
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(restored, [[0.5, -3.0], [0.0, 762.0]]);
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
        let error = restore(tensors.clone(), "b.cyborg", Products::Restored)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("b.cyborg")
                && error.contains("\"layer.weight\"")
                && error.contains("3 group and 64 column scales do not fit a 4×64 matrix"),
            "{error}"
        );
        tensors.remove("layer.weight.int8_column_scales");
        let error = restore(tensors, "b.cyborg", Products::Restored)
            .unwrap_err()
            .to_string();
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
            let error = restore(tensors, "b.cyborg", Products::Restored)
                .unwrap_err()
                .to_string();
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
