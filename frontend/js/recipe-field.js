// A searchable recipe field (lr, batch_size, augment, … — the schema marks them `x-searchable`) gets a
// "search" toggle: on, the field is written as a domain ({choices: […]}, {log_uniform: [lo, hi]}, …) that
// the search picks from per candidate, instead of one value. No state of its own: the toggle, the form
// select and the values box sit in the field, and reading the field looks at them (shown/hidden by CSS).

import { esc } from "./format.js";
import { t } from "./i18n.js";

// Literal keys, so the catalogue test sees every one.
const FORM_LABELS = {
  choices: "recipe.choices",
  uniform: "recipe.uniform",
  log_uniform: "recipe.log_uniform",
  int_uniform: "recipe.int_uniform",
};

/** The toggle and domain inputs for a field whose (resolved) schema is `s`; "" for other fields. */
export function recipeControlsHtml(path, s) {
  const forms = s["x-searchable"];
  if (!Array.isArray(forms) || !forms.length) return "";
  const id = `f-${path.replace(/\./g, "-")}-search`;
  const options = forms.map((f) => `<option value="${esc(f)}">${esc(t(FORM_LABELS[f] || "recipe.choices"))}</option>`);
  return `<div class="recipe-search" data-recipe-for="${esc(path)}">
    <label class="recipe-toggle" for="${id}" title="${esc(t("recipe.help"))}"><input type="checkbox" id="${id}" data-recipe-toggle> ${esc(t("recipe.search"))}</label>
    <span class="recipe-domain"><select data-recipe-form aria-label="${esc(t("recipe.form"))}">${options.join("")}</select>
    <input type="text" data-recipe-values aria-label="${esc(t("recipe.values"))}" placeholder="${esc(t("recipe.values"))}"></span></div>`;
}

function controls(el) {
  const field = el.closest(".field");
  const box = field && field.querySelector(".recipe-search");
  if (!box) return null;
  return {
    toggle: box.querySelector("[data-recipe-toggle]"),
    form: box.querySelector("[data-recipe-form]"),
    values: box.querySelector("[data-recipe-values]"),
  };
}

function parseValue(raw, kind) {
  if (kind === "boolean") return raw === "true" ? true : raw === "false" ? false : raw;
  if (kind === "integer" || kind === "number") return Number.isFinite(Number(raw)) ? Number(raw) : raw;
  return raw; // enum: the API names the allowed values if one is wrong
}

/** The field's domain when its search toggle is on, else `undefined` (read the plain input then). */
export function readSearch(el) {
  const c = controls(el);
  if (!c || !c.toggle.checked) return undefined;
  const parts = c.values.value.split(",").map((p) => p.trim()).filter(Boolean);
  return { [c.form.value]: parts.map((p) => parseValue(p, el.dataset.kind)) };
}

/** Fill a field from a spec value; true when the value was a domain (the toggle is set on). */
export function setSearch(el, value) {
  const c = controls(el);
  if (!c) return false;
  const form = value && typeof value === "object" && !Array.isArray(value) ? Object.keys(value)[0] : null;
  const known = form && [...c.form.options].some((o) => o.value === form) && Array.isArray(value[form]);
  c.toggle.checked = Boolean(known);
  if (!known) return false;
  c.form.value = form;
  c.values.value = value[form].map(String).join(", ");
  return true;
}
