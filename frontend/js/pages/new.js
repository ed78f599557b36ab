// The new-search form, generated from /api/spec/schema, /api/spaces, /api/strategies and /api/datasets.
// It keeps a YAML/JSON view of the spec for the CLI, shows the API's 422 messages beside the fields
// they name, and lands on the search page once the search is created.

import { api, ApiError } from "../api.js";
import { esc } from "../format.js";
import { fieldHtml, fieldLabel, helpKey, objectFieldsHtml, readInput, resolve, setPath } from "../schema-form.js";
import { has, t } from "../i18n.js";
import { serverText } from "../server-text.js";
import { applyRules } from "../form-rules.js";
import { setSearch } from "../recipe-field.js";
import { toYaml } from "../yaml.js";
import { mountSpecUpload } from "../spec-upload.js";

const $ = (id) => document.getElementById(id);
const form = $("new-search-form");
const fieldsBox = $("form-fields");
// Always written out, even at their defaults, so the spec says what it runs.
const ALWAYS = new Set(["name", "space.type", "strategy.type", "dataset.name"]);
const TYPED = ["space", "strategy"]; // {type, ...options of the chosen class}

let root = null;
let catalog = { space: [], strategy: [] };
let datasets = [];
let examples = []; // the example specs offered as presets (GET /api/spec/examples)

/** A section's legend ("Training", "训练"); a section the catalogue lacks shows its name made readable. */
function title(name) {
  const key = `section.${name}`;
  return has(key) ? t(key) : fieldLabel(name);
}

function errorHolder(path) {
  return `<div class="field-error" data-error-for="${esc(path)}"></div>`;
}

// --- typed sections (space, strategy) -------------------------------------------------------------------
function typedSection(name, prop) {
  const s = resolve(prop, root);
  const entries = catalog[name];
  const fallback = s.properties && s.properties.type && s.properties.type.default;
  const chosen = entries.some((e) => e.name === fallback) ? fallback : entries[0] && entries[0].name;
  const options = entries
    .map((e) => `<option value="${esc(e.name)}"${e.name === chosen ? " selected" : ""}>${esc(e.name)}</option>`)
    .join("");
  return `<fieldset data-section="${name}"><legend>${title(name)}</legend>
    <div class="fields"><div class="field" data-field="${name}.type"><label for="f-${name}-type">${esc(fieldLabel("type"))}</label>
      <select id="f-${name}-type" name="${name}.type" data-path="${name}.type" data-kind="enum">${options}</select>
      <div class="help" data-description-for="${name}"></div>${errorHolder(`${name}.type`)}</div></div>
    <div class="fields" data-options-for="${name}"></div>${errorHolder(name)}</fieldset>`;
}

function renderTypedOptions(name) {
  const type = form.querySelector(`[data-path="${name}.type"]`).value;
  const entry = catalog[name].find((e) => e.name === type);
  const box = form.querySelector(`[data-options-for="${name}"]`);
  const key = `help.${name}.${type}`; // the class's description, translated where the catalogue has it
  form.querySelector(`[data-description-for="${name}"]`).textContent = has(key) ? t(key) : (entry && entry.description) || "";
  if (!entry || !entry.options) {
    box.innerHTML = "";
    return;
  }
  const optionsRoot = entry.options; // each class's Options schema resolves its own $refs
  const defaults = entry.defaults || {};
  box.innerHTML = objectFieldsHtml(name, optionsRoot, optionsRoot, defaults, ["type"], defaults, `${name}.${type}`);
}

// --- dataset --------------------------------------------------------------------------------------------
function datasetSection(prop) {
  const s = resolve(prop, root);
  const fallback = s.properties && s.properties.name && s.properties.name.default;
  const firstAvailable = datasets.find((d) => d.available);
  const chosen = datasets.some((d) => d.name === fallback && d.available) ? fallback : firstAvailable?.name || fallback;
  const options = datasets
    .map((d) => {
      const note = d.available ? "" : ` ${t("form.not_found")}`;
      const tip = d.where ? ` title="${esc(d.where)}"` : "";
      return `<option value="${esc(d.name)}"${d.name === chosen ? " selected" : ""}${tip}>${esc(d.name)}${note}</option>`;
    })
    .join("");
  return `<fieldset data-section="dataset"><legend>${esc(title("dataset"))}</legend><div class="fields">
    <div class="field" data-field="dataset.name"><label for="f-dataset-name">${esc(fieldLabel("name"))}</label>
      <select id="f-dataset-name" name="dataset.name" data-path="dataset.name" data-kind="enum">${options}</select>
      <div class="help" id="dataset-where"></div>${errorHolder("dataset.name")}</div>
    ${objectFieldsHtml("dataset", s, root, {}, ["name"])}</div>${errorHolder("dataset")}</fieldset>`;
}

