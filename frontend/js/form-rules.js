// Which form fields apply to the spec as it is being filled in: a field that the chosen options make
// meaningless (momentum without SGD, the final-training settings with top_k = 0) is hidden and left out
// of the spec, so the form asks only what the search will use. The rules mirror worker/nas/spec.py and
// the strategies' Options; a path without a rule always applies.

/** The value is `want`, or a searched value that may pick it ({choices: [..., want]}). */
const may = (value, want) => value === want || Boolean(value && Array.isArray(value.choices) && value.choices.includes(want));

const RULES = {
  "training.momentum": (v) => may(v("training.optimizer"), "sgd"), // only SGD takes a momentum
  "strategy.tournament_size": (v) => v("strategy.selection") === "tournament",
  "multi_fidelity.min_epochs": (v) => v("multi_fidelity.type") !== "none",
  "multi_fidelity.eta": (v) => v("multi_fidelity.type") !== "none",
  "final.epochs": (v) => v("final.top_k") > 0,
  "final.repeats": (v) => v("final.top_k") > 0,
  "final.max_minutes": (v) => v("final.top_k") > 0,
  "final.min_epoch_share": (v) => v("final.top_k") > 0 && v("final.max_minutes") > 0,
  "dataset.erasing": (v) => may(v("dataset.augment"), true),
  "dataset.augment_in_search": (v) => v("dataset.augment") === true, // a fixed augment only
};

/** Show or hide every field by its rule; hidden inputs get `data-inapplicable` so readSpec skips them. */
export function applyRules(form, readInput) {
  const value = (path) => {
    const el = form.querySelector(`[data-path="${path}"]`);
    if (!el) return undefined;
    const v = readInput(el);
    return el.dataset.kind === "integer" || el.dataset.kind === "number" ? Number(v ?? 0) : v;
  };
  for (const [path, applies] of Object.entries(RULES)) {
    const el = form.querySelector(`[data-path="${path}"]`);
    if (!el) continue;
    const on = applies(value);
    el.closest(".field").classList.toggle("hidden", !on);
    if (on) delete el.dataset.inapplicable;
    else el.dataset.inapplicable = "1";
  }
}
