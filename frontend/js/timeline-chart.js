// The worker timeline: one row per worker, one bar per candidate from its start to its finish (or the
// server's "now" while it trains), coloured by status; beside it each worker's busy and idle time.
//
// The dashboard's plotly.js bundle holds scatter and scattergl only (no bar trace, see docs/dashboard.md),
// so a bar is a thick line segment, and hover and click go to an invisible scattergl trace with points
// along each bar: the point nearest the cursor is then always on the bar under it.

import { baseLayout, bindPointClick, palette, plotConfig, axisStyle } from "./theme.js";
import { esc, fmtDuration, fmtInt, parseTime, statusLabel } from "./format.js";
import { t } from "./i18n.js";

const plotly = () => window.Plotly;
const STATUSES = ["done", "training", "failed", "infeasible", "cancelled"];
// Hover points per bar follow its length: about one per 1/HOVER_STEPS of the time shown.
const HOVER_STEPS = 200;
const MAX_POINTS_PER_BAR = 24;

function statusColor(p, status) {
  return { done: p.good, training: p.accent, failed: p.bad, infeasible: p.warn }[status] || p.muted;
}

/** Bars in data units (epoch ms) from the API's items; a running bar ends at the server's `now`. */
export function barsOf(answer) {
  const now = parseTime(answer.now);
  const bars = [];
  for (const item of answer.items || []) {
    const start = parseTime(item.started_at);
    if (start === null) continue;
    const end = Math.max(start, parseTime(item.finished_at) ?? now ?? start);
    bars.push({ ...item, start, end });
  }
  return bars;
}

export class TimelineChart {
  constructor(el, { onSelect } = {}) {
    this.el = el;
    this.onSelect = onSelect;
    this.bound = false;
  }

  /** Draw the answer of `GET /api/searches/{id}/timeline`; resolves once drawn. */
  render(answer) {
    const bars = barsOf(answer);
    if (!bars.length) {
      if (this.el.data) plotly().purge(this.el);
      this.bound = false; // purge dropped the click handler
      this.el.textContent = t("timeline.empty");
      this.el.dataset.bars = "0";
      return Promise.resolve();
    }
    if (!this.el.data) this.el.replaceChildren(); // drop the note before the first plot
    const p = palette();
    const workers = [...new Set(bars.map((b) => b.worker))].sort();
    const t0 = Math.min(...bars.map((b) => b.start));
    const t1 = Math.max(...bars.map((b) => b.end));
    const span = Math.max(1000, t1 - t0);
    const minLength = span / 300; // an instant failure still shows, as a sliver of a few pixels
    const rowPx = Math.max(22, Math.min(48, 260 / workers.length));
    const traces = STATUSES.map((status) => ({
      name: statusLabel(status),
      type: "scatter",
      mode: "lines",
      x: [],
      y: [],
      line: { color: statusColor(p, status), width: Math.round(rowPx * 0.6) },
      hoverinfo: "skip",
      showlegend: false,
    }));
    const hover = { x: [], y: [], customdata: [], text: [] };
    const soFar = t("timeline.so_far");
    for (const b of bars) {
      const trace = traces[Math.max(0, STATUSES.indexOf(b.status))] || traces[0];
      const end = Math.max(b.end, b.start + minLength);
      trace.x.push(b.start, end, null);
      trace.y.push(b.worker, b.worker, null);
      const text =
        `#${b.candidate_id} ${esc(b.label || "")}<br>${esc(b.worker)} · ${esc(statusLabel(b.status))}` +
        `<br>${fmtDuration((b.end - b.start) / 1000)}${b.finished_at ? "" : ` ${soFar}`}` +
        (b.attempt > 1 ? ` ${t("timeline.attempt", { n: b.attempt })}` : "");
      const n = Math.min(MAX_POINTS_PER_BAR, 2 + Math.floor(((end - b.start) / span) * HOVER_STEPS));
      for (let i = 0; i < n; i++) {
        hover.x.push(b.start + ((end - b.start) * i) / (n - 1));
        hover.y.push(b.worker);
        hover.customdata.push(b.candidate_id);
        hover.text.push(text);
      }
    }
    for (const t of traces) t.showlegend = t.x.length > 0;
    traces.push({
      name: t("chart.candidate"),
      type: "scattergl",
      mode: "markers",
      ...hover,
      marker: { size: rowPx * 0.6, color: "rgba(0,0,0,0)" },
      hovertemplate: "%{text}<extra></extra>",
      showlegend: false,
    });
    const layout = baseLayout({
      height: Math.max(220, 90 + rowPx * workers.length),
      xaxis: axisStyle({ type: "date", title: { text: t("timeline.time_axis") } }),
      yaxis: axisStyle({ type: "category", categoryarray: workers, categoryorder: "array", autorange: "reversed" }),
      margin: { l: 56, r: 16, t: 28, b: 44 },
      uirevision: "keep", // a refresh keeps the user's zoom
    });
    this.el.style.height = `${layout.height}px`;
    const done = plotly().react(this.el, traces, layout, plotConfig);
    if (!this.bound) {
      this.bound = true;
      bindPointClick(this.el, this.onSelect);
    }
    return done.then(() => {
      this.el.dataset.bars = String(bars.length); // for the browser test: drawn, with this many bars
    });
  }
}

const HEAD = [
  t("timeline.col.worker"),
  t("timeline.col.candidates"),
  t("timeline.col.busy"),
  t("timeline.col.idle"),
  t("timeline.col.busy_share"),
]
  .map((title) => `<th>${esc(title)}</th>`)
  .join("");
const pct = (part, whole) => (whole > 0 ? `${Math.round((100 * part) / whole)} %` : "–");

/** The per-worker table and the queue wait, beside the chart. */
export function workerSummaryHtml(answer) {
  const rows = (answer.workers || []).map(
    (w) =>
      `<tr><td class="mono" title="${esc(w.worker)}">${esc(w.worker)}</td><td>${w.candidates}</td>` +
      `<td>${fmtDuration(w.busy_seconds)}</td><td>${fmtDuration(w.idle_seconds)}</td>` +
      `<td>${pct(w.busy_seconds, w.busy_seconds + w.idle_seconds)}</td></tr>`,
  );
  const wait = answer.queue_wait || {};
  const waitLine = wait.n
    ? t("timeline.queue_wait", { median: fmtDuration(wait.median_seconds), max: fmtDuration(wait.max_seconds) }) +
      ` <span class="muted">${esc(t("timeline.first_attempts", { n: fmtInt(wait.n) }))}</span>`
    : `<span class="muted">${esc(t("timeline.no_wait"))}</span>`;
  const bound = answer.truncated
    ? `<p class="muted">${esc(t("timeline.truncated", { n: fmtInt(answer.limit) }))}</p>`
    : "";
  if (!rows.length) return `<p>${waitLine}</p>${bound}`;
  return (
    `<table class="data compact"><thead><tr>${HEAD}</tr></thead><tbody>${rows.join("")}</tbody></table>` +
    `<p>${waitLine}</p>${bound}<p class="muted">${esc(t("timeline.idle_note"))}</p>`
  );
}