function showDatasetWhere() {
  const sel = form.querySelector('[data-path="dataset.name"]');
  const d = datasets.find((x) => x.name === sel.value);
  const state = d && t(d.available ? "form.found" : "form.missing");
  $("dataset-where").textContent = d ? `${state}${d.where ? `: ${d.where}` : ""}` : "";
}

// --- lists of objects (objectives) ----------------------------------------------------------------------
function listSection(name, prop) {
  const s = resolve(prop, root);
  const help = has(helpKey(name)) ? t(helpKey(name)) : s.description;
  return `<fieldset data-section="${name}" data-list="${name}"><legend>${title(name)}</legend>
    <div data-rows-for="${name}"></div>
    <button type="button" data-add="${name}">${esc(t("form.add_row"))}</button>
    ${help ? `<div class="help">${esc(help)}</div>` : ""}${errorHolder(name)}</fieldset>`;
}

function addListRow(name, values = {}) {
  const s = resolve(root.properties[name], root);
  const itemSchema = resolve(s.items, root);
  const box = form.querySelector(`[data-rows-for="${name}"]`);
  const i = box.children.length;
  const row = document.createElement("div");
  row.className = "objective-row";
  row.dataset.row = String(i);
  row.innerHTML = `${objectFieldsHtml(`${name}.${i}`, itemSchema, root, values)}
    <button type="button" data-remove="${name}" aria-label="${esc(t("form.remove"))}">✕</button>`;
  box.appendChild(row);
}

function renumberRows(name) {
  const box = form.querySelector(`[data-rows-for="${name}"]`);
  [...box.children].forEach((row, i) => {
    for (const el of row.querySelectorAll("[data-path], [data-error-for], [data-field]")) {
      for (const attr of ["data-path", "data-error-for", "data-field", "name"]) {
        const v = el.getAttribute(attr);
        if (v) el.setAttribute(attr, v.replace(new RegExp(`^${name}\\.\\d+`), `${name}.${i}`));
      }
    }
  });
}

// --- whole form -----------------------------------------------------------------------------------------
function render() {
  const props = root.properties || {};
  const general = [];
  const sections = [];
  const lists = [];
  for (const [name, prop] of Object.entries(props)) {
    const s = resolve(prop, root);
    if (TYPED.includes(name)) sections.push(typedSection(name, prop));
    else if (name === "dataset") sections.push(datasetSection(prop));
    else if (s.type === "object" && s.properties) {
      sections.push(`<fieldset data-section="${name}"><legend>${title(name)}</legend>
        <div class="fields">${objectFieldsHtml(name, s, root)}</div>${errorHolder(name)}</fieldset>`);
    } else if (s.type === "array" && resolve(s.items || {}, root).properties) lists.push(listSection(name, prop));
    else general.push(fieldHtml(name, fieldLabel(name), prop, root));
  }
  fieldsBox.innerHTML = `<fieldset data-section="general"><legend>${esc(title("general"))}</legend>
    <div class="fields">${general.join("")}</div></fieldset>${sections.join("")}${lists.join("")}`;
  for (const name of TYPED) if (props[name]) renderTypedOptions(name);
  for (const el of form.querySelectorAll("[data-list]")) addListRow(el.dataset.list);
  if (props.dataset) showDatasetWhere();
  applyRules(form, readInput);
  updateSpecView();
}

// --- presets --------------------------------------------------------------------------------------------
function setInput(el, value) {
  if (setSearch(el, value)) return; // a searched recipe value: {choices: […]}, {log_uniform: [lo, hi]}, …
  if (el.dataset.kind === "boolean") el.checked = Boolean(value);
  else if (Array.isArray(value) && el.dataset.kind === "array") el.value = value.join(", ");
  else if (el.dataset.kind === "json") el.value = JSON.stringify(value);
  else el.value = value === null || value === undefined ? "" : String(value);
}

/** Fill the form from a spec: the defaults first, then the spec's classes, rows and values. */
function fillForm(spec) {
  render();
  for (const name of TYPED) {
    const select = form.querySelector(`[data-path="${name}.type"]`);
    if (select && spec[name] && spec[name].type) {
      select.value = spec[name].type;
      renderTypedOptions(name);
    }
  }
  for (const box of form.querySelectorAll("[data-rows-for]")) {
    const name = box.dataset.rowsFor;
    if (!Array.isArray(spec[name])) continue;
    box.replaceChildren();
    for (const item of spec[name]) addListRow(name, item);
  }
  const unknown = [];
  const walk = (value, path) => {
    const el = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (el) setInput(el, value);
    else if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    } else unknown.push(path);
  };
  for (const [k, v] of Object.entries(spec)) if (!form.querySelector(`[data-rows-for="${k}"]`)) walk(v, k);
  if (spec.dataset) showDatasetWhere();
  applyRules(form, readInput);
  updateSpecView();
  $("form-error").textContent = unknown.length ? t("form.preset_unknown", { fields: unknown.join(", ") }) : "";
}

