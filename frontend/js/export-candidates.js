// Export the candidate table as CSV or JSON: every row the table's filters keep (all pages, in its sort
// order), read in full (genome included) through the paging API at the moment of the click.

import { readAllCandidates } from "./api.js";
import { generationOf } from "./fitness-chart.js";

const FIRST_METRICS = ["val_accuracy", "val_f1", "val_loss", "params", "flops", "latency_ms", "seconds"];

/** Every candidate of the search as the API sends it, by id; `onProgress(n)` after each page. */
export async function readFullCandidates(searchId, onProgress = () => {}) {
  const byId = new Map();
  await readAllCandidates(searchId, 0, (items) => {
    for (const c of items) byId.set(c.id, c);
    onProgress(byId.size);
  });
  return byId;
}

// A spreadsheet runs a cell that starts with one of these as a formula: written as text instead.
const FORMULA = /^[=+\-@\t\r]/;

function csvCell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  let s = typeof v === "object" ? JSON.stringify(v) : String(v);
  if (FORMULA.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One header line, then one line per candidate: fixed columns, every metric any row has, then the genome. */
export function toCsv(rows) {
  const seen = new Set();
  for (const r of rows) for (const k of Object.keys(r.metrics || {})) seen.add(k);
  const rest = [...seen].filter((k) => !FIRST_METRICS.includes(k)).sort();
  const metrics = [...FIRST_METRICS.filter((k) => seen.has(k)), ...rest];
  const fixed = ["id", "status", "label", "fitness", "rung", "epochs", "generation", "created_at", "finished_at"];
  const header = [...fixed, ...metrics, "error", "genome"];
  const lines = [header.map(csvCell).join(",")];
  for (const r of rows) {
    const cells = fixed.map((k) => (k === "generation" ? generationOf(r) : r[k]));
    for (const m of metrics) cells.push(r.metrics ? r.metrics[m] : null);
    cells.push(r.error, r.genome);
    lines.push(cells.map(csvCell).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** Hand `text` to the browser as a file download. */
export function download(text, filename, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
