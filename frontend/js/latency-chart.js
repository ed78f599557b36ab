// Latency predictor against measurement (GET /api/searches/{id}/latency-predictor): each candidate's
// latency_ms_pred (from the genome, before training) against its measured latency_ms_ort, with the y = x
// line and the ±10 % band the predictor is judged by, and the server's summary figures as a line of text.
// The panel stays hidden until the answer has points; the page computes nothing.

import { axisStyle, baseLayout, palette, plotConfig } from "./theme.js";
import { fmtInt, fmtNumber } from "./format.js";
import { t } from "./i18n.js";
import { PolledAnswer } from "./polled-answer.js";

const plotly = () => window.Plotly; // a classic script that may load after this module
const MIN_WAIT_MS = 3000;

/** "12 candidates: 83 % within ±10 %, Spearman 0.97, median error 4.1 % (device kind)". */
export function latencySummary(a) {
  const pct = (v) => (v == null ? "–" : `${fmtNumber(Math.round(100 * v))} %`);
  return t("latency.summary", {
    n: fmtInt(a.n),
    within: pct(a.within_10pct),
    tol: fmtNumber(100 * a.tolerance, 2),
    rho: a.spearman == null ? "–" : fmtNumber(a.spearman, 3),
    median: a.median_abs_pct_error == null ? "–" : `${fmtNumber(a.median_abs_pct_error, 2)} %`,
    device: a.device_kind || "–",
  });
}

/** Tick values for a log axis over [lo, hi]: 1-2-5 steps, or every digit when those give fewer than 3.
 * Plotly's own log ticks label the steps between powers of ten with their bare digit ("2" for 0.2). */
export function logTicks(lo, hi) {
  const pick = (mults) => {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of mults) {
        const v = Number((m * 10 ** e).toPrecision(12));
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    return out;
  };
  const coarse = pick([1, 2, 5]);
  return coarse.length >= 3 ? coarse : pick([1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

export class LatencyChart extends PolledAnswer {
  /** `fetchAnswer()` resolves to the API's answer; `isRunning()` says whether to keep refreshing. */
  constructor(panel, el, note, { fetchAnswer, isRunning }) {
    super({ fetch: fetchAnswer, isRunning, minWaitMs: MIN_WAIT_MS, label: "latency predictor" });
    Object.assign(this, { panel, el, note });
  }

  render(answer) {
    const points = answer.points || [];
    this.el.dataset.points = String(points.length);
    this.panel.classList.toggle("hidden", !points.length);
    if (!points.length) return;
    this.note.textContent = latencySummary(answer);
    const p = palette();
    const all = points.flatMap((q) => [q.predicted, q.measured]);
    const lo = Math.min(...all) * 0.9;
    const hi = Math.max(...all) * 1.1;
    const tol = answer.tolerance;
    // The band: predictions within ±tol of the measured figure (x measured, y predicted).
    const band = {
      type: "scatter",
      mode: "lines",
      x: [lo, hi, hi, lo, lo],
      y: [lo * (1 - tol), hi * (1 - tol), hi * (1 + tol), lo * (1 + tol), lo * (1 - tol)],
      fill: "toself",
      fillcolor: "rgba(37, 99, 235, 0.10)",
      line: { width: 0 },
      hoverinfo: "skip",
      name: t("latency.band", { tol: fmtNumber(100 * tol, 2) }),
    };
    const diagonal = {
      type: "scatter",
      mode: "lines",
      x: [lo, hi],
      y: [lo, hi],
      line: { color: p.muted, dash: "dash", width: 1 },
      hoverinfo: "skip",
      name: "y = x",
    };
    const scatter = {
      type: "scatter",
      mode: "markers",
      x: points.map((q) => q.measured),
      y: points.map((q) => q.predicted),
      customdata: points.map((q) => q.candidate_id),
      marker: { color: p.accent, size: 7 },
      name: t("latency.points"),
      hovertemplate: t("latency.hover"),
    };
    const ticks = logTicks(lo * (1 - tol), hi * (1 + tol));
    const logAxis = (title) =>
      axisStyle({ title: { text: title }, type: "log", tickvals: ticks, ticktext: ticks.map(String) });
    const layout = baseLayout({
      xaxis: logAxis(t("latency.measured")),
      yaxis: logAxis(t("latency.predicted")),
      showlegend: false,
      margin: { l: 64, r: 16, t: 16, b: 44 },
      uirevision: "keep",
    });
    return plotly().react(this.el, [band, diagonal, scatter], layout, plotConfig);
  }
}