function presetOptions() {
  const select = $("preset");
  select.replaceChildren(
    new Option(t("form.preset_defaults"), ""),
    ...examples.map((e, i) => new Option(`${e.name} (${e.file})`, String(i))),
  );
  select.closest(".preset").classList.toggle("hidden", !examples.length);
}

function defaultOf(path) {
  // Defaults come from the schema the field was generated from; read back from the rendered input.
  const el = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
  return el ? el.dataset.default : undefined;
}

/** The spec the form describes: fields at their schema default are left out, as the CLI would. */
export function readSpec() {
  const spec = {};
  for (const el of form.querySelectorAll("[data-path]")) {
    const path = el.dataset.path;
    const value = readInput(el);
    if (value === undefined || el.dataset.inapplicable) continue;
    // Inside a list item (an objective) its first field (the metric) and the choice fields stay even at
    // their default, so each item still says what it is; other defaults and empty optionals are left
    // out as elsewhere.
    const row = el.closest("[data-row]");
    const keep = ALWAYS.has(path) || (row && (el.dataset.kind === "enum" || row.querySelector("[data-path]") === el));
    const def = defaultOf(path);
    if (!keep && def !== undefined && JSON.stringify(value) === def) continue;
    if (value === null) continue;
    setPath(spec, path, value);
  }
  return spec;
}

function updateSpecView() {
  const spec = readSpec();
  const fmt = form.ownerDocument.querySelector('input[name="spec-format"]:checked').value;
  $("spec-text").textContent = fmt === "json" ? JSON.stringify(spec, null, 2) : toYaml(spec);
}

function clearErrors() {
  $("form-error").textContent = "";
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll(".field.invalid")) el.classList.remove("invalid");
}

function addError(holder, msg) {
  holder.textContent = holder.textContent ? `${holder.textContent}; ${msg}` : msg;
  const field = holder.closest(".field");
  if (field) field.classList.add("invalid");
}

/**
 * The fields under `section` that a cross-field message names ("min_depth (9) must be <= max_depth (5)"
 * on `space`): each gets the message too, so every field to change is marked, not only the section.
 */
function namedFields(section, message) {
  const holders = [];
  const prefix = section ? `${section}.` : ""; // "": the top-level fields (seed, repeats, ...)
  const inside = form.querySelectorAll(section ? `[data-path^="${CSS.escape(prefix)}"]` : "[data-path]");
  for (const el of inside) {
    const name = el.dataset.path.slice(prefix.length);
    if (name.includes(".") || el.dataset.inapplicable) continue;
    if (new RegExp(`(^|[^\\w])${name}([^\\w]|$)`).test(message)) {
      holders.push(form.querySelector(`[data-error-for="${CSS.escape(el.dataset.path)}"]`));
    }
  }
  return holders.filter(Boolean);
}

/** Put every 422 message beside the deepest field its `loc` names (a cross-field one beside each field
 * it names); what names no input goes above the form. All of them at once: the API reports them so. */
function showErrors(detail) {
  const loose = [];
  const list = Array.isArray(detail) ? detail : [{ loc: [], msg: String(detail) }];
  for (const d of list) {
    // The API sends {field: "training.epochs", message, allowed}; plain FastAPI sends {loc, msg}.
    const path = d.field !== undefined ? String(d.field).split(".") : (d.loc || []).map(String);
    const loc = path.filter((p, i) => !(i === 0 && p === "body") && p !== "");
    // The message in the page's language where it follows a known pattern; allowed values as sent.
    const values = Array.isArray(d.allowed) ? d.allowed.join(", ") : "";
    const allowed = values ? ` ${t("form.allowed", { values })}` : "";
    const raw = String(d.message ?? d.msg ?? JSON.stringify(d));
    const msg = `${serverText(raw)}${allowed}`;
    let holder = null;
    for (let n = loc.length; n > 0 && !holder; n--) {
      holder = form.querySelector(`[data-error-for="${CSS.escape(loc.slice(0, n).join("."))}"]`);
    }
    if (!holder) {
      const where = loc.length ? `${title(loc[loc.length - 1])} (${loc.join(".")})` : t("form.spec");
      loose.push(`${where}: ${msg}`);
      continue;
    }
    const at = holder.dataset.errorFor;
    if (holder.closest(".field")) {
      // A field's own error may be about a sibling too ("repeats": "seeds 4294967290..4294967309 pass
      // the largest seed"): each sibling it names is marked as well, since changing either fixes it.
      addError(holder, msg);
      const section = at.split(".").slice(0, -1).join(".");
      for (const h of namedFields(section, raw)) if (h !== holder) addError(h, msg);
      continue;
    }
    const named = namedFields(at, raw);
    if (named.length) for (const h of named) addError(h, msg);
    else addError(holder, msg);
  }
  $("form-error").textContent = loose.length ? loose.join("\n") : t("form.errors_marked");
  const first = form.querySelector(".field.invalid, .field-error:not(:empty)");
  if (first) first.scrollIntoView({ block: "center" });
}

