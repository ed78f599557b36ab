// Plotly colours follow the page's CSS variables, so charts read well in light and dark mode; the
// charts' own words (month names, modebar tips) follow the page's language.

import { lang, t } from "./i18n.js";
import "./webgl-attrs.js";

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function palette() {
  return {
    fg: cssVar("--fg", "#1d2330"),
    muted: cssVar("--muted", "#6b7280"),
    grid: cssVar("--grid", "#e5e7eb"),
    bg: cssVar("--panel", "#ffffff"),
    accent: cssVar("--accent", "#2563eb"),
    good: cssVar("--good", "#059669"),
    bad: cssVar("--bad", "#dc2626"),
    warn: cssVar("--warn", "#d97706"),
    series: [
      cssVar("--accent", "#2563eb"),
      "#e8590c",
      "#2f9e44",
      "#ae3ec9",
      "#1098ad",
      "#f08c00",
      "#c2255c",
      "#5c940d",
    ],
  };
}

export function baseLayout(extra = {}) {
  const p = palette();
  const axis = { gridcolor: p.grid, zerolinecolor: p.grid, linecolor: p.grid, automargin: true };
  return {
    paper_bgcolor: p.bg,
    plot_bgcolor: p.bg,
    font: { color: p.fg, family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12 },
    margin: { l: 56, r: 16, t: 28, b: 44 },
    hovermode: "closest",
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, // above the plot; grows upward when it wraps
    xaxis: { ...axis },
    yaxis: { ...axis },
    ...extra,
    ...(extra.xaxis ? { xaxis: { ...axis, ...extra.xaxis } } : {}),
    ...(extra.yaxis ? { yaxis: { ...axis, ...extra.yaxis } } : {}),
  };
}

export const plotConfig = {
  responsive: true,
  displaylogo: false,
  modeBarButtonsToRemove: ["lasso2d", "select2d"],
  locale: lang,
  // WebGL traces render at the screen's own pixel ratio, not plotly's default of 2: where the browser
  // composites in software (no GPU) every frame of a WebGL canvas is read back pixel by pixel, and a 2x
  // canvas on a 1x screen made that readback the slowest step of drawing a 10,000-candidate page.
  plotGlPixelRatio: Math.max(1, Math.min(2, Math.ceil(window.devicePixelRatio || 1))),
};

/** Open the candidate behind a clicked point: `onSelect(id)` with the point's customdata. Bound once. */
export function bindPointClick(el, onSelect) {
  el.on("plotly_click", (ev) => {
    const pt = ev.points && ev.points[0];
    if (pt && pt.customdata !== undefined && onSelect) onSelect(Number(pt.customdata));
  });
}

/** Plotly's date axes and modebar in 简体中文; English is built in. */
function registerLocale(Plotly) {
  if (lang === "en" || !Plotly.register) return;
  const list = (key) => t(key).split(",");
  Plotly.register({
    moduleType: "locale",
    name: lang,
    dictionary: {
      "Zoom in": t("plotly.zoom_in"),
      "Zoom out": t("plotly.zoom_out"),
      Zoom: t("plotly.zoom"),
      Pan: t("plotly.pan"),
      "Reset axes": t("plotly.reset_axes"),
      Autoscale: t("plotly.autoscale"),
      "Download plot as a png": t("plotly.download_png"),
      "Double-click to zoom back out": t("plotly.double_click"),
    },
    format: {
      days: list("plotly.days"),
      shortDays: list("plotly.short_days"),
      months: list("plotly.months"),
      shortMonths: list("plotly.short_months"),
      date: "%Y-%m-%d",
    },
  });
}

export function axisStyle(extra = {}) {
  const p = palette();
  return { gridcolor: p.grid, zerolinecolor: p.grid, linecolor: p.grid, automargin: true, ...extra };
}

// Up to this many evaluations Plotly's automatic ticks fall on halves ("evaluation 1.5"): one tick per
// evaluation instead. Beyond it the automatic step is a whole number, and it keeps the axis readable.
export const SMALL_AXIS = 10;

/** Tick settings of an "evaluation #" axis whose largest value is `n`: whole numbers only. */
export const evaluationTicks = (n) =>
  n <= SMALL_AXIS ? { tickmode: "linear", tick0: 0, dtick: 1 } : { tickmode: "auto", tick0: null, dtick: null };

export const PLOTLY_SRC = "/static/vendor/plotly.min.js";
let plotlyPromise = null;

/**
 * Resolves once plotly.js has run. Pages either include it as `<script id="plotly-js" defer>` or, like
 * the search page, preload it and call this when their data requests are already on the wire: the
 * bundle (1.5 MB) holds the main thread while it evaluates, and nothing else can start meanwhile.
 */
export function plotlyReady() {
  if (plotlyPromise) return plotlyPromise;
  if (window.Plotly) {
    registerLocale(window.Plotly);
    plotlyPromise = Promise.resolve(window.Plotly);
    return plotlyPromise;
  }
  plotlyPromise = new Promise((resolve, reject) => {
    let tag = document.getElementById("plotly-js");
    if (!tag) {
      tag = document.createElement("script");
      tag.id = "plotly-js";
      tag.src = PLOTLY_SRC;
      document.head.appendChild(tag);
    }
    tag.addEventListener("load", () => {
      registerLocale(window.Plotly);
      resolve(window.Plotly);
    });
    tag.addEventListener("error", () => reject(new Error(`could not load ${PLOTLY_SRC}`)));
  });
  return plotlyPromise;
}
