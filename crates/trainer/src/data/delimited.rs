//! CSV and TSV files into a header and records of text fields.
//!
//! Lines are numbered from the bytes themselves, so a CRLF file is numbered like an LF one. A
//! quote that is never closed, or that joins what look like separate rows into one field, is
//! reported where it opened: left alone, it would silently swallow rows.

use std::path::Path;

use super::{combine, DataError, Field, RawTable, MOST_PROBLEMS};

pub(super) fn parse_delimited(
    path: &Path,
    bytes: &[u8],
    delimiter: u8,
    quoting: bool,
) -> Result<RawTable, DataError> {
    let at = |line: Option<u64>, column: Option<usize>, message: String| DataError {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        let empty = "the file is empty: expected a header row and at least one response";
        return Err(at(None, None, empty.into()));
    }
    let located = |(line, column, message): Located| at(Some(line), Some(column), message);
    let mut reader = Records::new(bytes, delimiter, quoting);
    let mut header: Vec<String> = Vec::new();
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let unreadable = |(line, column, message): Unreadable| at(Some(line), column, message);
    while let Some((found, record)) = reader.next().map_err(unreadable)? {
        let fields: Vec<Field> = record.iter().map(field_text).collect();
        if header.is_empty() {
            header = header_names(&fields)
                .map_err(|(column, message)| at(Some(found.line), Some(column), message))?;
            continue;
        }
        if fields.len() == 1 && matches!(&fields[0], Field::Text(f) if f.trim().is_empty()) {
            continue; // a blank line
        }
        let quoted_tsv = quoting && delimiter == b'\t';
        let joined = found.joined_rows(&record, header.len(), delimiter);
        let tab = quoted_tsv
            .then(|| quoted_tab(&record, found.line))
            .flatten();
        if let Some(problem) = joined.or(tab) {
            return Err(located(problem));
        }
        if fields.len() == header.len() {
            records.push((found.line, fields));
            continue;
        }
        problems.push(located(ragged_row(
            found.line,
            fields.len(),
            header.len(),
            quoted_tsv,
        )));
        if problems.len() == MOST_PROBLEMS {
            break;
        }
    }
    if !problems.is_empty() {
        let stopped = problems.len() == MOST_PROBLEMS;
        return Err(combine(problems, stopped));
    }
    Ok(RawTable {
        header,
        records,
        json: false,
    })
}

/// The file's records one by one, each with where it lies in the file; a quote never closed
/// ends the reading with where it opened.
struct Records<'a> {
    bytes: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    lines: LineCounter<'a>,
    delimiter: u8,
    quoting: bool,
}

impl<'a> Records<'a> {
    fn new(bytes: &'a [u8], delimiter: u8, quoting: bool) -> Self {
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .quoting(quoting)
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        Records {
            bytes,
            reader,
            lines: LineCounter::new(bytes),
            delimiter,
            quoting,
        }
    }

    /// The next record and its span, or `None` at the end of the file.
    fn next(&mut self) -> Result<Option<(RecordSpan<'a>, csv::ByteRecord)>, Unreadable> {
        let start = self.reader.position().byte() as usize;
        let mut record = csv::ByteRecord::new();
        let more = self.reader.read_byte_record(&mut record).map_err(|e| {
            let byte = e.position().map_or(start, |p| p.byte() as usize);
            (
                self.lines.line_at(byte),
                None,
                format!("cannot be parsed: {e}"),
            )
        })?;
        if !more {
            return Ok(None);
        }
        let end = self.reader.position().byte() as usize;
        let (bytes, delimiter, quoting) = (self.bytes, self.delimiter, self.quoting);
        let found = RecordSpan::new(bytes, start..end, &mut self.lines, delimiter, quoting);
        match found.unclosed_quote() {
            Some((line, column, message)) => Err((line, Some(column), message)),
            None => Ok(Some((found, record))),
        }
    }
}

/// A problem and where: (line, 1-based column, message).
type Located = (u64, usize, String);

/// Why the reading stopped, and where: (line, 1-based column if known, message).
type Unreadable = (u64, Option<usize>, String);

/// One record's bytes in the file from its first line, and where its quoted fields open.
struct RecordSpan<'a> {
    span: &'a [u8],
    /// The line the record starts on.
    line: u64,
    quotes: QuoteScan,
}

impl<'a> RecordSpan<'a> {
    /// The record the reader read from `bytes[range]` (its start may fall on line breaks
    /// before it).
    fn new(
        bytes: &'a [u8],
        range: std::ops::Range<usize>,
        lines: &mut LineCounter,
        delimiter: u8,
        quoting: bool,
    ) -> Self {
        let start = skip_line_breaks(bytes, range.start);
        let span = &bytes[start..range.end];
        let quotes = if quoting {
            QuoteScan::of(span, delimiter)
        } else {
            QuoteScan::default()
        };
        RecordSpan {
            span,
            line: lines.line_at(start),
            quotes,
        }
    }

    /// The line of the record's byte `offset`.
    fn line_of(&self, offset: usize) -> u64 {
        self.line + count_line_breaks(&self.span[..offset])
    }