form.addEventListener("change", (ev) => {
  if (ev.target.closest && ev.target.closest("#spec-paste")) return; // the paste box is not a spec field
  const path = ev.target.dataset && ev.target.dataset.path; // none on a recipe field's search inputs
  if (path === "space.type") renderTypedOptions("space");
  if (path === "strategy.type") renderTypedOptions("strategy");
  if (path === "dataset.name") showDatasetWhere();
  applyRules(form, readInput);
  updateSpecView();
});
form.addEventListener("input", (ev) => {
  if (ev.target.dataset && ev.target.dataset.path) updateSpecView();
});
form.addEventListener("click", (ev) => {
  const add = ev.target.closest("button[data-add]");
  if (add) {
    addListRow(add.dataset.add);
    updateSpecView();
  }
  const rm = ev.target.closest("button[data-remove]");
  if (rm) {
    rm.closest(".objective-row").remove();
    renumberRows(rm.dataset.remove);
    updateSpecView();
  }
});
for (const r of document.querySelectorAll('input[name="spec-format"]')) r.addEventListener("change", updateSpecView);
$("copy-spec").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("spec-text").textContent);
    $("copy-spec").textContent = t("form.copied");
  } catch {
    // Clipboard access needs a secure context; selecting the text lets the user copy by hand.
    getSelection().selectAllChildren($("spec-text"));
  }
});
$("reset-form").addEventListener("click", () => {
  clearErrors();
  $("preset").value = "";
  $("preset-note").textContent = "";
  render();
});
$("preset").addEventListener("change", () => {
  clearErrors();
  const example = examples[Number($("preset").value)];
  $("preset-note").textContent = example ? example.description : "";
  if (example) fillForm(example.spec);
  else render();
});

/** A spec from elsewhere (pasted, uploaded, or a search to clone) in the form, to edit before starting. */
function useSpec(spec, note) {
  clearErrors();
  $("preset").value = "";
  fillForm(spec);
  $("preset-note").textContent = note;
}

mountSpecUpload(
  { text: $("spec-paste-text"), load: $("spec-paste-load"), file: $("spec-file"), error: $("spec-paste-error") },
  (spec) => useSpec(spec, t("upload.filled")),
);

/** `/new?from=ID`: the search page's Clone opens the form with that search's spec, renamed. */
async function cloneFrom(id) {
  const s = await api.getSearch(id);
  const name = t("form.clone_name", { name: s.name || t("search.unnamed", { id }), id });
  useSpec({ ...s.spec, name }, t("form.cloned_from", { id }));
}

/** `/new?scale=ID&factor=F`: the candidate page's "Scale this network", a follow-up spec built by the API. */
async function scaleFrom(id, factor) {
  const r = await api.scaleSpec(id, { factor });
  useSpec(r.spec, t("form.scaled_from", { id, factor: r.factor, metric: r.metric }));
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors();
  const button = $("submit-search");
  button.disabled = true;
  try {
    const created = await api.createSearch(readSpec());
    location.href = `/searches/${created.id}`;
  } catch (err) {
    button.disabled = false;
    if (err instanceof ApiError && (err.status === 422 || err.status === 400)) showErrors(err.detail);
    else $("form-error").textContent = t("form.submit_failed", { error: err.message });
  }
});

async function start() {
  const [schema, spaces, strategies, ds, ex] = await Promise.all([
    api.specSchema(),
    api.spaces(),
    api.strategies(),
    api.datasets(),
    api.specExamples().catch(() => []), // presets are a convenience: the form works without them
  ]);
  root = schema;
  catalog = { space: spaces, strategy: strategies };
  datasets = ds;
  examples = ex;
  render();
  presetOptions();
  const params = new URLSearchParams(location.search);
  const from = Number(params.get("from"));
  if (Number.isInteger(from) && from > 0) {
    await cloneFrom(from).catch((err) => {
      $("form-error").textContent = t("form.clone_failed", { id: from, error: err.message });
    });
  }
  const scale = Number(params.get("scale"));
  if (Number.isInteger(scale) && scale > 0) {
    await scaleFrom(scale, Number(params.get("factor")) || 2).catch((err) => {
      $("form-error").textContent = t("form.scale_failed", { id: scale, error: err.message });
    });
  }
  window.nasboard = { ready: true };
  document.body.dataset.ready = "1";
}

start().catch((err) => {
  $("form-error").textContent = t("form.load_failed", { error: err.message });
});
