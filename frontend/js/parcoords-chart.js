// Parallel coordinates of the done candidates: the design decisions the server names for them
// (GET /api/searches/{id}/decisions, the most important ones first when the importance is known), then
// fitness and the metrics (plotly `parcoords`, one WebGL line per candidate). Brushing an axis sets that
// dimension's ranges in the page's BrushFilter, which filters the table and dims the other charts.
// Drawn lazily: first when the panel scrolls into view, then at most every few seconds while in view,
// so a 10,000-candidate page pays nothing for it until then.

import { baseLayout, palette, plotConfig } from "./theme.js";
import { fmtInt, metricLabel } from "./format.js";
import { t } from "./i18n.js";
import { axisValue } from "./charts.js";
import { nameText } from "./server-text.js";

const plotly = () => window.Plotly;
const MIN_WAIT_MS = 3000;
const DECISIONS_EVERY_MS = 10_000; // the server reads every genome: fetch new decisions less often
const MAX_METRICS = 8; // with up to 6 decisions: more axes than this are too narrow to brush
// The order practitioners read them in; other numeric metrics follow by name.
const FIRST = ["fitness", "val_accuracy", "val_f1", "params", "flops", "latency_ms", "zc_naswot", "zc_synflow", "zc_grad_norm"];
const SKIP = new Set(["seconds", "zc_seconds", "epochs"]); // costs of the run, not properties of the architecture
const config = { ...plotConfig, displayModeBar: false }; // the bar would cover the last axis's title

// Each line costs WebGL work on every redraw and brush: past this many, an even sample (by id) is drawn.
// The brush still filters every candidate, since the filter tests values, not drawn lines.
const MAX_LINES = 1000;

/** At most `n` of `rows`, evenly spread over their id order. */
function evenSample(rows, n) {
  if (rows.length <= n) return rows;
  const sorted = [...rows].sort((a, b) => a.id - b.id);
  return Array.from({ length: n }, (_, i) => sorted[Math.floor((i * sorted.length) / n)]);
}

const done = (c) => c.status === "done" && typeof c.fitness === "number";
const choiceText = (v) => (v === null || v === undefined ? t("importance.absent") : String(v));

/** The metric axes: fitness and every metric that some done candidate reports. */
export function metricDimensions(rows) {
  const names = new Set(["fitness"]);
  for (const c of rows) for (const [k, v] of Object.entries(c.metrics || {})) if (typeof v === "number") names.add(k);
  const keys = [...FIRST.filter((k) => names.has(k)), ...[...names].filter((k) => !FIRST.includes(k)).sort()];
  return keys.filter((k) => !SKIP.has(k)).slice(0, MAX_METRICS);
}

