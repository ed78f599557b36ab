// Pieces of a candidate's view shared by the candidate and compare pages.

import { esc, fmtCount, fmtNumber } from "./format.js";

const COUNTS = new Set(["params", "flops"]);

export function fmtMetric(name, v) {
  if (typeof v !== "number") return esc(v ?? "–");
  return COUNTS.has(name) ? `${fmtCount(v)} <span class="muted">(${v.toLocaleString("en")})</span>` : fmtNumber(v);
}

/** `<dt>/<dd>` pairs for fitness, every metric and the timings. */
export function metricsList(c) {
  const rows = [["fitness", c.fitness]];
  for (const [k, v] of Object.entries(c.metrics || {}).sort(([a], [b]) => a.localeCompare(b))) rows.push([k, v]);
  if (c.worker) rows.push(["worker", c.worker]);
  if (c.epochs !== undefined && c.epochs !== null) rows.push(["epochs", c.epochs]);
  return rows.map(([k, v]) => `<dt>${esc(k.replace(/_/g, " "))}</dt><dd>${fmtMetric(k, v)}</dd>`).join("");
}
