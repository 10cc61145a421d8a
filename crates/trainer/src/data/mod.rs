//! Reading human-scored responses from CSV, TSV and JSONL files.
//!
//! Every problem is reported once, with the file, line and column it was found at, before
//! anything is trained or written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use cyborg_scorer::metrics::ScoreRange;

mod delimited;

use delimited::parse_delimited;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a file name implies: `.tsv`/`.tab` → TSV, `.jsonl`/`.ndjson` → JSONL, else CSV.
    pub fn from_path(path: &Path) -> Format {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "tsv" | "tab" => Format::Tsv,
            "jsonl" | "ndjson" => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// A `COLUMN=VALUE` row filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The column compared.
    pub column: String,
    /// The value kept.
    pub value: String,
}

impl std::str::FromStr for Filter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((column, value)) if !column.is_empty() => Ok(Filter {
                column: column.to_string(),
                value: value.to_string(),
            }),
            _ => Err(format!("\"{s}\" is not COLUMN=VALUE (e.g. essay_set=1)")),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.column, self.value)
    }
}

/// Parses `MIN:MAX` into a score range.
pub fn parse_range(s: &str) -> Result<ScoreRange, String> {
    let (min, max) = s
        .split_once(':')
        .ok_or_else(|| format!("\"{s}\" is not MIN:MAX (e.g. 1:6)"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| format!("\"{v}\" in \"{s}\" is not a whole number"))
    };
    let range = ScoreRange {
        min: parse(min)?,
        max: parse(max)?,
    };
    if range.min >= range.max {
        return Err(format!(
            "the range {s} is empty or a single level; MIN must be below MAX"
        ));
    }
    Ok(range)
}

/// What to read from a file and how.
#[derive(Debug, Clone, Default)]
pub struct ReadSpec {
    /// Override of the format the file name implies.
    pub format: Option<Format>,
    /// `false` reads CSV/TSV with quotes as plain characters (ASAP-AES's TSV needs this).
    pub no_quoting: bool,
    /// The response column.
    pub text: String,
    /// The score column, when scores are needed.
    pub score: Option<String>,
    /// Further trait columns, each a number (whole or not) on every row.
    pub traits: Vec<String>,
    /// `true` leaves out the trait columns the file lacks instead of refusing it;
    /// [`Table::traits`] names those read.
    pub optional_traits: bool,
    /// The id column; without it a row's id is its data row number (1 = first row).
    pub id: Option<String>,
    /// Columns that name subgroups (kept as they are).
    pub groups: Vec<String>,
    /// Only rows matching every filter are kept.
    pub filters: Vec<Filter>,
    /// Only rows whose id is listed in this file (one per line) are kept.
    pub ids_file: Option<PathBuf>,
    /// When given, every score must lie in this range.
    pub range: Option<ScoreRange>,
}

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its id.
    pub id: String,
    /// The response.
    pub text: String,
    /// Its human score, when a score column was read.
    pub score: Option<i64>,
    /// Its value in each trait column, in the order of [`Table::traits`].
    pub traits: Vec<f64>,
    /// Its value in each group column, in the order of [`ReadSpec::groups`].
    pub groups: Vec<String>,
    /// The line it starts on.
    pub line: u64,
}

/// The rows read from a file.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file.
    pub path: PathBuf,
    /// The rows kept, in file order.
    pub rows: Vec<Row>,
    /// Rows in the file before filtering.
    pub rows_in_file: usize,
    /// The columns of the file, in order.
    pub columns: Vec<String>,
    /// The trait columns read, in the order of [`Row::traits`].
    pub traits: Vec<String>,
}

impl Row {
    /// The whole number in group column `at`; `None` where it is blank or is not one
    /// ([`Table::second_scores`] says which).
    pub fn group_score(&self, at: usize) -> Option<i64> {
        parse_score(&self.groups[at], None).ok()
    }
}

impl Table {
    /// The scores of all rows (every row has one when a score column was read).
    pub fn scores(&self) -> Vec<i64> {
        self.rows.iter().filter_map(|r| r.score).collect()
    }

