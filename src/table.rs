//! Batch scoring's table: a CSV or TSV file in, the same rows with scores out.

use cyborg_scorer::Score;

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

    /// The table as CSV with the model's score columns added (`score`, `raw_score`, then any
    /// traits: [`cyborg_scorer::Scorer::score_columns`]); rows without a score (not reached
    /// before a cancel) get empty cells.
    pub fn with_scores(&self, score_columns: &[String], scores: &[Option<Score>]) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = self.headers.clone();
        header.extend(score_columns.iter().cloned());
        writer.write_record(&header).expect("writing to memory");
        for (row, score) in self.rows.iter().zip(scores) {
            let cells = match score {
                Some(score) => score.cells(),
                None => vec![String::new(); score_columns.len()],
            };
            writer
                .write_record(row.iter().cloned().chain(cells))
                .expect("writing to memory");
        }
        String::from_utf8(writer.into_inner().expect("writing to memory"))
            .expect("UTF-8 in, UTF-8 out")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyborg_scorer::advisory::Advisory;

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
        let columns = ["score", "raw_score", "advisories"].map(String::from);
        let score = Score {
            score: 3,
            raw: 2.5,
            traits: Vec::new(),
            advisories: vec![Advisory::TooLong],
        };
        let out = table.with_scores(&columns, &[Some(score), None]);
        assert_eq!(
            out,
            "id,text,score,raw_score,advisories\n1,\"a, b\",3,2.500000,too_long\n2,c,,,\n"
        );
    }

    #[test]
    fn each_trait_gets_its_columns() {
        use cyborg_scorer::traits::TraitScore;
        let table = Table::parse("a.csv", b"id,text\n1,x\n").unwrap();
        let columns: Vec<String> = [
            "score",
            "raw_score",
            "ideas",
            "ideas_raw",
            "wording",
            "advisories",
        ]
        .map(String::from)
        .into();
        let score = Score {
            score: 3,
            raw: 2.5,
            traits: vec![
                TraitScore {
                    name: "ideas".into(),
                    raw: 1.75,
                    level: Some(2),
                },
                TraitScore {
                    name: "wording".into(),
                    raw: -0.25,
                    level: None,
                },
            ],
            advisories: Vec::new(),
        };
        assert_eq!(
            table.with_scores(&columns, &[Some(score)]),
            "id,text,score,raw_score,ideas,ideas_raw,wording,advisories\n1,x,3,2.500000,2,1.750000,-0.250000,\n"
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
