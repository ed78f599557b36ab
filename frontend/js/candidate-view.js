// Pieces of a candidate's view shared by the candidate and compare pages.

import { esc, fmtCount, fmtInt, fmtNumber, metricLabel } from "./format.js";
import { t } from "./i18n.js";

const COUNTS = new Set(["params", "flops"]);

export function fmtMetric(name, v) {
  if (typeof v !== "number") return esc(v ?? "–");
  return COUNTS.has(name) ? `${fmtCount(v)} <span class="muted">(${fmtInt(v)})</span>` : fmtNumber(v);
}

/** `<dt>/<dd>` pairs for fitness, every metric and the timings. */
export function metricsList(c) {
  const rows = [[t("table.fitness"), c.fitness, "fitness"]];
  for (const [k, v] of Object.entries(c.metrics || {}).sort(([a], [b]) => a.localeCompare(b))) rows.push([metricLabel(k), v, k]);
  if (c.worker) rows.push([t("candidate.worker"), c.worker, "worker"]);
  if (c.epochs !== undefined && c.epochs !== null) rows.push([t("candidate.epochs"), c.epochs, "epochs"]);
  return rows.map(([label, v, k]) => `<dt>${esc(label)}</dt><dd>${fmtMetric(k, v)}</dd>`).join("");
}
