// Formatting helpers shared by every page; numbers, times and units follow the page's language.

import { lang, t } from "./i18n.js";

// Intl formatters are costly to build: one of each, made once per page load.
const integer = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
const fixed = new Map();
const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const UNIT = { h: t("unit.h"), min: t("unit.min"), s: t("unit.s") };
const STATUS = new Map();

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An integer with the language's grouping (12,345). */
export function fmtInt(v) {
  return integer.format(v);
}

function fmtFixed(v, digits) {
  if (!fixed.has(digits)) {
    const options = { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false };
    fixed.set(digits, new Intl.NumberFormat(lang, options));
  }
  return fixed.get(digits).format(v);
}

export function fmtNumber(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  if (Number.isInteger(v)) return integer.format(v);
  return fmtFixed(v, digits);
}

export function fmtCount(v) {
  if (v === null || v === undefined) return "–";
  if (v >= 1e9) return `${fmtFixed(v / 1e9, 2)} G`;
  if (v >= 1e6) return `${fmtFixed(v / 1e6, 2)} M`;
  if (v >= 1e3) return `${fmtFixed(v / 1e3, 1)} K`;
  return String(Math.round(v));
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) return `${h} ${UNIT.h} ${String(m).padStart(2, "0")} ${UNIT.min}`;
  if (m) return `${m} ${UNIT.min} ${String(r).padStart(2, "0")} ${UNIT.s}`;
  return `${r} ${UNIT.s}`;
}

/** Timestamps from the API are ISO strings; a naive one is UTC (how the service stores them). */
export function parseTime(iso) {
  if (!iso) return null;
  const hasZone = /[zZ]|[+-]\d\d:?\d\d$/.test(iso);
  const t = Date.parse(hasZone ? iso : `${iso}Z`);
  return Number.isNaN(t) ? null : t;
}

/** Time of day of an epoch-ms timestamp, in the language's form. */
export function fmtClock(ms) {
  return clock.format(new Date(ms));
}

export function fmtAge(iso) {
  const time = parseTime(iso);
  if (time === null) return "–";
  return t("time.ago", { duration: fmtDuration((Date.now() - time) / 1000) });
}

/** A status word in the page's language; an unknown status (a newer server) shows as sent. */
export function statusLabel(status) {
  if (!STATUS.has(status)) STATUS.set(status, t(`status.${status}`));
  return STATUS.get(status);
}

export function statusBadge(status) {
  return `<span class="badge status-${esc(status)}">${esc(statusLabel(status))}</span>`;
}

/** A metric's name: translated where the catalogue knows it, else its key with spaces. */
export function metricLabel(metric) {
  const key = `metric.${metric}`;
  const text = t(key);
  return text === key ? String(metric).replace(/_/g, " ") : text;
}