    /// The smallest range holding every score.
    pub fn observed_range(&self) -> Option<ScoreRange> {
        let scores = self.scores();
        Some(ScoreRange {
            min: *scores.iter().min()?,
            max: *scores.iter().max()?,
        })
    }

    /// The rows whose id is in `ids`, in file order.
    pub fn rows_with_ids(&self, ids: &HashSet<String>) -> Vec<&Row> {
        self.rows.iter().filter(|r| ids.contains(&r.id)).collect()
    }

    /// A second rater's score of every row, from group column `at` (the file's column
    /// `column`): `None` where it is blank; an error at the first row whose value is not a
    /// whole number in `range`.
    pub fn second_scores(
        &self,
        at: usize,
        column: &str,
        range: ScoreRange,
    ) -> Result<Vec<Option<i64>>, DataError> {
        let field = self.columns.iter().position(|c| c == column).map(|i| i + 1);
        self.rows
            .iter()
            .map(|row| {
                let value = &row.groups[at];
                if value.trim().is_empty() {
                    return Ok(None);
                }
                parse_score(value, None)
                    .and_then(|score| match range.contains(score) {
                        true => Ok(Some(score)),
                        false => Err(format!("score {score} is outside the range {range}")),
                    })
                    .map_err(|message| DataError {
                        path: self.path.clone(),
                        line: Some(row.line),
                        column: field,
                        message: format!("column \"{column}\" (the second score): {message}"),
                    })
            })
            .collect()
    }

    /// Rows per score.
    pub fn score_counts(&self) -> BTreeMap<i64, usize> {
        let mut counts = BTreeMap::new();
        for s in self.scores() {
            *counts.entry(s).or_insert(0) += 1;
        }
        counts
    }
}

/// A problem in an input file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column (field number for CSV/TSV, character for JSON), when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DataError {}

/// Problems after which the rest of a file is still worth reading are collected up to this
/// many, then reported together.
const MOST_PROBLEMS: usize = 20;

/// Several problems as one error: the first, located as usual, then one line per further
/// problem; `stopped` says reading stopped at [`MOST_PROBLEMS`].
fn combine(mut problems: Vec<DataError>, stopped: bool) -> DataError {
    let mut first = problems.remove(0);
    for more in &problems {
        first.message.push_str(&format!("\n{more}"));
    }
    if stopped {
        first
            .message
            .push_str(&format!("\n(stopped after {MOST_PROBLEMS} problems)"));
    }
    first
}

/// Reads `path` (`-` for standard input) as `spec` says and validates every kept row.
pub fn read_table(path: &Path, spec: &ReadSpec) -> Result<Table, DataError> {
    parse_table(path, &read_bytes(path)?, spec)
}

/// Parses `bytes` (an upload, say) as the file `path` names would be read: the format comes
/// from `spec` or `path`'s extension, and errors name `path`.
pub fn parse_table(path: &Path, bytes: &[u8], spec: &ReadSpec) -> Result<Table, DataError> {
    let raw = parse_raw(path, bytes, spec.format, spec.no_quoting)?;
    let ids_filter = match &spec.ids_file {
        Some(ids_path) => Some(read_id_list(ids_path)?),
        None => None,
    };
    validate(path, raw, spec, ids_filter.as_ref())
}

/// A file's columns and row count, before any column is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// The columns, in order.
    pub columns: Vec<String>,
    /// Data rows (blank lines not counted).
    pub rows: usize,
}

