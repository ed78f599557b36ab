// Stored tabular-benchmark runs (GET /api/benchmarks): the list grouped by table and objectives, and the
// ticked runs of one group on one chart: per run the mean across repeats and a band (the server's band,
// from the engine: mean ± sample std, or min to max), against queries. One objective: the report value
// of the pick so far; several: the hypervolume ratio of the front so far. /benchmarks?ids=3,4 ticks runs.

import { api } from "../api.js";
import { esc, fmtAge, fmtInt, fmtNumber, metricLabel } from "../format.js";
import { t } from "../i18n.js";
import { axisStyle, baseLayout, palette, plotConfig, plotlyReady } from "../theme.js";
import { bandTraces } from "../group-chart.js";

const $ = (id) => document.getElementById(id);
const probe = { ready: false };
window.nasboard = probe;

let runs = []; // the list's items
const details = new Map(); // id → GET /api/benchmarks/{id}
let ticked = [];

/** Runs compare when they searched the same table (name and rows) for the same objectives and report. */
const groupKey = (r) =>
  JSON.stringify([r.table.file, r.table.rows, r.report_column, r.objectives.map((o) => [o.column, o.goal])]);

const objectivesText = (objectives) =>
  objectives.map((o) => `${metricLabel(o.column)} (${t(o.goal === "minimize" ? "goal.min" : "goal.max")})`).join(", ");

const meanStd = (s) => (s ? `${fmtNumber(s.mean)} ± ${fmtNumber(s.std)}` : "–");

function parseIds(text) {
  return [...new Set(String(text || "").split(/[\s,]+/).filter(Boolean).map(Number))].filter(Number.isInteger);
}