    /// The record's last line with text on it.
    fn last_line(&self) -> u64 {
        self.line_of(self.span.trim_ascii_end().len())
    }

    /// A quote never closed: it ran to the end of the file.
    fn unclosed_quote(&self) -> Option<Located> {
        let (offset, column) = self.quotes.unclosed?;
        Some((
            self.line_of(offset),
            column,
            format!(
                "a quote opened here is never closed: it runs to the end of the file, line {}, \
                 swallowing every row on the way; close it (a quote inside a quoted field is \
                 written twice), or use --no-quoting if quotes are ordinary text here",
                self.last_line()
            ),
        ))
    }

    /// A quote that joins lines of which two or more read as rows of their own (`record`, as
    /// read, has `width` fields like the header).
    fn joined_rows(
        &self,
        record: &csv::ByteRecord,
        width: usize,
        delimiter: u8,
    ) -> Option<Located> {
        let (offset, column) = self.quotes.multiline?;
        let rows = row_like_lines(self.span, delimiter, record, width);
        (rows.len() >= 2).then(|| {
            (
                self.line_of(offset),
                column,
                format!(
                    "a quote opened here joins lines {} to {} into one field, though lines {} \
                     look like rows of their own: close the quote (a quote inside a quoted field \
                     is written twice), or use --no-quoting if quotes are ordinary text here",
                    self.line,
                    self.last_line(),
                    list_lines(rows.iter().map(|r| self.line + r)),
                ),
            )
        })
    }
}

/// A field of a quoted TSV row on `line` that holds a tab. Only quoting can put one there,
/// and a quote that is really text makes the reader swallow the following rows into one field.
fn quoted_tab(record: &csv::ByteRecord, line: u64) -> Option<Located> {
    let column = record.iter().position(|f| f.contains(&b'\t'))?;
    Some((
        line,
        column + 1,
        "a quoted field holds a tab, so quotes have probably joined several rows into one; if \
         quotes are ordinary text in this file (as in ASAP-AES), use --no-quoting"
            .into(),
    ))
}

/// A row on `line` with `fields` fields where the header has `width`; at the first field the
/// header does not have, or the first missing.
fn ragged_row(line: u64, fields: usize, width: usize, quoted_tsv: bool) -> Located {
    let hint = if quoted_tsv {
        " (if quotes in the text are not CSV quoting, try --no-quoting)"
    } else {
        ""
    };
    (
        line,
        fields.min(width) + 1,
        format!("this row has {fields} fields but the header has {width}{hint}"),
    )
}

/// Line numbers for a person: "2 and 3", "2, 3 and 4", "2, 3, 4, … and 9".
fn list_lines(lines: impl Iterator<Item = u64>) -> String {
    let lines: Vec<String> = lines.map(|l| l.to_string()).collect();
    match lines.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [first @ .., last] if first.len() <= 3 => format!("{} and {last}", first.join(", ")),
        [first @ .., last] => format!("{}, … and {last}", first[..3].join(", ")),
    }
}

/// A field as text, or why it is not UTF-8.
fn field_text(field: &[u8]) -> Field {
    String::from_utf8(field.to_vec()).map_or_else(
        |e| {
            Field::Unreadable(format!(
                "not UTF-8: invalid byte 0x{:02X} at byte {} of the field \
             (convert the file to UTF-8, e.g. with iconv)",
                field[e.utf8_error().valid_up_to()],
                e.utf8_error().valid_up_to() + 1
            ))
        },
        Field::Text,
    )
}