/// Checks that `bytes` parse as a table (UTF-8, a header, rows of the header's width, or one
/// JSON object per line) and says what columns it has, before any column is chosen: what an
/// upload is checked with. The format comes from `format` or `path`'s extension.
pub fn scan_table(
    path: &Path,
    bytes: &[u8],
    format: Option<Format>,
    no_quoting: bool,
) -> Result<TableShape, DataError> {
    let raw = parse_raw(path, bytes, format, no_quoting)?;
    if let Some((line, column, message)) = raw.records.iter().find_map(|(line, fields)| {
        let (index, message) = fields.iter().enumerate().find_map(|(i, f)| match f {
            Field::Unreadable(message) => Some((i, message)),
            _ => None,
        })?;
        Some((
            *line,
            (!raw.json).then_some(index + 1),
            format!("column \"{}\": {message}", raw.header[index]),
        ))
    }) {
        return Err(DataError {
            path: path.to_path_buf(),
            line: Some(line),
            column,
            message,
        });
    }
    if raw.records.is_empty() {
        return Err(DataError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: "the file has a header but no rows".into(),
        });
    }
    Ok(TableShape {
        columns: raw.header,
        rows: raw.records.len(),
    })
}

fn parse_raw(
    path: &Path,
    bytes: &[u8],
    format: Option<Format>,
    no_quoting: bool,
) -> Result<RawTable, DataError> {
    match format.unwrap_or_else(|| Format::from_path(path)) {
        Format::Csv => parse_delimited(path, bytes, b',', !no_quoting),
        Format::Tsv => parse_delimited(path, bytes, b'\t', !no_quoting),
        Format::Jsonl => parse_jsonl(path, bytes),
    }
}

/// Reads a file of ids, one per line (blank lines ignored).
pub fn read_id_list(path: &Path) -> Result<HashSet<String>, DataError> {
    let bytes = read_bytes(path)?;
    let text = String::from_utf8(bytes).map_err(|e| DataError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    let ids: HashSet<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(DataError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: "the id list is empty".into(),
        });
    }
    Ok(ids)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let result = if path == Path::new("-") {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer).map(|_| buffer)
    } else {
        std::fs::read(path)
    };
    result.map_err(|e| DataError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        message: format!("cannot be read: {e}"),
    })
}

/// A file's header and records, as text, before any column is interpreted.
struct RawTable {
    header: Vec<String>,
    /// (line, fields), a field per header column.
    records: Vec<(u64, Vec<Field>)>,
    /// Whether fields are JSON values (so columns count characters, not fields).
    json: bool,
}

/// One field of a record, before it is interpreted.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Text(String),
    /// A JSON object without this key (other objects have it).
    Missing,
    /// Why the field cannot be read (not UTF-8, a JSON array).
    Unreadable(String),
}

impl Field {
    /// The text of a field a row needs.
    fn text(&self) -> Result<&str, String> {
        match self {
            Field::Text(text) => Ok(text),
            Field::Missing => Err("missing from this object".into()),
            Field::Unreadable(message) => Err(message.clone()),
        }
    }

    /// The text of a field that may be absent (a filter or group column): empty if so.
    fn text_or_empty(&self) -> Result<&str, String> {
        match self {
            Field::Missing => Ok(""),
            _ => self.text(),
        }
    }
}

fn parse_jsonl(path: &Path, bytes: &[u8]) -> Result<RawTable, DataError> {
    let text = utf8_text(path, bytes)?;
    let mut header: Vec<String> = Vec::new();
    let mut records = Vec::new();
    for (index, line_text) in text.lines().enumerate() {
        let line = index as u64 + 1;
        if line_text.trim().is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line_text)
            .map_err(|e| DataError {
                path: path.to_path_buf(),
                line: Some(line),
                // serde gives column 0 for a value of the wrong type (an array, say).
                column: Some(e.column().max(1)),
                // serde's own "at line 1 column N" counts within this line only.
                message: format!(
                    "not a JSON object: {}",
                    e.to_string().split(" at line ").next().unwrap_or_default()
                ),
            })?;
        for key in object.keys() {
            if !header.contains(key) {
                header.push(key.clone());
            }
        }
        records.push((line, object));
    }
    if records.is_empty() {
        return Err(DataError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: "the file is empty: expected one JSON object per line".into(),
        });
    }
    let records = records
        .into_iter()
        .map(|(line, object)| {
            let fields = header.iter().map(|key| json_field(&object, key)).collect();
            (line, fields)
        })
        .collect();
    Ok(RawTable {
        header,
        records,
        json: true,
    })
}

