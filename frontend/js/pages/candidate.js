// Candidate view: architecture diagram, per-epoch curves, every metric, the genome and the downloads.

import { api, idFromLocation } from "../api.js";
import { esc, fmtNumber, statusBadge } from "../format.js";
import { drawArchitecture } from "../diagram.js";
import { drawCurves } from "../charts.js";
import { metricsList } from "../candidate-view.js";
import { plotlyReady } from "../theme.js";

const $ = (id) => document.getElementById(id);
const candidateId = idFromLocation();
const FORMATS = [
  ["onnx", "ONNX"],
  ["torchscript", "TorchScript"],
  ["state_dict", "Weights (state_dict)"],
  ["card", "Model card"],
];
const probe = { ready: false };
window.nasboard = probe;

function downloads(c) {
  // Only formats the API lists as stored are offered; the others say why they are greyed out.
  const available = new Set((c.artefacts || []).map((a) => a.format ?? a));
  const links = FORMATS.map(([fmt, label]) => {
    const ok = available.has(fmt);
    const tip = ok ? `download ${label}` : "not exported: only the search's final models are exported";
    const cls = ok ? "button" : "button disabled";
    return `<a class="${cls}" data-format="${fmt}" href="${api.modelUrl(c.id, fmt)}" title="${tip}" download>${label}</a>`;
  });
  if (!available.size) links.push('<span class="muted">No exported model files for this candidate.</span>');
  return links.join("");
}

/** Multi-fidelity: the fitness at each rung the candidate trained to, each step after the first a promotion. */
function rungsLine(rungs) {
  if (!rungs.length || (rungs.length === 1 && rungs[0].rung === 0)) return "";
  const steps = rungs.map((r) => `rung ${r.rung}: <b>${fmtNumber(r.fitness)}</b>`).join(" → ");
  const promoted = rungs.length - 1;
  return `${steps} <span class="muted">(${promoted ? `promoted ${promoted}×` : "not promoted"})</span>`;
}

// The recorded reason, in full and as written (a traceback keeps its lines), headed by what it explains.
const ERROR_TITLES = {
  failed: "Why it failed",
  infeasible: "Why it is infeasible",
  cancelled: "Why it was cancelled",
};

function showError(c) {
  $("cand-error-panel").classList.toggle("hidden", !c.error);
  $("cand-error-title").textContent = ERROR_TITLES[c.status] || "Note";
  $("cand-error").textContent = c.error || "";
}

const LIVE = new Set(["queued", "training"]);
const REFRESH_MS = 2000;

/** Everything but the diagram, which a candidate's genome fixes: redrawn while it trains. */
function renderDetails(c) {
  $("cand-status").innerHTML = statusBadge(c.status);
  $("cand-sub").innerHTML =
    `<a href="/searches/${c.search_id}">search ${c.search_id}</a> · <span class="mono">${esc(c.label || "")}</span>` +
    (typeof c.fitness === "number" ? ` · fitness <b>${fmtNumber(c.fitness)}</b>` : "") +
    (c.epochs ? ` · ${c.epochs} epochs` : "");
  $("cand-rungs").innerHTML = rungsLine(c.rungs || []);
  showError(c);
  $("downloads").innerHTML = downloads(c);
  $("metrics").innerHTML = metricsList(c);
  const curve = c.curve || [];
  if (curve.length) return drawCurves($("curve-chart"), [{ id: c.id, curve }]);
  $("curve-chart").textContent = c.status === "training" ? "Training: no epoch finished yet." : "No epochs recorded.";
  return Promise.resolve();
}

/** While the candidate is queued or training, its curve grows epoch by epoch. */
function followTraining(c) {
  if (!LIVE.has(c.status)) return;
  setTimeout(async () => {
    try {
      const fresh = await api.getCandidate(candidateId);
      if (!c.curve.length && fresh.curve.length) $("curve-chart").replaceChildren();
      await renderDetails(fresh);
      followTraining(fresh);
    } catch (err) {
      console.warn("candidate refresh failed; retrying", err);
      followTraining(c);
    }
  }, REFRESH_MS);
}

async function start() {
  if (!candidateId) throw new Error("no candidate id in the address (expected /candidates/<id>)");
  const c = await api.getCandidate(candidateId);
  document.title = `candidate #${c.id} · NASBoard`;
  $("cand-title").textContent = `Candidate #${c.id}`;
  $("genome").textContent = JSON.stringify(c.genome, null, 2);
  await plotlyReady();
  await Promise.all([drawArchitecture($("arch-diagram"), c.graph), renderDetails(c)]);
  probe.ready = true;
  document.body.dataset.ready = "1";
  followTraining(c);
}

start().catch((err) => {
  $("page-error").textContent = `Could not load candidate ${candidateId}: ${err.message}`;
});
