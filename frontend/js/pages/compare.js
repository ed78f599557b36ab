// Compare two or more candidates: curves overlaid, metrics side by side, one diagram per candidate.

import { api } from "../api.js";
import { esc, metricLabel, statusBadge } from "../format.js";
import { t } from "../i18n.js";
import { drawArchitecture } from "../diagram.js";
import { drawCurves } from "../charts.js";
import { fmtMetric } from "../candidate-view.js";
import { plotlyReady } from "../theme.js";

const $ = (id) => document.getElementById(id);
const probe = { ready: false };
window.nasboard = probe;

function parseIds(text) {
  return [...new Set(String(text || "").split(/[\s,]+/).filter(Boolean).map(Number))].filter(Number.isInteger);
}

function metricsTable(cands) {
  const names = new Set();
  for (const c of cands) for (const k of Object.keys(c.metrics || {})) names.add(k);
  const rows = [["status"], ["fitness"], ...[...names].sort().map((n) => [n])];
  const head = `<tr><th></th>${cands.map((c) => `<th><a href="/candidates/${c.id}">#${c.id}</a></th>`).join("")}</tr>`;
  const body = rows
    .map(([name]) => {
      const cells = cands.map((c) => {
        if (name === "status") return statusBadge(c.status);
        if (name === "fitness") return fmtMetric(name, c.fitness);
        return fmtMetric(name, c.metrics ? c.metrics[name] : undefined);
      });
      const label = name === "status" ? t("common.status") : name === "fitness" ? t("table.fitness") : metricLabel(name);
      return `<tr><th>${esc(label)}</th>${cells.map((x) => `<td>${x}</td>`).join("")}</tr>`;
    })
    .join("");
  return `<thead>${head}</thead><tbody>${body}</tbody>`;
}

async function start() {
  const ids = parseIds(new URLSearchParams(location.search).get("ids"));
  $("compare-ids").value = ids.join(", ");
  if (ids.length < 2) {
    $("page-error").textContent = t("compare.need_ids");
    return;
  }
  const cands = await Promise.all(ids.map((id) => api.getCandidate(id)));
  await plotlyReady();
  $("compare-metrics").innerHTML = metricsTable(cands);
  const box = $("compare-diagrams");
  box.innerHTML = cands
    .map(
      (c) => `<section class="panel"><h2><a href="/candidates/${c.id}">#${c.id}</a>
        <span class="mono muted">${esc(c.label || "")}</span></h2><div id="arch-diagram-${c.id}"></div></section>`,
    )
    .join("");
  const drawn = cands.map((c) => drawArchitecture($(`arch-diagram-${c.id}`), c.graph));
  drawn.push(drawCurves($("curve-chart"), cands.map((c) => ({ id: c.id, curve: c.curve || [] }))));
  await Promise.all(drawn);
  probe.ready = true;
  document.body.dataset.ready = "1";
}

$("compare-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  location.href = `/compare?ids=${parseIds($("compare-ids").value).join(",")}`;
});

start().catch((err) => {
  $("page-error").textContent = t("compare.load_failed", { error: err.message });
});