/// The file as text, or the line where it stops being UTF-8.
fn utf8_text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        DataError {
            path: path.to_path_buf(),
            line: Some(line),
            column: None,
            message: "not UTF-8 (convert the file to UTF-8, e.g. with iconv)".into(),
        }
    })
}

/// A JSON object's `key` as a field: a value as its text, null as empty, an absent key as
/// missing, and an array or object as unreadable.
fn json_field(object: &serde_json::Map<String, serde_json::Value>, key: &str) -> Field {
    match object.get(key) {
        None => Field::Missing,
        Some(serde_json::Value::Null) => Field::Text(String::new()),
        Some(serde_json::Value::String(s)) => Field::Text(s.clone()),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Field::Text(v.to_string())
        }
        Some(_) => Field::Unreadable(format!("\"{key}\" holds an array or object, not a value")),
    }
}

/// Where each column `spec` names is in the header.
struct Columns {
    text: usize,
    score: Option<usize>,
    id: Option<usize>,
    /// The trait columns read (optional ones the file lacks are left out), and where.
    traits: Vec<(String, usize)>,
    groups: Vec<usize>,
    filters: Vec<usize>,
}

impl Columns {
    /// Finds every column `spec` names; a missing one is an error naming the columns there
    /// are, and a near miss (case, spaces).
    fn locate(path: &Path, raw: &RawTable, spec: &ReadSpec) -> Result<Columns, DataError> {
        let header_line = (!raw.json).then_some(1);
        let find = |name: &str, role: &str| -> Result<usize, DataError> {
            raw.header.iter().position(|h| h == name).ok_or_else(|| {
                let close = raw
                    .header
                    .iter()
                    .find(|h| h.eq_ignore_ascii_case(name) || h.trim() == name);
                let hint = close.map_or(String::new(), |c| format!(" (did you mean \"{c}\"?)"));
                DataError {
                    path: path.to_path_buf(),
                    line: header_line,
                    column: None,
                    message: format!(
                        "no {role} column \"{name}\"{hint}; the columns are: {}",
                        raw.header.join(", ")
                    ),
                }
            })
        };
        let all = |names: &mut dyn Iterator<Item = &String>, role: &str| {
            names.map(|n| find(n, role)).collect::<Result<Vec<_>, _>>()
        };
        let text = find(&spec.text, "text")?;
        let score = spec
            .score
            .as_deref()
            .map(|s| find(s, "score"))
            .transpose()?;
        let id = spec.id.as_deref().map(|s| find(s, "id")).transpose()?;
        let traits = spec
            .traits
            .iter()
            .filter(|t| !spec.optional_traits || raw.header.contains(t))
            .map(|t| Ok((t.clone(), find(t, "trait")?)))
            .collect::<Result<Vec<_>, DataError>>()?;
        let label_columns = score.iter().chain(traits.iter().map(|(_, col)| col));
        if id.iter().chain(label_columns).any(|&col| col == text) {
            return Err(DataError {
                path: path.to_path_buf(),
                line: header_line,
                column: None,
                message: format!(
                    "\"{}\" is named as the text column and as a score, trait or id column: a \
                     student would learn from the answer it is meant to predict; name two \
                     different columns",
                    spec.text
                ),
            });
        }
        Ok(Columns {
            text,
            score,
            id,
            traits,
            groups: all(&mut spec.groups.iter(), "group")?,
            filters: all(&mut spec.filters.iter().map(|f| &f.column), "filter")?,
        })
    }
}

