// Smaller charts: the Pareto view with selectable axes, the RL controller's statistics and the
// per-epoch training curves (one candidate, or several overlaid on the compare page).

import { baseLayout, bindPointClick, palette, plotConfig, axisStyle } from "./theme.js";
import { metricLabel } from "./format.js";
import { t } from "./i18n.js";

// plotly.js is a classic script that may finish loading after this module: look it up at call time.
const plotly = () => window.Plotly;

/** Value of an axis for a candidate: "fitness" or one of its metrics. */
export function axisValue(c, axis) {
  const v = axis === "fitness" ? c.fitness : c.metrics && c.metrics[axis];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * Every finished candidate on two chosen axes, and the front the server computed for those axes with the
 * engine's directions and constraints (`GET /api/searches/{id}/pareto?x=&y=`): the page keeps no copy of
 * the Pareto rule or of the metrics' directions. The front is fetched after the points are drawn and at
 * most every few seconds, so a 10,000-candidate page does not wait for it.
 */
export class ParetoChart {
  /** `axesOf()` → {x, y, xGoal, yGoal} picks the axes instead of the x/y selects (`controls` change them). */
  constructor(el, { onSelect, xSelect, ySelect, fetchFront, axesOf, controls = [] } = {}) {
    this.el = el;
    this.axesOf = axesOf;
    this.onSelect = onSelect;
    this.xSelect = xSelect;
    this.ySelect = ySelect;
    this.fetchFront = fetchFront;
    this.front = null; // {axes, goals, ids} of the last answer
    this.fetching = null;
    this.again = false; // the axes changed while `fetching`: fetch their front once it is in
    this.fetchedAt = 0;
    this.fetchMs = 0;
    this.trailing = null; // timer of a fetch deferred by the rate limit
    this.bound = false;
    this.userChose = false; // until the user picks an axis, the defaults apply as metrics appear
    for (const s of [xSelect, ySelect, ...controls]) {
      if (!s) continue;
      s.addEventListener("change", () => {
        this.userChose = true;
        this.render(this.last || [], { refetch: true });
      });
    }
  }

  axes() {
    if (this.axesOf) {
      const a = this.axesOf();
      return [a.x, a.y];
    }
    return [this.xSelect ? this.xSelect.value : "params", this.ySelect ? this.ySelect.value : "fitness"];
  }

  /** Ask the server for the front on the current axes, unless an answer is on its way or very fresh. */
  refreshFront(force = false) {
    if (!this.fetchFront) return;
    if (this.fetching) {
      // The axes changed while an answer for the old ones is on its way: ask again once it is in, or a
      // finished search (no further renders) would keep the new axes without a front.
      this.again = this.again || force;
      return;
    }
    const wait = Math.max(2000, 5 * this.fetchMs);
    const early = wait - (Date.now() - this.fetchedAt);
    if (!force && early > 0) {
      // A trailing fetch, so the last points drawn are always judged against a fresh front.
      if (!this.trailing) {
        this.trailing = setTimeout(() => {
          this.trailing = null;
          this.refreshFront(true);
        }, early);
      }
      return;
    }
    const [x, y] = this.axes();
    const started = Date.now();
    this.fetching = this.fetchFront(x, y)
      .then((answer) => {
        this.front = { axes: `${x}|${y}`, goals: answer.goals, ids: new Set(answer.items.map((c) => c.id)) };
        this.fetchMs = Date.now() - started;
        this.fetchedAt = Date.now();
      })
      .catch((err) => console.error("Pareto front request failed", err))
      .finally(() => {
        this.fetching = null;
        this.draw(this.last || []);
        const again = this.again && this.front?.axes !== this.axes().join("|");
        this.again = false;
        if (again) this.refreshFront(true);
      });
  }

  setAxes(metricNames, defaults) {
    const options = ["fitness", ...metricNames.filter((m) => m !== "fitness")];
    for (const [select, fallback] of [
      [this.xSelect, defaults.x],
      [this.ySelect, defaults.y],
    ]) {
      if (!select) continue;
      const current = this.userChose ? select.value : fallback;
      const have = [...select.options].map((o) => o.value).join(",");
      if (have !== options.join(",")) {
        select.replaceChildren(...options.map((m) => new Option(metricLabel(m), m)));
      }
      select.value = options.includes(current) ? current : options.includes("fitness") ? "fitness" : options[0];
    }
  }

  render(candidates, { refetch = false } = {}) {
    this.last = candidates;
    this.refreshFront(refetch);
    return this.draw(candidates);
  }

  draw(candidates) {
    const [xa, ya] = this.axes();
    const answer = this.front && this.front.axes === `${xa}|${ya}` ? this.front : null;
    const pts = [];
    const front = [];
    const refs = []; // a scaling search's original network, starred beside its scaled versions
    for (const c of candidates) {
      if (c.status !== "done") continue;
      const x = axisValue(c, xa);
      const y = axisValue(c, ya);
      if (x === null || y === null) continue;
      const q = { x, y, id: c.id, label: c.label || "" };
      pts.push(q);
      if (answer && answer.ids.has(c.id)) front.push(q);
      if (c.origin && c.origin.operator === "reference") refs.push(q);
    }
    // The server's front is a set; drawn as a staircase along x whose steps bound what it dominates:
    // across then up or down where smaller x is better, up or down then across where larger x is.
    front.sort((a, b) => a.x - b.x || a.y - b.y);
    const shape = answer && answer.goals[0] === "maximize" ? "vh" : "hv";
    const p = palette();
    const traces = [
      {
        name: t("chart.candidates"),
        type: "scattergl",
        mode: "markers",
        x: pts.map((q) => q.x),
        y: pts.map((q) => q.y),
        customdata: pts.map((q) => q.id),
        text: pts.map((q) => q.label),
        marker: { size: 6, color: p.muted, opacity: 0.55 },
        hovertemplate: "#%{customdata} %{text}<br>%{x}, %{y}<extra></extra>",
      },
      {
        name: t("chart.pareto_front"),
        type: "scatter",
        mode: "lines+markers",
        x: front.map((q) => q.x),
        y: front.map((q) => q.y),
        customdata: front.map((q) => q.id),
        text: front.map((q) => q.label),
        line: { shape, color: p.accent },
        marker: { size: 9, color: p.accent },
        hovertemplate: "#%{customdata} %{text}<br>%{x}, %{y}<extra></extra>",
      },
    ];
    if (refs.length) {
      traces.push({
        name: t("chart.reference"),
        type: "scatter",
        mode: "markers",
        x: refs.map((q) => q.x),
        y: refs.map((q) => q.y),
        customdata: refs.map((q) => q.id),
        text: refs.map((q) => q.label),
        marker: { symbol: "star", size: 16, color: p.warn, line: { width: 1, color: p.fg } },
        hovertemplate: `${t("chart.reference")} #%{customdata} %{text}<br>%{x}, %{y}<extra></extra>`,
      });
    }
    const log = (a) => (/(params|flops)/.test(a) ? "log" : "linear");
    const better = (i) => (answer ? t(answer.goals[i] === "minimize" ? "chart.lower_better" : "chart.higher_better") : "");
    const layout = baseLayout({
      xaxis: axisStyle({ title: { text: `${metricLabel(xa)}${better(0)}` }, type: log(xa) }),
      yaxis: axisStyle({ title: { text: `${metricLabel(ya)}${better(1)}` }, type: log(ya) }),
      uirevision: `${xa}|${ya}`,
    });
    const done = plotly().react(this.el, traces, layout, plotConfig);
    if (!this.bound) {
      this.bound = true;
      bindPointClick(this.el, this.onSelect);
    }
    this.el.dataset.front = answer ? String(front.length) : "";
    this.el.dataset.references = String(refs.length);
    return done;
  }
}

/** Reward, baseline and entropy per controller step. Accepts rows or parallel arrays. */
export function controllerSeries(stats) {
  if (!stats) return null;
  const rows = stats.steps || stats.history || stats.items;
  const pick = (k) => (Array.isArray(rows) ? rows.map((r) => r[k] ?? null) : stats[k] || []);
  const series = { reward: pick("reward"), baseline: pick("baseline"), entropy: pick("entropy") };
  const n = Math.max(series.reward.length, series.entropy.length);
  if (!n) return null;
  series.step = Array.isArray(rows) ? rows.map((r, i) => r.step ?? i + 1) : [...Array(n).keys()].map((i) => i + 1);
  return series;
}

export function drawController(el, stats) {
  const s = controllerSeries(stats);
  if (!s) return false;
  if (!el.data) el.replaceChildren(); // drop the "nothing recorded yet" note before the first plot
  const p = palette();
  const traces = [
    { name: t("chart.reward"), x: s.step, y: s.reward, type: "scatter", mode: "lines+markers", line: { color: p.accent } },
    { name: t("chart.baseline"), x: s.step, y: s.baseline, type: "scatter", mode: "lines", line: { color: p.good, dash: "dash" } },
    { name: t("chart.entropy"), x: s.step, y: s.entropy, type: "scatter", mode: "lines", yaxis: "y2", line: { color: p.warn } },
  ];
  const layout = baseLayout({
    xaxis: axisStyle({ title: { text: t("chart.controller_step") } }),
    yaxis: axisStyle({ title: { text: t("chart.reward") } }),
    yaxis2: axisStyle({ title: { text: t("chart.entropy") }, overlaying: "y", side: "right", showgrid: false }),
    uirevision: "keep",
  });
  plotly().react(el, traces, layout, plotConfig);
  return true;
}

const LOSSES = ["train_loss", "val_loss"];
const SCORES = ["val_accuracy", "val_f1"];

/** Per-epoch curves: losses on the left axis, accuracy / F1 on the right. Several candidates overlay. */
export function drawCurves(el, runs) {
  const p = palette();
  const traces = [];
  // One run: a colour per metric. Several runs: a colour per run, the metric told by the dash.
  const single = runs.length === 1;
  const colorOf = (i, m) => p.series[(single ? [...LOSSES, ...SCORES].indexOf(m) : i) % p.series.length];
  runs.forEach((run, i) => {
    const epochs = run.curve.map((pt) => pt.epoch);
    const prefix = runs.length > 1 ? `#${run.id} ` : "";
    for (const m of LOSSES) {
      if (!run.curve.some((pt) => typeof pt[m] === "number")) continue;
      traces.push({
        name: `${prefix}${metricLabel(m)}`,
        x: epochs,
        y: run.curve.map((pt) => pt[m] ?? null),
        type: "scatter",
        mode: "lines+markers",
        line: { color: colorOf(i, m), dash: m === "train_loss" ? "dot" : "solid" },
        marker: { color: colorOf(i, m) },
      });
    }
    for (const m of SCORES) {
      if (!run.curve.some((pt) => typeof pt[m] === "number")) continue;
      traces.push({
        name: `${prefix}${metricLabel(m)}`,
        x: epochs,
        y: run.curve.map((pt) => pt[m] ?? null),
        type: "scatter",
        mode: "lines+markers",
        yaxis: "y2",
        line: { color: colorOf(i, m), dash: m === "val_f1" ? "dashdot" : "dash" },
        marker: { symbol: "diamond", color: colorOf(i, m) },
      });
    }
  });
  const layout = baseLayout({
    xaxis: axisStyle({ title: { text: t("chart.epoch") }, dtick: 1 }),
    yaxis: axisStyle({ title: { text: t("chart.loss") } }),
    yaxis2: axisStyle({ title: { text: t("chart.accuracy_f1") }, overlaying: "y", side: "right", showgrid: false }),
    legend: { orientation: "h", y: -0.25 },
    margin: { l: 56, r: 56, t: 16, b: 64 },
  });
  el.dataset.traces = String(traces.length);
  return plotly().react(el, traces, layout, plotConfig);
}
