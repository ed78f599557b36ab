// A small YAML writer for showing a spec (plain JSON data) in the form the CLI reads.

const PLAIN = /^[A-Za-z_][A-Za-z0-9_.\- /]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~)$/i;

function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const s = String(v);
  if (PLAIN.test(s) && !RESERVED.test(s) && !/\s$/.test(s) && Number.isNaN(Number(s))) return s;
  return JSON.stringify(s);
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function emit(value, indent) {
  const pad = "  ".repeat(indent);
  if (Array.isArray(value)) {
    if (!value.length) return " []";
    return value
      .map((item) => {
        if (isObject(item) && Object.keys(item).length) {
          const body = emit(item, indent + 1).replace(/^\n\s*/, "");
          return `\n${pad}- ${body}`;
        }
        return `\n${pad}- ${scalar(item)}`;
      })
      .join("");
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (!keys.length) return " {}";
    return keys
      .map((k) => {
        const v = value[k];
        const nested = Array.isArray(v) || isObject(v);
        return `\n${pad}${scalar(k)}:${nested ? emit(v, indent + 1) : ` ${scalar(v)}`}`;
      })
      .join("");
  }
  return ` ${scalar(value)}`;
}

export function toYaml(value) {
  return `${emit(value, 0).replace(/^\n/, "")}\n`;
}
