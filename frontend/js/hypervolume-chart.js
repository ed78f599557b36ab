// Hypervolume over evaluations (multi-objective searches): the server's step curve
// (GET /api/searches/{id}/hypervolume) drawn as it is, with the reference point and its rule stated
// under the chart. The page computes nothing: the volume, the reference and the order are the API's.

import { baseLayout, evaluationTicks, palette, plotConfig, axisStyle } from "./theme.js";
import { fmtInt, fmtNumber, metricLabel } from "./format.js";
import { t } from "./i18n.js";
import { serverText } from "./server-text.js";
import { PolledAnswer } from "./polled-answer.js";

const plotly = () => window.Plotly; // a classic script that may load after this module
// About 0.1 s of server time for 10,000 candidates: every few seconds while the search runs is cheap.
const MIN_WAIT_MS = 3000;

/** "val_accuracy 0.42 (max), params 1.2M (min)": the reference point in the metrics' own units. */
export function referenceText(objectives, goals, reference) {
  if (!reference) return "";
  return objectives
    .map((m, i) => `${metricLabel(m)} ${fmtNumber(reference[i])} (${t(goals[i] === "minimize" ? "goal.min" : "goal.max")})`)
    .join(", ");
}

export class HypervolumeChart extends PolledAnswer {
  /** `fetchCurve()` resolves to the API's answer; `isRunning()` says whether to keep refreshing. */
  constructor(el, note, { fetchCurve, isRunning }) {
    super({ fetch: fetchCurve, isRunning, minWaitMs: MIN_WAIT_MS, label: "hypervolume" });
    Object.assign(this, { el, note });
  }

  render(answer) {
    const points = answer.points || [];
    this.el.dataset.points = String(points.length);
    if (!points.length) {
      this.note.textContent = answer.reason ? t("hv.none", { reason: serverText(answer.reason) }) : "";
      if (this.el.data) plotly().purge(this.el);
      return;
    }
    const point = referenceText(answer.objectives, answer.goals, answer.reference);
    this.note.textContent = `${t("hv.reference", { point, rule: serverText(answer.reference_rule) })} ${t("hv.evaluations", { n: fmtInt(answer.n_evaluations) })}`;
    const p = palette();
    const trace = {
      type: "scatter",
      mode: "lines",
      name: t("hv.name"),
      x: points.map((q) => q.evaluation),
      y: points.map((q) => q.hypervolume),
      line: { shape: "hv", color: p.accent, width: 2 },
      hovertemplate: t("hv.hover"),
    };
    const layout = baseLayout({
      xaxis: axisStyle({
        title: { text: t("chart.evaluation") },
        tickformat: "d",
        rangemode: "tozero",
        ...evaluationTicks(trace.x.reduce((a, v) => (v > a ? v : a), 0)),
      }),
      yaxis: axisStyle({ title: { text: t("hv.name") }, rangemode: "tozero" }),
      showlegend: false,
      margin: { l: 64, r: 16, t: 16, b: 44 },
      uirevision: "keep",
    });
    return plotly().react(this.el, [trace], layout, plotConfig);
  }
}
