// CSV as the tests write and read it: a header row, quoted fields, CRLF or LF.

/** The rows of `text` as objects keyed by the header's names. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  const [header, ...body] = rows;
  return body.filter((r) => r.length === header.length).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

/** `rows` (objects) as CSV with the header `columns`, every field quoted. */
export function formatCsv(columns, rows) {
  const quoted = (value) => `"${String(value).replaceAll('"', '""')}"`;
  return [columns.join(","), ...rows.map((row) => columns.map((c) => quoted(row[c])).join(","))].join("\n") + "\n";
}
