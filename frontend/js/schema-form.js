// Form fields generated from JSON schema (pydantic's), so the form offers exactly what the API validates.
// Every input carries `data-path` (e.g. "training.epochs", "objectives.0.metric"); reading the form walks
// those paths back into a spec object, and a 422's `loc` finds its input the same way.

import { esc } from "./format.js";
import { has, t } from "./i18n.js";
import { readSearch, recipeControlsHtml } from "./recipe-field.js";

/** A field's label: the catalogue's human name for it ("Learning rate"), else its name made readable. */
export function fieldLabel(name) {
  const key = `field.${name}`;
  return has(key) ? t(key) : String(name).replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/** The catalogue key of a field's help: its path with list indices dropped ("objectives.0.goal" → …goal). */
export function helpKey(path) {
  return `help.${path.replace(/\.\d+(?=\.|$)/g, "")}`;
}

/** An enum value as shown in a select: translated where the catalogue knows the word, else as is. */
function choiceLabel(value) {
  const key = `choice.${value}`;
  return has(key) ? t(key) : String(value);
}

/** Follow `$ref` into `$defs` and unwrap `anyOf: [X, null]` into X with `nullable`. */
export function resolve(schema, root) {
  let s = schema || {};
  if (s.$ref) {
    const name = s.$ref.split("/").pop();
    s = { ...((root.$defs || root.definitions || {})[name] || {}), ...omit(s, "$ref") };
  }
  const variants = s.anyOf || s.oneOf;
  if (variants) {
    // A searchable recipe field (value | domain): the input edits the value, recipe-field.js the domain.
    const nonNull = variants.filter((v) => v.type !== "null" && !(s["x-searchable"] && v.$ref));
    if (nonNull.length === 1) {
      const inner = resolve(nonNull[0], root);
      return { ...inner, ...omit(s, "anyOf", "oneOf"), nullable: variants.some((v) => v.type === "null") };
    }
  }
  if (s.allOf && s.allOf.length === 1) return { ...resolve(s.allOf[0], root), ...omit(s, "allOf") };
  return s;
}

function omit(obj, ...keys) {
  const out = { ...obj };
  for (const k of keys) delete out[k];
  return out;
}

export function fieldKind(s) {
  if (Array.isArray(s.enum)) return "enum";
  if (s.const !== undefined) return "const";
  if (s.type === "boolean") return "boolean";
  if (s.type === "integer" || s.type === "number") return s.type;
  if (s.type === "string") return "string";
  if (s.type === "array") return "array";
  if (s.type === "object" && s.properties) return "object";
  return "json";
}

function numberAttrs(s) {
  const attrs = [];
  if (s.minimum !== undefined) attrs.push(`min="${s.minimum}"`);
  if (s.maximum !== undefined) attrs.push(`max="${s.maximum}"`);
  attrs.push(`step="${s.type === "integer" ? 1 : "any"}"`);
  return attrs.join(" ");
}

/** Help text: the description (from the catalogue where it has one) plus the bounds, so the limits are
 * visible before submitting. */
function helpText(s, key) {
  const bits = [];
  if (has(key)) bits.push(t(key));
  else if (s.description) bits.push(s.description);
  const lo = s.minimum ?? s.exclusiveMinimum;
  const hi = s.maximum ?? s.exclusiveMaximum;
  if (lo !== undefined || hi !== undefined) {
    const l = lo === undefined ? "" : `${s.exclusiveMinimum !== undefined ? ">" : "≥"} ${lo}`;
    const h = hi === undefined ? "" : `${s.exclusiveMaximum !== undefined ? "<" : "≤"} ${hi}`;
    bits.push([l, h].filter(Boolean).join(", "));
  }
  if (s.nullable) bits.push(t("form.optional"));
  return bits.join(" · ");
}

/** One labelled input for a scalar (or list-of-scalars) property. */
export function fieldHtml(path, label, schema, root, value, fallbackDefault, help = helpKey(path)) {
  const s = resolve(schema, root);
  const kind = fieldKind(s);
  // pydantic leaves `default` out of the schema for default_factory fields; the API's `defaults` fill in.
  const def = s.default !== undefined ? s.default : fallbackDefault;
  const v = value !== undefined ? value : def;
  const id = `f-${path.replace(/\./g, "-")}`;
  const common = `id="${id}" name="${esc(path)}" data-path="${esc(path)}" data-kind="${kind}"${
    s.nullable ? ' data-nullable="1"' : ""
  }${def !== undefined ? ` data-default="${esc(JSON.stringify(def))}"` : ""}`;
  let input;
  if (kind === "enum") {
    const opts = (s.nullable ? [""] : []).concat(s.enum);
    input = `<select ${common}>${opts
      .map((o) => `<option value="${esc(o)}"${o === v ? " selected" : ""}>${esc(o === "" ? "—" : choiceLabel(o))}</option>`)
      .join("")}</select>`;
  } else if (kind === "boolean") {
    input = `<input type="checkbox" ${common}${v ? " checked" : ""}>`;
  } else if (kind === "integer" || kind === "number") {
    input = `<input type="number" ${common} ${numberAttrs(s)} value="${v === null || v === undefined ? "" : esc(v)}">`;
  } else if (kind === "array") {
    const item = resolve(s.items || {}, root);
    const text = Array.isArray(v) ? v.join(", ") : "";
    input = `<input type="text" ${common} data-item="${esc(item.type || "string")}" value="${esc(text)}" placeholder="${esc(t("form.comma_separated"))}${
      item.enum ? `: ${esc(item.enum.join(", "))}` : ""
    }">`;
  } else if (kind === "const") {
    input = `<input type="text" ${common} value="${esc(s.const)}" readonly>`;
  } else if (kind === "json") {
    input = `<input type="text" ${common} value="${v === undefined || v === null ? "" : esc(JSON.stringify(v))}" placeholder="JSON">`;
  } else {
    input = `<input type="text" ${common} value="${v === null || v === undefined ? "" : esc(v)}">`;
  }
  const helpLine = helpText(s, help);
  return `<div class="field" data-field="${esc(path)}"><label for="${id}">${esc(label)}</label>${input}${recipeControlsHtml(path, s)}${
    helpLine ? `<div class="help">${esc(helpLine)}</div>` : ""
  }<div class="field-error" data-error-for="${esc(path)}"></div></div>`;
}

/**
 * Fields for every scalar property of an object schema (nested objects are the caller's business).
 * `helpPrefix` names the help keys where the path does not (a space's options: "space.layers").
 */
export function objectFieldsHtml(prefix, schema, root, values = {}, skip = [], defaults = {}, helpPrefix = prefix) {
  const s = resolve(schema, root);
  return Object.entries(s.properties || {})
    .filter(([name]) => !skip.includes(name))
    .map(([name, prop]) => {
      const path = prefix ? `${prefix}.${name}` : name;
      return fieldHtml(path, fieldLabel(name), prop, root, values[name], defaults[name], helpKey(`${helpPrefix}.${name}`));
    })
    .join("");
}

/** Value of one input, or `undefined` when an optional field is left empty. Throws on malformed input. */
export function readInput(el) {
  const searched = readSearch(el);
  if (searched !== undefined) return searched;
  const kind = el.dataset.kind;
  if (kind === "boolean") return el.checked;
  const raw = el.value.trim();
  if (raw === "") return el.dataset.nullable ? null : undefined;
  if (kind === "integer" || kind === "number") {
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw; // let the API name the field and the expected type
  }
  if (kind === "array") {
    const parts = raw.split(",").map((p) => p.trim()).filter(Boolean);
    const item = el.dataset.item;
    if (item === "integer" || item === "number") return parts.map((p) => (Number.isFinite(Number(p)) ? Number(p) : p));
    if (item === "boolean") return parts.map((p) => (p === "true" ? true : p === "false" ? false : p));
    return parts;
  }
  if (kind === "json") {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

/** Set `value` at a dotted path, creating objects, or arrays where the next key is an index. */
export function setPath(obj, path, value) {
  const keys = path.split(".");
  let cur = obj;
  keys.forEach((k, i) => {
    const key = /^\d+$/.test(k) ? Number(k) : k;
    if (i === keys.length - 1) {
      cur[key] = value;
      return;
    }
    if (cur[key] === undefined) cur[key] = /^\d+$/.test(keys[i + 1]) ? [] : {};
    cur = cur[key];
  });
}