function groupsHtml() {
  const groups = new Map();
  for (const r of runs) {
    if (!groups.has(groupKey(r))) groups.set(groupKey(r), []);
    groups.get(groupKey(r)).push(r);
  }
  const head = ["", t("bench.col.run"), t("bench.col.strategy"), t("bench.col.budget"), t("bench.col.repeats"), t("bench.col.final"), t("bench.col.stored")];
  return [...groups.values()]
    .map((rs) => {
      const r0 = rs[0];
      const title = t("bench.group_title", { file: r0.table.file, rows: fmtInt(r0.table.rows), objectives: objectivesText(r0.objectives) });
      const rows = rs.map((r) => {
        const cells = [
          `<input type="checkbox" data-run="${r.id}" aria-label="${esc(t("bench.tick", { id: r.id }))}"${ticked.includes(r.id) ? " checked" : ""}>`,
          `#${r.id} <span class="mono">${esc(r.name)}</span>`,
          esc(r.strategy),
          fmtInt(r.budget),
          fmtInt(r.repeats),
          meanStd(r.final),
          esc(fmtAge(r.created_at)),
        ];
        return `<tr data-run="${r.id}">${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
      });
      return `<h3>${esc(title)}</h3><div class="table-wrap"><table class="data bench-runs">
        <thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
    })
    .join("");
}

/** Legend names: the strategy, with the run's id where two ticked runs share one. */
function legendNames(shown) {
  const count = new Map();
  for (const d of shown) count.set(d.strategy, (count.get(d.strategy) || 0) + 1);
  return shown.map((d) => (count.get(d.strategy) > 1 ? `${d.strategy} #${d.id}` : d.strategy));
}

function summaryHtml(shown, names) {
  const half = shown.length ? shown[0].half_query : 0;
  const head = [t("bench.col.strategy"), t("bench.col.run"), t("bench.col.repeats"), t("bench.col.final"), t("bench.col.half", { q: fmtInt(half) }), t("bench.col.machine")];
  const rows = shown.map((d, i) => {
    const m = d.document.machine || {};
    const machine = [m.cpu, m.cores ? t("bench.cores", { n: fmtInt(m.cores) }) : ""].filter(Boolean).join(", ");
    const cells = [
      esc(names[i]),
      `#${d.id} <span class="mono">${esc(d.name)}</span>`,
      fmtInt(d.repeats),
      meanStd(d.final),
      d.half_query === half ? meanStd(d.half) : "–",
      `<span class="mono">${esc(machine || "–")}</span>`,
    ];
    return `<tr data-run="${d.id}">${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
  });
  return `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody>`;
}

async function draw() {
  const missing = ticked.filter((id) => !details.has(id));
  const loaded = await Promise.all(missing.map((id) => api.benchmark(id)));
  for (const d of loaded) details.set(d.id, d);
  const shown = ticked.map((id) => details.get(id));
  const el = $("bench-chart");
  if (!shown.length) {
    $("bench-note").textContent = t(runs.length ? "bench.none_ticked" : "bench.empty");
    $("bench-summary").innerHTML = "";
    el.dataset.traces = "0";
    window.Plotly.purge(el);
    return;
  }
  const names = legendNames(shown);
  const spread = $("bench-spread").value;
  const band = t(spread === "minmax" ? "group.band_minmax" : "group.band_std");
  const p = palette();
  const traces = shown.flatMap((d, i) =>
    bandTraces(d.band, p.series[i % p.series.length], spread, {
      legendgroup: `r${d.id}`,
      name: names[i],
      lowerName: `${names[i]} · ${t("group.band_lower")}`,
      bandName: `${names[i]} · ${band}`,
      hovertemplate: `${esc(names[i])}<br>${t("bench.mean_hover")}`,
    }),
  );
  const hv = shown[0].curve === "hypervolume_ratio";
  const yTitle = hv ? t("bench.y_hv") : t("bench.y_report", { column: metricLabel(shown[0].report_column) });
  const layout = baseLayout({
    xaxis: axisStyle({ title: { text: t("bench.x_queries") }, tickformat: "d", rangemode: "tozero" }),
    yaxis: axisStyle({ title: { text: yTitle } }),
    legend: { orientation: "h", y: -0.2 },
    margin: { l: 64, r: 16, t: 16, b: 72 },
    uirevision: "keep",
  });
  $("bench-note").textContent = t(hv ? "bench.note_hv" : "bench.note_report", { band });
  $("bench-summary").innerHTML = summaryHtml(shown, names);
  el.dataset.traces = String(traces.length);
  el.dataset.runs = String(shown.length);
  await window.Plotly.react(el, traces, layout, plotConfig);
}

function setTicked(ids) {
  ticked = ids;
  const url = new URL(location.href);
  if (ids.length) url.searchParams.set("ids", ids.join(","));
  else url.searchParams.delete("ids");
  history.replaceState(null, "", url);
  for (const box of document.querySelectorAll("input[data-run]")) box.checked = ids.includes(Number(box.dataset.run));
}

function onTick(ev) {
  const box = ev.target.closest("input[data-run]");
  if (!box) return;
  const id = Number(box.dataset.run);
  const run = runs.find((r) => r.id === id);
  // Runs of another table or other objectives do not share the axes: ticking one starts a new selection.
  let ids = ticked.filter((x) => {
    const other = runs.find((r) => r.id === x);
    return other && groupKey(other) === groupKey(run);
  });
  ids = box.checked ? [...ids.filter((x) => x !== id), id] : ids.filter((x) => x !== id);
  setTicked(ids);
  draw().catch(showError);
}

function showError(err) {
  $("page-error").textContent = t("bench.load_failed", { error: err.message });
}

async function start() {
  runs = (await api.benchmarks({ limit: 500 })).items;
  const asked = parseIds(new URLSearchParams(location.search).get("ids")).filter((id) => runs.some((r) => r.id === id));
  // Nothing asked for: the newest run's group, every run of it.
  const newest = runs[0];
  const first = asked.length ? runs.find((r) => r.id === asked[0]) : newest;
  const sameGroup = (id) => groupKey(runs.find((r) => r.id === id)) === groupKey(first);
  const candidates = asked.length ? asked : runs.map((r) => r.id).sort((a, b) => a - b);
  ticked = first ? candidates.filter(sameGroup) : []; // in the order asked, else oldest first
  $("bench-groups").innerHTML = runs.length ? groupsHtml() : `<p class="muted">${esc(t("bench.empty"))}</p>`;
  $("bench-groups").addEventListener("change", onTick);
  $("bench-spread").addEventListener("change", () => draw().catch(showError));
  await plotlyReady();
  await draw();
  probe.ready = true;
  document.body.dataset.ready = "1";
}

start().catch(showError);
