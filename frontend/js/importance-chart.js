// Decision importance: one horizontal bar per design decision, its share of the fitness variance, with
// its best and worst choice on hover. The server computes it (GET /api/searches/{id}/importance, a
// random forest on at most 2,000 candidates); the page only draws the answer, so it costs nothing per
// candidate and a 10,000-candidate search stays fast.

import { baseLayout, palette, plotConfig, axisStyle } from "./theme.js";
import { fmtInt } from "./format.js";
import { t } from "./i18n.js";
import { nameText, serverText } from "./server-text.js";

// plotly.js is a classic script that may finish loading after this module: look it up at call time.
const plotly = () => window.Plotly;
// While the search runs the answer changes with each finished candidate, but a forest costs the server
// about a second: ask at most this often (longer when the server is slower to answer).
const MIN_WAIT_MS = 10_000;
const MAX_BARS = 20; // a layers search names ~50 decisions; the tail explains next to nothing

const choice = (v) => (v === null || v === undefined ? t("importance.absent") : String(v));

export class ImportanceChart {
  /** `fetchImportance()` resolves to the API's answer; `isRunning()` says whether to keep refreshing. */
  constructor(el, note, { fetchImportance, isRunning }) {
    this.el = el;
    this.note = note;
    this.fetchImportance = fetchImportance;
    this.isRunning = isRunning;
    this.shown = null; // the last answer drawn, as JSON: an unchanged answer is not redrawn
    this.items = []; // the last answer's decisions, most important first
    this.active = false; // a fetch in flight or scheduled
  }

  /** Start refreshing again (a resumed search) unless a fetch is already in flight or scheduled. */
  wake() {
    if (!this.active) this.start();
  }

  /** Fetch and draw now, then again every while the search runs, and once more after it ends. */
  async start() {
    this.active = true;
    const running = this.isRunning();
    const started = Date.now();
    try {
      this.draw(await this.fetchImportance());
    } catch (err) {
      console.warn("decision importance unavailable", err);
    }
    // A fetch that began while running may predate the last candidates: the next one, after the end,
    // is the final answer.
    if (running) setTimeout(() => this.start(), Math.max(MIN_WAIT_MS, 10 * (Date.now() - started)));
    else this.active = false;
  }

  /** The names of the `n` most important decisions of the last answer (none before the first). */
  topDecisions(n) {
    return this.items.slice(0, n).map((it) => it.decision);
  }

  draw(answer) {
    const text = JSON.stringify(answer);
    if (text === this.shown) return;
    this.shown = text;
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