/// The header's column names, or the column and reason one cannot be used: not UTF-8, or a
/// name given twice (which column would `--score NAME` mean?).
fn header_names(fields: &[Field]) -> Result<Vec<String>, (usize, String)> {
    let mut names: Vec<String> = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        let name = field
            .text()
            .map_err(|m| (i + 1, format!("header: {m}")))?
            .to_string();
        if let Some(first) = names.iter().position(|n| *n == name) {
            return Err((
                i + 1,
                format!(
                    "header: column \"{name}\" appears twice (columns {} and {}); rename one",
                    first + 1,
                    i + 1
                ),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// Counts line breaks up to a byte offset, moving forward only, so numbering a whole file
/// costs one pass.
struct LineCounter<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            counted_to: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `offset` (not before any offset asked for earlier).
    fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.bytes.len());
        if offset > self.counted_to {
            self.line += count_line_breaks(&self.bytes[self.counted_to..offset]);
            self.counted_to = offset;
        }
        self.line
    }
}

fn count_line_breaks(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The first byte at or after `offset` that does not end a line: a record's position can fall
/// on the `\n` of the previous record's `\r\n`, or on blank lines before it.
fn skip_line_breaks(bytes: &[u8], offset: usize) -> usize {
    let rest = &bytes[offset.min(bytes.len())..];
    offset
        + rest
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count()
}

/// Where a record's quoted fields open: the first that spans a line break, and one left open
/// at the end, each as (byte offset in the record, 1-based field number).
#[derive(Default)]
struct QuoteScan {
    multiline: Option<(usize, usize)>,
    unclosed: Option<(usize, usize)>,
}

impl QuoteScan {
    /// Follows the quoting rules the reader uses: a quote opens a field only at its start, and
    /// inside a quoted field `""` is a quote.
    fn of(span: &[u8], delimiter: u8) -> Self {
        let mut scan = QuoteScan::default();
        let mut open: Option<(usize, usize)> = None;
        let mut field = 1;
        let mut at_field_start = true;
        let mut i = 0;
        while i < span.len() {
            let b = span[i];
            match open {
                Some(_) if b == b'"' => {
                    if span.get(i + 1) == Some(&b'"') {
                        i += 1;
                    } else {
                        open = None;
                    }
                }
                Some(opened) if b == b'\n' => {
                    scan.multiline.get_or_insert(opened);
                }
                Some(_) => {}
                None if b == b'"' && at_field_start => {
                    open = Some((i, field));
                    at_field_start = false;
                }
                None => {
                    at_field_start = b == delimiter;
                    if at_field_start {
                        field += 1;
                    }
                }
            }
            i += 1;
        }
        scan.unclosed = open;
        scan
    }
}

/// The lines of a multi-line record (0-based, from its first) that read as whole rows when
/// quotes are ignored: `width` fields, and a number wherever the record's own field is a
/// number (its id or score, say). Two such lines in one record mean a quote joined rows.
fn row_like_lines(span: &[u8], delimiter: u8, record: &csv::ByteRecord, width: usize) -> Vec<u64> {
    if record.len() != width {
        return Vec::new();
    }
    let numeric: Vec<usize> = (0..width).filter(|&j| is_number(&record[j])).collect();
    if numeric.is_empty() {
        return Vec::new();
    }
    span.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let fields: Vec<&[u8]> = line.split(|&b| b == delimiter).collect();
            fields.len() == width && numeric.iter().all(|&j| is_number(fields[j]))
        })
        .map(|(i, _)| i as u64)
        .collect()
}

/// Whether `field` is a finite number exactly as written (no spaces: prose after a comma is
/// not a number).
fn is_number(field: &[u8]) -> bool {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .is_some_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(content: &[u8]) -> String {
        parse_delimited(Path::new("a.csv"), content, b',', true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn crlf_files_are_numbered_like_lf_files() {
        let lf = error(b"id,text,score\n1,fine,3\n2,bad row\n3,fine,2\n");
        let crlf = error(b"id,text,score\r\n1,fine,3\r\n2,bad row\r\n3,fine,2\r\n");
        assert_eq!(lf, "a.csv:3:3: this row has 2 fields but the header has 3");
        assert_eq!(crlf, lf);
        let multiline = b"id,text,score\r\n1,\"two\r\nlines\",3\r\n\r\n2,x\r\n";
        assert_eq!(
            error(multiline),
            "a.csv:5:3: this row has 2 fields but the header has 3"
        );
    }

    #[test]
    fn a_quote_never_closed_is_reported_where_it_opened() {
        assert_eq!(
            error(b"id,text,score\n1,hello,3\n2,\"unterminated,4\n3,more,2\n")
                .split(": a quote")
                .next(),
            Some("a.csv:3:2")
        );
        assert!(error(b"id,text,score\n1,\"open,3\n").contains("never closed"));
    }

    #[test]
    fn a_quote_that_joins_rows_is_reported_not_allowed_to_lose_them() {
        let joined = b"id,text,score\n1,\"abc,3\n2,def\",4\n3,ghi,2\n4,jkl,1\n";
        let message = error(joined);
        assert!(
            message.starts_with("a.csv:2:2: a quote opened here joins lines 2 to 3"),
            "{message}"
        );
        assert!(
            message.contains("lines 2 and 3 look like rows"),
            "{message}"
        );
        assert_eq!(list_lines([2, 3, 4].into_iter()), "2, 3 and 4");
        assert_eq!(list_lines(2..10), "2, 3, 4, … and 9");
        let hex_ids = b"id,text,score\nc54f,\"abc,3\nd81e,def\",4\n";
        assert!(error(hex_ids).contains("joins lines"), "{}", error(hex_ids));
    }

    #[test]
    fn genuine_multi_line_responses_with_commas_are_read() {
        let essay = b"id,text,score\n1,\"First, I think so.\n\nSecond, 3 reasons, really.\nThird, yes\",4\n2,\"x\",3\n";
        let raw = parse_delimited(Path::new("a.csv"), essay, b',', true).unwrap();
        assert_eq!(raw.records.len(), 2);
        assert_eq!(raw.records[1].0, 6);
    }

    #[test]
    fn a_header_naming_a_column_twice_is_refused() {
        assert_eq!(
            error(b"id,score,score\n1,2,3\n"),
            "a.csv:1:3: header: column \"score\" appears twice (columns 2 and 3); rename one"
        );
    }

    #[test]
    fn every_ragged_row_is_reported() {
        let message = error(b"a,b\n1\n2,3\n4\n5,6,7\n");
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 3, "{message}");
        assert!(lines[0].starts_with("a.csv:2:2:"), "{message}");
        assert!(lines[1].contains("a.csv:4:2:"), "{message}");
        assert!(lines[2].contains("a.csv:5:3:"), "{message}");
    }
}
