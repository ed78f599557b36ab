// The fitness-evolution chart: one scattergl point per evaluated candidate, the best-so-far line, failed
// candidates on a strip below, and generation means when the strategy works in generations.
// New results are appended with Plotly.extendTraces; only a changed fitness forces a full Plotly.react.

import { SMALL_AXIS, baseLayout, bindPointClick, evaluationTicks, palette, plotConfig } from "./theme.js";
import { parseTime } from "./format.js";
import { t } from "./i18n.js";

// plotly.js is a classic script that may finish loading after this module: look it up at call time.
const plotly = () => window.Plotly;
const FINISHED = new Set(["done", "failed", "infeasible"]); // infeasible: on the strip, with its reason
// Looked up once: hover templates and trace names are set on every full draw.
const L = {
  candidate: t("chart.candidate"),
  best: t("chart.best_so_far"),
  failed: t("chart.failed"),
  generationMean: t("chart.generation_mean"),
  evalHover: t("chart.eval_hover"),
  failedHover: t("chart.failed_hover"),
  meanHover: t("chart.mean_hover"),
};

/** Candidates in the order they finished (ties by id); each timestamp is parsed once, not per comparison. */
function sortByFinish(list) {
  const keyed = list.map((c) => ({ c, t: parseTime(c.finished_at) ?? Number.MAX_SAFE_INTEGER }));
  keyed.sort((a, b) => a.t - b.t || a.c.id - b.c.id);
  return keyed.map((k) => k.c);
}

let generationResolver = null;

/** For strategies that breed in generations but do not label candidates, the page supplies a rule. */
export function setGenerationResolver(fn) {
  generationResolver = fn;
}

export function generationOf(c) {
  const g = c.origin && (c.origin.generation ?? c.origin.gen);
  if (Number.isInteger(g)) return g;
  return generationResolver ? generationResolver(c) : null;
}

const hasFitness = (c) => c.status === "done" && typeof c.fitness === "number";


export class FitnessChart {
  constructor(el, { onSelect } = {}) {
    this.el = el;
    this.onSelect = onSelect;
    this.plotted = new Map(); // id -> fitness (null for failed) of every point on the chart
    this.n = 0; // points on the x axis so far (evaluation order)
    this.best = -Infinity;
    this.drawn = false;
    this.generations = new Map();
  }

  /** Draw from scratch: used for the first render and when an already plotted result changes. */
  render(candidates) {
    const finished = sortByFinish(candidates.filter((c) => FINISHED.has(c.status)));
    this.plotted.clear();
    this.n = 0;
    this.best = -Infinity;
    this.generations = new Map(); // generation -> {sum, n, xsum}
    const cols = this._columns(finished);
    // On a full draw the step line needs only the points where the best improved, plus the last one.
    const step = { x: [], y: [] };
    cols.by.forEach((b, i) => {
      if (i === 0 || b !== cols.by[i - 1] || i === cols.by.length - 1) {
        step.x.push(cols.bx[i]);
        step.y.push(b);
      }
    });
    const p = palette();
    const traces = [
      {
        name: L.candidate,
        type: "scattergl",
        mode: "markers",
        x: cols.x,
        y: cols.y,
        customdata: cols.ids,
        text: cols.text,
        marker: { size: 6, color: p.accent, opacity: 0.75 },
        hovertemplate: `#%{customdata} %{text}<br>${L.evalHover}<extra></extra>`,
      },
      {
        name: L.best,
        type: "scattergl",
        mode: "lines",
        x: step.x,
        y: step.y,
        customdata: [],
        text: [],
        line: { shape: "hv", color: p.good, width: 2 },
        hoverinfo: "skip",
      },
      {
        name: L.failed,
        type: "scattergl",
        mode: "markers",
        x: cols.fx,
        y: cols.fx.map(() => 0),
        customdata: cols.fids,
        text: cols.ftext,
        yaxis: "y2",
        marker: { symbol: "x", size: 8, color: p.bad },
        hovertemplate: `#%{customdata} ${L.failedHover}: %{text}<extra></extra>`,
      },
      this._generationTrace(),
    ];
    const layout = baseLayout({
      // The x axis sits under the failed strip, so its ticks do not cut between the two.
      xaxis: { title: { text: t("chart.evaluation") }, rangemode: "tozero", anchor: "y2", tickformat: ",d", ...evaluationTicks(this.n) },
      yaxis: { title: { text: t("chart.fitness") }, domain: [0.12, 1] },
      yaxis2: { domain: [0, 0.06], showticklabels: false, showgrid: false, zeroline: false, fixedrange: true },
      annotations: [
        { text: L.failed, xref: "paper", yref: "paper", x: 0, y: 0.03, xanchor: "right", showarrow: false },
      ],
      uirevision: "keep",
    });
    const done = plotly().react(this.el, traces, layout, plotConfig);
    if (!this.drawn) {
      this.drawn = true;
      bindPointClick(this.el, this.onSelect);
    }
    this.el.dataset.points = String(this.plotted.size);
    return done;
  }

