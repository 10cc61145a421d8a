//! Small formatting shared by notes, tables, reports and cards.

/// A kappa (or any statistic that can be undefined) to three decimals, or `undefined`.
pub fn format_kappa(kappa: Option<f64>) -> String {
    kappa.map_or_else(|| "undefined".into(), |k| format!("{k:.3}"))
}

/// A development quality as training notes show it, to four decimals, or `undefined`.
pub fn format_quality(quality: Option<f64>) -> String {
    quality.map_or_else(|| "undefined".into(), |q| format!("{q:.4}"))
}

/// A difference to three decimals with its sign, or `undefined`.
pub fn format_signed(value: Option<f64>) -> String {
    value.map_or_else(|| "undefined".into(), |v| format!("{v:+.3}"))
}

/// The current time as RFC 3339 UTC, e.g. `2026-11-22T04:05:06Z`.
pub fn now_rfc3339() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `text` made safe inside HTML and SVG, in element content and quoted attributes alike.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A Markdown table: a row of `headings`, then one row per item of `rows`, each cell's `|`
/// escaped so that it stays one cell.
pub fn markdown_table<H: AsRef<str>>(
    headings: &[H],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> String {
    let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(headings.iter().map(AsRef::as_ref).collect());
    out.push_str(&format!("|{}\n", "---|".repeat(headings.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&line(cells.iter().map(String::as_str).collect()));
    }
    out
}

/// Where two settings written as `{:?}` text differ, field by field (`head_lr: 0.0005 then,
/// head_lr: 0.001 now`), so that a refusal names what changed; both whole if their fields do
/// not line up.
pub fn settings_difference(then: &str, now: &str) -> String {
    let fields = |s: &'_ str| -> Vec<String> {
        s.split([',', ';', '{', '}'])
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect()
    };
    let (before, after) = (fields(then), fields(now));
    if before.len() != after.len() {
        return format!("{then} then, {now} now");
    }
    let changed: Vec<String> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, a)| format!("{b} then, {a} now"))
        .collect();
    changed.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_difference_names_the_fields_that_changed() {
        let then = "Config { x: 1, y: Some(2), z: [a, b] }; Other { w: 3 }";
        let now = "Config { x: 1, y: None, z: [a, b] }; Other { w: 4 }";
        assert_eq!(
            settings_difference(then, now),
            "y: Some(2) then, y: None now; w: 3 then, w: 4 now"
        );
        // Fields that do not line up (a list grew) are shown whole.
        let grown = "Config { x: 1, y: Some(2), z: [a, b, c] }; Other { w: 3 }";
        assert_eq!(
            settings_difference(then, grown),
            format!("{then} then, {grown} now")
        );
    }

    #[test]
    fn a_markdown_table_keeps_a_cell_with_a_bar_in_one_column() {
        let table = markdown_table(&["a", "b"], [vec!["x|y".into(), "2".into()]]);
        assert_eq!(table, "| a | b |\n|---|---|\n| x\\|y | 2 |\n");
    }
}
