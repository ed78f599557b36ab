// Decision importance: one horizontal bar per design decision, its share of the fitness variance, with
// its best and worst choice on hover. The server computes it (GET /api/searches/{id}/importance, a
// random forest on at most 2,000 candidates); the page only draws the answer, so it costs nothing per
// candidate and a 10,000-candidate search stays fast.

import { baseLayout, palette, plotConfig, axisStyle } from "./theme.js";
import { fmtInt } from "./format.js";
import { t } from "./i18n.js";
import { nameText, serverText } from "./server-text.js";
import { PolledAnswer } from "./polled-answer.js";

// plotly.js is a classic script that may finish loading after this module: look it up at call time.
const plotly = () => window.Plotly;
// While the search runs the answer changes with each finished candidate, but a forest costs the server
// about a second: ask at most this often (longer when the server is slower to answer).
const MIN_WAIT_MS = 10_000;
const MAX_BARS = 20; // a layers search names ~50 decisions; the tail explains next to nothing

const choice = (v) => (v === null || v === undefined ? t("importance.absent") : String(v));

export class ImportanceChart extends PolledAnswer {
  /** `fetchImportance()` resolves to the API's answer; `isRunning()` says whether to keep refreshing. */
  constructor(el, note, { fetchImportance, isRunning }) {
    super({ fetch: fetchImportance, isRunning, minWaitMs: MIN_WAIT_MS, label: "decision importance" });
    Object.assign(this, { el, note });
    this.items = []; // the last answer's decisions, most important first
  }

  /** The names of the `n` most important decisions of the last answer (none before the first). */
  topDecisions(n) {
    return this.items.slice(0, n).map((it) => it.decision);
  }

  render(answer) {
    const items = answer.items || [];
    this.items = items;
    this.el.dataset.items = String(items.length);
    if (!items.length) {
      this.note.textContent = answer.reason ? t("importance.none", { reason: serverText(answer.reason) }) : "";
      if (this.el.data) plotly().purge(this.el);
      return;
    }
    const sampled =
      answer.n_candidates < answer.n_finished ? t("importance.sampled", { n: fmtInt(answer.n_finished) }) : "";
    const shown = items.slice(0, MAX_BARS).reverse(); // Plotly draws the first category at the bottom
    const explained = items.reduce((s, it) => s + it.importance, 0);
    this.note.textContent =
      t("importance.note", { n: fmtInt(answer.n_candidates), sampled, share: (100 * explained).toFixed(0) }) +
      (items.length > MAX_BARS ? t("importance.largest", { n: MAX_BARS, total: items.length }) : t("importance.end"));
    // The dashboard's plotly bundle is core + scattergl (scripts/plotly-bundle), without bar traces:
    // each bar is a rectangle shape, and a marker at its end carries the hover. Rows are numbered, with
    // the decisions as tick labels; hovermode "y" shows a row's hover anywhere along it.
    const p = palette();
    const rows = shown.map((_, i) => i);
    const trace = {
      type: "scatter",
      mode: "markers",
      x: shown.map((it) => it.importance),
      y: rows,
      text: shown.map((it) => nameText(it.decision)),
      customdata: shown.map((it) => [choice(it.best_choice), choice(it.worst_choice)]),
      marker: { color: p.accent, size: 6 },
      hovertemplate: t("importance.hover"),
    };
    const bars = shown.map((it, i) => ({
      type: "rect",
      xref: "x",
      yref: "y",
      x0: 0,
      x1: it.importance,
      y0: i - 0.35,
      y1: i + 0.35,
      fillcolor: p.accent,
      line: { width: 0 },
      layer: "between", // above the grid lines, below the hover markers
    }));
    const layout = baseLayout({
      xaxis: axisStyle({ title: { text: t("importance.axis") }, tickformat: ".0%", rangemode: "tozero" }),
      yaxis: axisStyle({
        tickvals: rows,
        ticktext: trace.text,
        range: [-0.6, shown.length - 0.4],
        zeroline: false,
        showgrid: false,
      }),
      shapes: bars,
      hovermode: "y",
      margin: { l: 16, r: 16, t: 16, b: 44 },
      showlegend: false,
      uirevision: "keep",
    });
    return plotly().react(this.el, [trace], layout, plotConfig);
  }
}
