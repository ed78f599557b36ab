// A group's repeats on one chart (GET /api/groups/{id}, or /api/groups/compare for several groups): a
// thin step line per seed, the mean across seeds as a thick line and a shaded band around it. The band's
// numbers (n, mean, std, min, max per evaluation) are the server's; the page only picks which to shade:
// mean ± std, or min to max.

import { baseLayout, evaluationTicks, palette, plotConfig, axisStyle } from "./theme.js";
import { t } from "./i18n.js";

const plotly = () => window.Plotly;

/** "#rrggbb" or "rgb(r, g, b)" with an alpha, for the band's fill. */
function withAlpha(color, alpha) {
  const hex = /^#([0-9a-f]{6})$/i.exec(color);
  if (hex) {
    const n = parseInt(hex[1], 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  return color.replace(/^rgb\((.*)\)$/, `rgba($1, ${alpha})`);
}

/** The band's lower and upper edge at each of its points: mean ± std, or min and max. */
function bandEdges(band, spread) {
  if (spread === "minmax") return [band.map((b) => b.min), band.map((b) => b.max)];
  return [band.map((b) => b.mean - b.std), band.map((b) => b.mean + b.std)];
}

/**
 * A band and its mean as three traces (lower edge, upper edge filled to it, mean line), shared by the
 * group page and the benchmarks page. `opts`: name (the mean's legend entry), bandName, lowerName,
 * legendgroup, hovertemplate (customdata is [n, std, min, max]).
 */
export function bandTraces(band, color, spread, opts) {
  const x = band.map((b) => b.evaluation);
  const [lower, upper] = bandEdges(band, spread);
  const edge = { type: "scatter", mode: "lines", x, legendgroup: opts.legendgroup, line: { shape: "hv", width: 0 } };
  return [
    { ...edge, name: opts.lowerName, y: lower, showlegend: false, hoverinfo: "skip" },
    { ...edge, name: opts.bandName, y: upper, fill: "tonexty", fillcolor: withAlpha(color, 0.18), hoverinfo: "skip" },
    {
      type: "scatter",
      mode: "lines",
      name: opts.name,
      legendgroup: opts.legendgroup,
      x,
      y: band.map((b) => b.mean),
      customdata: band.map((b) => [b.n, b.std, b.min, b.max]),
      line: { shape: "hv", color, width: 3 },
      hovertemplate: opts.hovertemplate,
    },
  ];
}

/** The traces of one group: its members, then the band (lower edge, upper edge filled to it), then the mean. */
function groupTraces(group, color, spread, prefix) {
  const traces = group.members.map((m) => ({
    type: "scatter",
    mode: "lines",
    name: `${prefix}${t("group.seed", { seed: m.seed })}`,
    legendgroup: `g${group.id}`,
    showlegend: false,
    x: m.points.map((q) => q.evaluation),
    y: m.points.map((q) => q.value),
    customdata: m.points.map(() => m.search_id),
    line: { shape: "hv", color, width: 1.2 },
    opacity: 0.6,
    hovertemplate: t("group.member_hover", { seed: m.seed }),
  }));
  traces.push(
    ...bandTraces(group.band, color, spread, {
      legendgroup: `g${group.id}`,
      lowerName: `${prefix}${t("group.band_lower")}`,
      bandName: `${prefix}${t(spread === "minmax" ? "group.band_minmax" : "group.band_std")}`,
      name: `${prefix}${t("group.mean")}`,
      hovertemplate: t("group.mean_hover"),
    }),
  );
  return traces;
}

/** Draw one or more groups (already comparable: the API refuses groups whose objectives differ). */
export function drawGroups(el, groups, spread) {
  const p = palette();
  const several = groups.length > 1;
  const traces = groups.flatMap((g, i) =>
    groupTraces(g, p.series[i % p.series.length], spread, several ? `${g.name || t("group.unnamed", { id: g.id })} · ` : ""),
  );
  const kind = groups[0].curve === "hypervolume" ? t("hv.name") : t("chart.best_so_far");
  const layout = baseLayout({
    xaxis: axisStyle({
      title: { text: t("chart.evaluation") },
      tickformat: "d",
      rangemode: "tozero",
      ...evaluationTicks(traces.reduce((m, tr) => (tr.x || []).reduce((a, v) => (v > a ? v : a), m), 0)),
    }),
    yaxis: axisStyle({ title: { text: kind } }),
    legend: { orientation: "h", y: -0.2 },
    margin: { l: 64, r: 16, t: 16, b: 72 },
    uirevision: "keep",
  });
  el.dataset.members = String(groups.reduce((n, g) => n + g.members.length, 0));
  el.dataset.bands = String(groups.filter((g) => g.band.length).length);
  el.dataset.traces = String(traces.length);
  return plotly().react(el, traces, layout, plotConfig);
}
