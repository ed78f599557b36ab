// Parallel coordinates of the done candidates' fitness and metrics (plotly `parcoords`, one WebGL line
// per candidate). Brushing an axis sets that dimension's ranges in the page's BrushFilter, which filters
// the table and dims the other charts. Drawn lazily: first when the panel scrolls into view, then at
// most every few seconds while it stays in view, so a 10,000-candidate page pays nothing until then.

import { baseLayout, palette, plotConfig } from "./theme.js";
import { fmtInt, metricLabel } from "./format.js";
import { t } from "./i18n.js";
import { axisValue } from "./charts.js";

const plotly = () => window.Plotly;
const MIN_WAIT_MS = 3000;
const MAX_DIMENSIONS = 12; // more axes than this are too narrow to brush
// The order practitioners read them in; other numeric metrics follow by name.
const FIRST = ["fitness", "val_accuracy", "val_f1", "params", "flops", "latency_ms", "zc_naswot", "zc_synflow", "zc_grad_norm"];
const SKIP = new Set(["seconds", "zc_seconds", "epochs"]); // costs of the run, not properties of the architecture

const done = (c) => c.status === "done" && typeof c.fitness === "number";

/** The dimensions worth an axis: fitness and every metric that some done candidate reports and that varies. */
export function parcoordsDimensions(rows) {
  const names = new Set(["fitness"]);
  for (const c of rows) for (const [k, v] of Object.entries(c.metrics || {})) if (typeof v === "number") names.add(k);
  const keys = [...FIRST.filter((k) => names.has(k)), ...[...names].filter((k) => !FIRST.includes(k)).sort()];
  return keys.filter((k) => !SKIP.has(k)).slice(0, MAX_DIMENSIONS);
}

export class ParcoordsChart {
  constructor(el, note, { filter, rows }) {
    this.el = el;
    this.note = note;
    this.filter = filter;
    this.rows = rows; // () => every candidate
    this.visible = false;
    this.drawnAt = 0;
    this.timer = null;
    this.keys = [];
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

  draw() {
    this.drawnAt = Date.now();
    const rows = this.rows().filter(done);
    this.el.dataset.lines = String(rows.length);
    if (rows.length < 2) {
      this.note.textContent = t("parcoords.empty");
      return;
    }
    this.keys = parcoordsDimensions(rows);
    this.note.textContent = t("parcoords.note", { n: fmtInt(rows.length) });
    const dimensions = this.keys.map((key) => {
      const dim = { label: metricLabel(key), values: rows.map((c) => axisValue(c, key) ?? NaN) };
      const ranges = this.filter.rangesOf(key); // the filter is the truth: a redraw keeps the brush
      if (ranges) dim.constraintrange = ranges.length === 1 ? ranges[0] : ranges;
      return dim;
    });
    const p = palette();
    const trace = {
      type: "parcoords",
      dimensions,
      line: { color: rows.map((c) => c.fitness), colorscale: "Viridis", showscale: false },
      labelfont: { color: p.fg, size: 11 },
      tickfont: { color: p.muted, size: 10 },
      rangefont: { color: p.muted, size: 9 },
    };
    const layout = baseLayout({ margin: { l: 56, r: 96, t: 56, b: 24 } });
    this.el.dataset.dims = String(dimensions.length);
    const drawn = plotly().react(this.el, [trace], layout, plotConfig);
    if (!this.bound) {
      this.bound = true;
      this.el.on("plotly_restyle", () => this.readBrush());
    }
    return drawn;
  }

  /** Copy every axis's brushed ranges from the chart into the shared filter. */
  readBrush() {
    const dims = (this.el.data && this.el.data[0] && this.el.data[0].dimensions) || [];
    dims.forEach((dim, i) => {
      const key = this.keys[i];
      let r = dim.constraintrange;
      if (r && typeof r[0] === "number") r = [r];
      this.filter.set(key, (c) => axisValue(c, key), r || null);
    });
    this.filter.changed();
  }
}