fn validate(
    path: &Path,
    raw: RawTable,
    spec: &ReadSpec,
    ids_filter: Option<&HashSet<String>>,
) -> Result<Table, DataError> {
    let columns = Columns::locate(path, &raw, spec)?;
    let fail = |message: String| DataError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        message,
    };
    if raw.records.is_empty() {
        return Err(fail("the file has a header but no rows".into()));
    }
    let reader = RowReader {
        path,
        raw: &raw,
        spec,
        columns: &columns,
        ids_filter,
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut first_line_of_id: HashMap<String, u64> = HashMap::new();
    for (data_row, (line, fields)) in raw.records.iter().enumerate() {
        match reader.row(data_row, *line, fields, &mut first_line_of_id) {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => {}
            Err(problem) => {
                problems.push(problem);
                if problems.len() == MOST_PROBLEMS {
                    break;
                }
            }
        }
    }
    if !problems.is_empty() {
        let stopped = problems.len() == MOST_PROBLEMS;
        return Err(combine(problems, stopped));
    }
    let rows_in_file = raw.records.len();
    if rows.is_empty() {
        let why = match (spec.filters.is_empty(), ids_filter.is_some()) {
            (true, false) => "no rows".to_string(),
            _ => format!(
                "none of its {rows_in_file} rows passes the filters ({})",
                describe_filters(spec)
            ),
        };
        return Err(fail(why));
    }
    Ok(Table {
        path: path.to_path_buf(),
        rows,
        rows_in_file,
        columns: raw.header,
        traits: columns.traits.into_iter().map(|(name, _)| name).collect(),
    })
}

/// Turns records into rows, each problem located.
struct RowReader<'a> {
    path: &'a Path,
    raw: &'a RawTable,
    spec: &'a ReadSpec,
    columns: &'a Columns,
    ids_filter: Option<&'a HashSet<String>>,
}

impl RowReader<'_> {
    /// The row of record `data_row` (0-based) on `line`, `None` when the filters leave it out,
    /// or its first problem. `ids_seen` holds the line of every id read so far.
    fn row(
        &self,
        data_row: usize,
        line: u64,
        fields: &[Field],
        ids_seen: &mut HashMap<String, u64>,
    ) -> Result<Option<Row>, DataError> {
        let columns = self.columns;
        let fail = |col: usize, message: String| DataError {
            path: self.path.to_path_buf(),
            line: Some(line),
            // JSON columns are not positions in the line; report none for them.
            column: (!self.raw.json).then_some(col + 1),
            message,
        };
        let in_column = |col: usize, message: String| {
            fail(
                col,
                format!("column \"{}\": {message}", self.raw.header[col]),
            )
        };
        let field = |col: usize| fields[col].text().map_err(|m| in_column(col, m));
        let optional = |col: usize| fields[col].text_or_empty().map_err(|m| in_column(col, m));
        let mut kept = true;
        for (filter, &col) in self.spec.filters.iter().zip(&columns.filters) {
            kept &= optional(col)? == filter.value;
        }
        let id = match columns.id {
            Some(col) => field(col)?.trim().to_string(),
            None => (data_row + 1).to_string(),
        };
        if let Some(ids) = self.ids_filter {
            kept &= ids.contains(&id);
        }
        if !kept {
            return Ok(None);
        }
        if let Some(col) = columns.id {
            if id.is_empty() {
                return Err(in_column(col, "the id is empty".into()));
            }
            if let Some(first) = ids_seen.insert(id.clone(), line) {
                let message = format!("duplicate id \"{id}\" (first seen on line {first})");
                return Err(fail(col, message));
            }
        }
        let text = field(columns.text)?;
        if text.trim().is_empty() {
            return Err(in_column(columns.text, "the response is empty".into()));
        }
        let score = match columns.score {
            Some(col) => {
                Some(parse_score(field(col)?, self.spec.range).map_err(|m| in_column(col, m))?)
            }
            None => None,
        };
        let traits = columns
            .traits
            .iter()
            .map(|&(_, col)| parse_number(field(col)?).map_err(|m| in_column(col, m)))
            .collect::<Result<Vec<_>, _>>()?;
        let groups = columns
            .groups
            .iter()
            .map(|&col| optional(col).map(|g| g.trim().to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Row {
            id,
            text: text.to_string(),
            score,
            traits,
            groups,
            line,
        }))
    }
}

fn describe_filters(spec: &ReadSpec) -> String {
    let mut parts: Vec<String> = spec.filters.iter().map(|f| f.to_string()).collect();
    if let Some(ids) = &spec.ids_file {
        parts.push(format!("ids in {}", ids.display()));
    }
    parts.join(", ")
}

