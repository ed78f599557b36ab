// The search page's shared filter: ranges brushed on the parallel-coordinates chart, per dimension.
// One module holds them; the table keeps only the candidates that pass, and the fitness and Pareto
// charts dim the others (Plotly `selectedpoints` on their candidate trace, matched by customdata id).

const plotly = () => window.Plotly;

export class BrushFilter {
  constructor() {
    this.ranges = new Map(); // dimension key -> {value: (candidate) => number|null, ranges: [[lo, hi], ...]}
    this.listeners = [];
  }

  get active() {
    return this.ranges.size > 0;
  }

  /** Keep only values of `key` inside any of `ranges` (empty or null: no condition on it). */
  set(key, value, ranges) {
    if (ranges && ranges.length) this.ranges.set(key, { value, ranges });
    else this.ranges.delete(key);
  }

  rangesOf(key) {
    const r = this.ranges.get(key);
    return r ? r.ranges : null;
  }

  clear() {
    this.ranges.clear();
    this.changed();
  }

  onChange(fn) {
    this.listeners.push(fn);
  }

  changed() {
    for (const fn of this.listeners) fn(this);
  }

  /** Whether a candidate passes every brushed dimension; one without a value there does not. */
  passes = (c) => {
    for (const { value, ranges } of this.ranges.values()) {
      const v = value(c);
      if (v === null || !ranges.some(([lo, hi]) => v >= lo && v <= hi)) return false;
    }
    return true;
  };

  /**
   * Dim the points of trace `index` on a drawn chart that fail the filter (their customdata is the
   * candidate id, looked up in `byId`); with no filter every point is shown as drawn.
   */
  highlight(el, index, byId) {
    const trace = el && el.data && el.data[index];
    if (!trace) return;
    const wasActive = trace.selectedpoints !== undefined && trace.selectedpoints !== null;
    if (!this.active) {
      if (wasActive) plotly().restyle(el, { selectedpoints: [null] }, [index]);
      return;
    }
    const keep = [];
    const ids = trace.customdata || [];
    for (let i = 0; i < ids.length; i++) {
      const c = byId.get(ids[i]);
      if (c && this.passes(c)) keep.push(i);
    }
    plotly().restyle(el, { selectedpoints: [keep], "unselected.marker.opacity": 0.08 }, [index]);
  }
}