  /** Merge changed candidates; returns a promise resolved once the chart shows them. */
  update(changed, all) {
    const appended = [];
    const seen = new Set(); // a candidate changed twice within one flush (result, then its step) counts once
    let redraw = false;
    for (const c of changed) {
      if (!FINISHED.has(c.status) || seen.has(c.id)) continue;
      seen.add(c.id);
      if (this.plotted.has(c.id)) {
        const before = this.plotted.get(c.id);
        const now = hasFitness(c) ? c.fitness : null;
        if (before !== now) redraw = true; // a later rung or a retrain changed the score
      } else {
        appended.push(c);
      }
    }
    if (redraw) return this.render(all());
    if (!appended.length) return Promise.resolve();
    const smallBefore = this.n <= SMALL_AXIS;
    const cols = this._columns(sortByFinish(appended));
    this.el.dataset.points = String(this.plotted.size);
    const genTrace = this._generationTrace();
    const ticks = smallBefore === this.n <= SMALL_AXIS ? null : evaluationTicks(this.n);
    return plotly().extendTraces(
      this.el,
      {
        x: [cols.x, cols.bx, cols.fx],
        y: [cols.y, cols.by, cols.fx.map(() => 0)],
        customdata: [cols.ids, [], cols.fids],
        text: [cols.text, [], cols.ftext],
      },
      [0, 1, 2],
    ).then(() => {
      if (ticks) {
        const update = Object.fromEntries(Object.entries(ticks).map(([k, v]) => [`xaxis.${k}`, v]));
        return plotly().relayout(this.el, update).then(() => this._restyleGenerations(genTrace));
      }
      return this._restyleGenerations(genTrace);
    });
  }

  _restyleGenerations(genTrace) {
    if (!this.generations.size) return undefined;
    const update = { x: [genTrace.x], y: [genTrace.y], text: [genTrace.text], visible: [true] };
    return plotly().restyle(this.el, update, [3]);
  }

  /** Columns for the given (sorted) finished candidates, continuing the running numbering and best. */
  _columns(list) {
    const cols = { x: [], y: [], ids: [], text: [], bx: [], by: [], fx: [], fids: [], ftext: [] };
    for (const c of list) {
      this.n += 1;
      if (hasFitness(c)) {
        cols.x.push(this.n);
        cols.y.push(c.fitness);
        cols.ids.push(c.id);
        cols.text.push(c.label || "");
        this.best = Math.max(this.best, c.fitness);
        cols.bx.push(this.n);
        cols.by.push(this.best);
        this.plotted.set(c.id, c.fitness);
        const g = generationOf(c);
        if (g !== null) {
          const s = this.generations.get(g) || { sum: 0, n: 0, xsum: 0 };
          s.sum += c.fitness;
          s.n += 1;
          s.xsum += this.n;
          this.generations.set(g, s);
        }
      } else {
        cols.fx.push(this.n);
        cols.fids.push(c.id);
        cols.ftext.push((c.error || L.failed).slice(0, 120));
        this.plotted.set(c.id, null);
      }
    }
    return cols;
  }

  /** Mean fitness per generation, placed at the mean evaluation index of that generation. */
  _generationTrace() {
    const gens = [...this.generations.keys()].sort((a, b) => a - b);
    const stat = (g) => this.generations.get(g);
    const p = palette();
    return {
      name: L.generationMean,
      type: "scatter",
      mode: "lines+markers",
      x: gens.map((g) => stat(g).xsum / stat(g).n),
      y: gens.map((g) => stat(g).sum / stat(g).n),
      text: gens.map((g) => t("chart.generation", { n: g })),
      line: { color: p.warn, dash: "dot" },
      marker: { size: 7, color: p.warn },
      hovertemplate: `%{text}: ${L.meanHover}<extra></extra>`,
      visible: gens.length > 0,
    };
  }
}