/// A finite number, or what is wrong with `value`.
fn parse_number(value: &str) -> Result<f64, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("the score is empty".into());
    }
    let number: f64 = trimmed
        .parse()
        .map_err(|_| format!("\"{trimmed}\" is not a number"))?;
    if !number.is_finite() {
        return Err(format!("\"{trimmed}\" is not a finite number"));
    }
    Ok(number)
}

fn parse_score(value: &str, range: Option<ScoreRange>) -> Result<i64, String> {
    let number = parse_number(value)?;
    let trimmed = value.trim();
    if number.fract() != 0.0 {
        return Err(format!(
            "\"{trimmed}\" is not a whole number; Cyborg scores on integer levels"
        ));
    }
    let score = number as i64;
    if let Some(range) = range {
        if !range.contains(score) {
            return Err(format!(
                "score {score} is outside the declared range {range}"
            ));
        }
    }
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ReadSpec {
        ReadSpec {
            text: "text".into(),
            score: Some("score".into()),
            id: Some("id".into()),
            ..ReadSpec::default()
        }
    }

    fn read_str(name: &str, content: &[u8], spec: &ReadSpec) -> Result<Table, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        read_table(&path, spec).map_err(|mut e| {
            e.path = PathBuf::from(name);
            e
        })
    }

    fn error(name: &str, content: &[u8], spec: &ReadSpec) -> String {
        read_str(name, content, spec).unwrap_err().to_string()
    }

    #[test]
    fn bytes_parse_as_the_file_would_read() {
        let content = b"id\ttext\tscore\n1\tfirst\t3\n2\tsecond\t4\n";
        let from_file = read_str("a.tsv", content, &spec()).unwrap();
        let from_bytes = parse_table(Path::new("a.tsv"), content, &spec()).unwrap();
        assert_eq!(from_bytes.rows, from_file.rows);
        assert_eq!(from_bytes.rows[1].score, Some(4));
        let bad = parse_table(
            Path::new("upload.tsv"),
            b"id\ttext\tscore\n1\tx\tmany\n",
            &spec(),
        );
        assert_eq!(
            bad.unwrap_err().to_string().split(": ").next(),
            Some("upload.tsv:2:3")
        );
    }

    #[test]
    fn an_upload_is_scanned_for_its_shape_and_every_fault_located() {
        let scan = |name: &str, bytes: &[u8]| scan_table(Path::new(name), bytes, None, false);
        let shape = scan("u.csv", b"text,score\r\nfine,1\r\n\r\nok,2\r\n").unwrap();
        assert_eq!(shape.columns, ["text", "score"]);
        assert_eq!(shape.rows, 2);
        let located = |name: &str, bytes: &[u8]| {
            let e = scan(name, bytes).unwrap_err();
            (e.line, e.column)
        };
        assert_eq!(located("u.csv", b"a,b\n1,2\n3\n"), (Some(3), Some(2)));
        assert_eq!(located("u.csv", b"a,b\n1,2,3\n"), (Some(2), Some(3)));
        assert_eq!(located("u.csv", b"a,b\n1,\xff\n"), (Some(2), Some(2)));
        assert_eq!(
            located("u.jsonl", b"{\"a\": 1}\n{\"a\": oops}\n"),
            (Some(2), Some(7))
        );
        assert_eq!(located("u.csv", b"a,b\n"), (None, None));
    }

    #[test]
    fn reads_quoted_multiline_csv() {
        let t = read_str(
            "a.csv",
            b"id,text,score\n1,\"two\nlines, with \"\"quotes\"\"\",3\n2,plain,4\n",
            &spec(),
        )
        .unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].text, "two\nlines, with \"quotes\"");
        assert_eq!(t.rows[1].line, 4);
        assert_eq!(t.scores(), vec![3, 4]);
    }

    #[test]
    fn tsv_without_quoting_keeps_quotes_as_text() {
        let mut s = spec();
        s.no_quoting = true;
        let t = read_str(
            "a.tsv",
            b"id\ttext\tscore\n1\t\"odd \"\" quote\t2\n2\tfine\t1\n",
            &s,
        )
        .unwrap();
        assert_eq!(t.rows[0].text, "\"odd \"\" quote");
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn a_stray_quote_in_tsv_is_caught_not_allowed_to_merge_rows() {
        let content = b"id\ttext\tscore\n1\t\"quoted start\t2\n2\tnext row\t3\n3\tlast\"\t1\n";
        let err = read_str("a.tsv", content, &spec()).unwrap_err().to_string();
        assert!(
            err.starts_with("a.tsv:2:2: a quote opened here joins lines 2 to 4"),
            "{err}"
        );
        assert!(err.contains("--no-quoting"), "{err}");
        let tab = read_str("b.tsv", b"id\ttext\tscore\n1\t\"a\tb\"\t2\n", &spec());
        assert!(tab
            .unwrap_err()
            .to_string()
            .starts_with("b.tsv:2:2: a quoted field holds a tab"));
        let mut s = spec();
        s.no_quoting = true;
        assert_eq!(read_str("a.tsv", content, &s).unwrap().rows.len(), 3);
    }

    #[test]
    fn jsonl_reads_numbers_and_strings() {
        let t = read_str(
            "a.jsonl",
            b"{\"id\": 7, \"text\": \"hello\", \"score\": 2}\n\n{\"id\": \"8\", \"text\": \"x\", \"score\": 3.0}\n",
            &spec(),
        )
        .unwrap();
        assert_eq!(t.rows[0].id, "7");
        assert_eq!(t.rows[1].score, Some(3));
        assert_eq!(t.rows[1].line, 3);
    }

    #[test]
    fn bad_input_is_located_by_file_line_and_column() {
        let s = spec();
        assert_eq!(
            error("a.csv", b"id,text,grade\n1,x,2\n", &s),
            "a.csv:1: no score column \"score\"; the columns are: id, text, grade"
        );
        assert_eq!(
            error("a.csv", b"id,text,Score\n1,x,2\n", &s),
            "a.csv:1: no score column \"score\" (did you mean \"Score\"?); the columns are: id, text, Score"
        );
        assert_eq!(
            error("a.csv", b"id,text,score\n1,ok,2\n2,  ,3\n", &s),
            "a.csv:3:2: column \"text\": the response is empty"
        );
        assert_eq!(
            error("a.csv", b"id,text,score\n1,ok,two\n", &s),
            "a.csv:2:3: column \"score\": \"two\" is not a number"
        );
        assert_eq!(
            error("a.csv", b"id,text,score\n1,ok,2.5\n", &s),
            "a.csv:2:3: column \"score\": \"2.5\" is not a whole number; Cyborg scores on integer levels"
        );
        assert_eq!(
            error("a.csv", b"id,text,score\n1,ok,2\n1,again,3\n", &s),
            "a.csv:3:1: duplicate id \"1\" (first seen on line 2)"
        );
        assert_eq!(
            error("a.csv", b"id,text,score\n1,ok,2\n2,ragged\n", &s),
            "a.csv:3:3: this row has 2 fields but the header has 3"
        );
        assert_eq!(
            error("a.csv", b"id,text,score\n1,caf\xE9,2\n", &s),
            "a.csv:2:2: column \"text\": not UTF-8: invalid byte 0xE9 at byte 4 of the field \
             (convert the file to UTF-8, e.g. with iconv)"
        );
        assert_eq!(
            error("a.csv", b"", &s),
            "a.csv: the file is empty: expected a header row and at least one response"
        );
        assert_eq!(
            error("a.csv", b"id,text,score\n", &s),
            "a.csv: the file has a header but no rows"
        );
        assert_eq!(
            error(
                "a.jsonl",
                b"{\"id\":1,\"text\":\"a\",\"score\":1}\n{\"id\":2,\"text\":\"b\" \"score\":1}\n",
                &s
            ),
            "a.jsonl:2:20: not a JSON object: expected `,` or `}`"
        );
        let mut ranged = spec();
        ranged.range = Some(ScoreRange { min: 1, max: 6 });
        assert_eq!(
            error("a.csv", b"id,text,score\n1,ok,7\n", &ranged),
            "a.csv:2:3: column \"score\": score 7 is outside the declared range 1-6"
        );
    }

    #[test]
    fn every_bad_row_is_reported_each_on_its_line() {
        let error = |name: &str, content: &[u8]| {
            parse_table(Path::new(name), content, &spec())
                .unwrap_err()
                .to_string()
        };
        let content = b"id,text,score\n1,ok,2\n2,,3\n3,fine,x\n1,again,2\n5,good,4\n";
        let message = error("a.csv", content);
        assert_eq!(
            message.lines().collect::<Vec<_>>(),
            [
                "a.csv:3:2: column \"text\": the response is empty",
                "a.csv:4:3: column \"score\": \"x\" is not a number",
                "a.csv:5:1: duplicate id \"1\" (first seen on line 2)",
            ]
        );
        let many: String = (0..30).map(|i| format!("{i},,1\n")).collect();
        let message = error("b.csv", format!("id,text,score\n{many}").as_bytes());
        assert_eq!(message.lines().count(), MOST_PROBLEMS + 1);
        assert!(
            message.ends_with("(stopped after 20 problems)"),
            "{message}"
        );
    }

    #[test]
    fn second_scores_are_read_blank_as_none_and_a_bad_one_located() {
        let mut s = spec();
        s.groups = vec!["second".into()];
        let range = ScoreRange { min: 1, max: 6 };
        let table = |content: &[u8]| parse_table(Path::new("a.csv"), content, &s).unwrap();
        let good = table(b"id,text,score,second\n1,ok,2,3\n2,fine,4,\n");
        assert_eq!(
            good.second_scores(0, "second", range).unwrap(),
            [Some(3), None]
        );
        assert_eq!(good.rows[0].group_score(0), Some(3));
        for (content, message) in [
            (
                &b"id,text,score,second\n1,ok,2,3\n2,fine,4,x\n"[..],
                "a.csv:3:4: column \"second\" (the second score): \"x\" is not a number",
            ),
            (
                b"id,score,second,text\n1,2,7,ok\n",
                "a.csv:2:3: column \"second\" (the second score): score 7 is outside the range \
                 1-6",
            ),
        ] {
            let error = table(content)
                .second_scores(0, "second", range)
                .unwrap_err();
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn a_jsonl_object_without_the_text_key_says_so() {
        let content = b"{\"id\":1,\"text\":\"a\",\"score\":1}\n{\"id\":2,\"score\":2}\n";
        assert_eq!(
            error("a.jsonl", content, &spec()),
            "a.jsonl:2: column \"text\": missing from this object"
        );
    }

    #[test]
    fn one_column_named_as_text_and_score_is_refused() {
        let mut s = spec();
        s.score = Some("text".into());
        let message = error("a.csv", b"id,text,score\n1,4,4\n", &s);
        assert!(
            message.starts_with("a.csv:1: \"text\" is named as the text column and as a score"),
            "{message}"
        );
    }

    #[test]
    fn filters_and_id_lists_select_rows_and_skip_validating_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let ids = dir.path().join("ids.txt");
        std::fs::write(&ids, "3\n1\n").unwrap();
        let mut s = spec();
        s.filters = vec!["set=a".parse().unwrap()];
        s.ids_file = Some(ids);
        s.id = Some("id".into());
        let content = b"id,set,text,score\n1,a,x,1\n2,b,,bad\n3,a,y,2\n4,a,z,3\n";
        let t = read_str("f.csv", content, &s).unwrap();
        assert_eq!(
            t.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["1", "3"]
        );
        assert_eq!(t.rows_in_file, 4);
    }

    #[test]
    fn range_parsing_explains_mistakes() {
        assert_eq!(parse_range("0:60").unwrap(), ScoreRange { min: 0, max: 60 });
        assert!(parse_range("6:1")
            .unwrap_err()
            .contains("MIN must be below MAX"));
        assert!(parse_range("1-6").unwrap_err().contains("MIN:MAX"));
    }
}
