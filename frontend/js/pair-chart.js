// The front per objective pair: a multi-objective search's objectives taken two at a time, and for the
// pair's second column the columns of its family (a table's latency on each device: lat_ms_a100,
// lat_ms_h100, lat_ms_cpu_alldlc ...), so the user can switch the device and see that front. The front
// itself comes from the server (`/pareto?x=&y=&x_goal=&y_goal=`): a switched column keeps the direction
// of the objective it stands in for, since a column's name alone says nothing of it.

import { metricLabel } from "./format.js";
import { t } from "./i18n.js";

/** The columns that share `column`'s first two name parts (lat_ms_a100 → lat_ms_*); none: every metric. */
export function familyOf(column, metrics) {
  const parts = column.split("_");
  const prefix = parts.length >= 3 ? `${parts.slice(0, 2).join("_")}_` : null;
  const family = prefix ? metrics.filter((m) => m.startsWith(prefix)) : [];
  const out = family.length > 1 ? family : metrics;
  return out.includes(column) ? out : [column, ...out];
}

export class PairPicker {
  /** `pairSelect` lists the objective pairs, `columnSelect` the column shown for the pair's second. */
  constructor(pairSelect, columnSelect) {
    this.pairSelect = pairSelect;
    this.columnSelect = columnSelect;
    this.objectives = [];
    this.metrics = [];
    pairSelect.addEventListener("change", () => this.fillColumns(true));
  }

  /** The pairs (first, second) of `objectives` ([{metric, goal}]), in spec order. */
  pairs() {
    const out = [];
    for (let i = 0; i < this.objectives.length; i++) {
      for (let j = i + 1; j < this.objectives.length; j++) out.push([i, j]);
    }
    return out;
  }

  setObjectives(objectives, metrics) {
    this.objectives = objectives;
    this.metrics = metrics;
    const pairs = this.pairs();
    const values = pairs.map(([i, j]) => `${i}-${j}`);
    const have = [...this.pairSelect.options].map((o) => o.value).join(",");
    if (have !== values.join(",")) {
      const keep = this.pairSelect.value;
      this.pairSelect.replaceChildren(
        ...pairs.map(([i, j], k) => {
          const [a, b] = [objectives[i].metric, objectives[j].metric];
          return new Option(t("pairs.option", { a: metricLabel(a), b: metricLabel(b) }), values[k]);
        }),
      );
      if (values.includes(keep)) this.pairSelect.value = keep;
    }
    this.fillColumns(false);
  }

  pair() {
    const [i, j] = (this.pairSelect.value || "0-1").split("-").map(Number);
    return [this.objectives[i], this.objectives[j]];
  }

  /** The second objective's family as options; `reset`: back to the objective's own column. */
  fillColumns(reset) {
    const [, second] = this.pair();
    if (!second) return;
    const options = familyOf(second.metric, this.metrics);
    const keep = reset ? second.metric : this.columnSelect.value || second.metric;
    const have = [...this.columnSelect.options].map((o) => o.value).join(",");
    if (have !== options.join(",")) {
      this.columnSelect.replaceChildren(...options.map((m) => new Option(metricLabel(m), m)));
    }
    this.columnSelect.value = options.includes(keep) ? keep : second.metric;
  }

  /** The chart's axes: x the (switched) second column, y the first objective, each with its goal. */
  axes() {
    const [first, second] = this.pair();
    if (!first || !second) return { x: "fitness", y: "fitness", xGoal: "maximize", yGoal: "maximize" };
    return { x: this.columnSelect.value || second.metric, y: first.metric, xGoal: second.goal, yGoal: first.goal };
  }
}