export class ParcoordsChart {
  /**
   * `decisionNames()` says which decisions to ask for (the most important, once known; [] lets the server
   * choose), `fetchDecisions(names)` resolves to the API's columns, `rows()` gives every candidate.
   */
  constructor(el, note, { filter, rows, decisionNames, fetchDecisions }) {
    this.el = el;
    this.note = note;
    this.filter = filter;
    this.rows = rows;
    this.fetchDecisions = fetchDecisions;
    this.decisionNames = decisionNames;
    this.decisions = null; // {codes: Map name -> Map id -> code, columns, ids: Set}
    this.decisionsAt = 0;
    this.visible = false;
    this.drawnAt = 0;
    this.timer = null;
    this.dims = []; // [{key, value(c)}] of the axes drawn, in order
    new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
      if (this.visible) this.refresh();
    }).observe(el);
  }

  /** New data: redraw if in view, no more often than every few seconds. */
  refresh() {
    if (!this.visible || this.timer) return;
    const wait = Math.max(0, this.drawnAt + MIN_WAIT_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.draw();
    }, wait);
  }

  async loadDecisions(doneCount) {
    const names = this.decisionNames();
    const known = this.decisions;
    const behind = known && known.ids && known.ids.size < doneCount && Date.now() - this.decisionsAt > DECISIONS_EVERY_MS;
    if (known && !behind && (!names.length || known.names === names.join(","))) return;
    this.decisionsAt = Date.now();
    try {
      const answer = await this.fetchDecisions(names);
      const codes = new Map(
        answer.decisions.map((d) => [d.name, new Map(answer.ids.map((id, i) => [id, d.codes[i]]))]),
      );
      this.decisions = { codes, columns: answer.decisions, ids: new Set(answer.ids), names: names.join(",") };
    } catch (err) {
      console.warn("decisions unavailable; the chart shows the metrics only", err);
      this.decisions ??= { codes: new Map(), columns: [], ids: null, names: names.join(",") };
    }
  }

  /** A candidate's code for decision `name`, read from the latest decisions (the filter keeps this). */
  codeOf(name) {
    return (c) => {
      const codes = this.decisions && this.decisions.codes.get(name);
      return (codes && codes.get(c.id)) ?? null;
    };
  }

  async draw() {
    this.drawnAt = Date.now();
    const finished = this.rows().filter(done);
    await this.loadDecisions(finished.length);
    const { columns, ids } = this.decisions;
    // Lines need a value on every axis: candidates done after the last decisions read wait for the next.
    const all = ids && columns.length ? finished.filter((c) => ids.has(c.id)) : finished;
    const rows = evenSample(all, MAX_LINES);
    this.el.dataset.lines = String(rows.length);
    if (rows.length < 2) {
      this.note.textContent = t("parcoords.empty");
      return;
    }
    this.dims = [
      ...columns.map((d) => ({ key: `d:${d.name}`, label: nameText(d.name), choices: d.choices, value: this.codeOf(d.name) })),
      ...metricDimensions(rows).map((m) => ({ key: m, label: metricLabel(m), value: (c) => axisValue(c, m) })),
    ];
    // A brushed axis that is no longer drawn (the important decisions changed) stops filtering.
    const drawnKeys = new Set(this.dims.map((d) => d.key));
    const orphans = [...this.filter.ranges.keys()].filter((k) => !drawnKeys.has(k));
    for (const key of orphans) this.filter.set(key, null, null);
    if (orphans.length) this.filter.changed();
    this.note.textContent =
      rows.length < all.length
        ? t("parcoords.note_sampled", { n: fmtInt(rows.length), total: fmtInt(all.length) })
        : t("parcoords.note", { n: fmtInt(rows.length) });
    const dimensions = this.dims.map((d) => {
      const dim = { label: d.label, values: rows.map((c) => d.value(c) ?? NaN) };
      if (d.choices) {
        dim.tickvals = d.choices.map((_, i) => i);
        dim.ticktext = d.choices.map(choiceText);
        dim.range = [-0.2, Math.max(0.2, d.choices.length - 0.8)];
      }
      const ranges = this.filter.rangesOf(d.key); // the filter is the truth: a redraw keeps the brush
      if (ranges) dim.constraintrange = ranges.length === 1 ? ranges[0] : ranges;
      return dim;
    });
    const p = palette();
    const trace = {
      type: "parcoords",
      dimensions,
      line: { color: rows.map((c) => c.fitness), colorscale: "Viridis", showscale: false },
      labelfont: { color: p.fg, size: 11 },
      labelangle: -20, // long decision and metric names would overlap their neighbours' level
      tickfont: { color: p.muted, size: 10 },
      rangefont: { color: p.muted, size: 9 },
    };
    const layout = baseLayout({ margin: { l: 96, r: 80, t: 72, b: 24 } });
    this.el.dataset.dims = String(dimensions.length);
    this.el.dataset.decisions = String(columns.length);
    await plotly().react(this.el, [trace], layout, config);
    if (!this.bound) {
      this.bound = true;
      this.el.on("plotly_restyle", () => this.readBrush());
    }
  }

  /** Copy every axis's brushed ranges from the chart into the shared filter. */
  readBrush() {
    const drawn = (this.el.data && this.el.data[0] && this.el.data[0].dimensions) || [];
    drawn.forEach((dim, i) => {
      const d = this.dims[i];
      let r = dim.constraintrange;
      if (r && typeof r[0] === "number") r = [r];
      this.filter.set(d.key, d.value, r || null);
    });
    this.filter.changed();
  }
}
