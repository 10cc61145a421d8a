//! Batch scoring's table: a CSV or TSV file in, the same rows with scores out.

/// A table read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file's name.
    pub name: String,
    /// Column names.
    pub headers: Vec<String>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads `bytes` as CSV (TSV when the name ends in `.tsv`), header row first. Errors name
    /// the file and the line.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Table, String> {
        let delimiter = if name.to_ascii_lowercase().ends_with(".tsv") {
            b'\t'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(bytes);
        let located = |e: csv::Error| {
            let line = e
                .position()
                .map(|p| format!(", line {}", p.line()))
                .unwrap_or_default();
            format!("{name}{line}: {e}")
        };
        let headers: Vec<String> = reader
            .headers()
            .map_err(located)?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            rows.push(
                record
                    .map_err(located)?
                    .iter()
                    .map(str::to_string)
                    .collect(),
            );
        }
        if rows.is_empty() {
            return Err(format!("{name}: no rows under the header"));
        }
        Ok(Table {
            name: name.to_string(),
            headers,
            rows,
        })
    }

    /// The column most likely to hold responses: one named like it, else the longest on
    /// average.
    pub fn likely_text_column(&self) -> usize {
        const NAMES: [&str; 6] = [
            "text",
            "full_text",
            "essay",
            "response",
            "answer",
            "essaytext",
        ];
        if let Some(named) = self
            .headers
            .iter()
            .position(|h| NAMES.contains(&h.trim().to_ascii_lowercase().as_str()))
        {
            return named;
        }
        (0..self.headers.len())
            .max_by_key(|&c| self.rows.iter().map(|r| r[c].len()).sum::<usize>())
            .unwrap_or(0)
    }

    /// The table as CSV with two more columns, `score` and `raw_score`; rows without a score
    /// (not reached before a cancel) get empty cells.
    pub fn with_scores(&self, scores: &[Option<(i64, f64)>]) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = self.headers.clone();
        header.extend(["score".to_string(), "raw_score".to_string()]);
        writer.write_record(&header).expect("writing to memory");
        for (row, score) in self.rows.iter().zip(scores) {
            let (level, raw) = match score {
                Some((level, raw)) => (level.to_string(), format!("{raw:.6}")),
                None => (String::new(), String::new()),
            };
            writer
                .write_record(
                    row.iter()
                        .map(String::as_str)
                        .chain([level.as_str(), raw.as_str()]),
                )
                .expect("writing to memory");
        }
        String::from_utf8(writer.into_inner().expect("writing to memory"))
            .expect("UTF-8 in, UTF-8 out")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_csv_and_finds_the_text_column_by_name() {
        let csv = "id,essay,grade\n1,\"Line one,\nline \"\"two\"\"\",4\n2,short,3\n";
        let table = Table::parse("essays.csv", csv.as_bytes()).unwrap();
        assert_eq!(table.headers, ["id", "essay", "grade"]);
        assert_eq!(table.rows[0][1], "Line one,\nline \"two\"");
        assert_eq!(table.likely_text_column(), 1);
    }

    #[test]
    fn without_a_known_name_the_longest_column_is_the_text() {
        let tsv = "n\tlabel\twords\n1\tb\ta long response here\n2\tc\tanother long one\n";
        let table = Table::parse("x.TSV", tsv.as_bytes()).unwrap();
        assert_eq!(table.likely_text_column(), 2);
    }

    #[test]
    fn scores_are_appended_and_missing_ones_left_empty() {
        let table = Table::parse("a.csv", b"id,text\n1,\"a, b\"\n2,c\n").unwrap();
        let out = table.with_scores(&[Some((3, 2.5)), None]);
        assert_eq!(
            out,
            "id,text,score,raw_score\n1,\"a, b\",3,2.500000\n2,c,,\n"
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let error = Table::parse("bad.csv", b"a,b\n1,2\n3\n").unwrap_err();
        assert!(error.starts_with("bad.csv, line 3:"), "{error}");
        let empty = Table::parse("empty.csv", b"a,b\n").unwrap_err();
        assert_eq!(empty, "empty.csv: no rows under the header");
    }
}
