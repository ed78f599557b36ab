// Candidate view: architecture diagram, per-epoch curves, every metric, the genome and the downloads.

import { api, idFromLocation } from "../api.js";
import { esc, fmtNumber, statusBadge } from "../format.js";
import { drawArchitecture } from "../diagram.js";
import { drawCurves } from "../charts.js";
import { metricsList } from "../candidate-view.js";

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
  // The API lists the formats it can serve; without a list we offer them all and let the server answer.
  const available = Array.isArray(c.artefacts) ? new Set(c.artefacts.map((a) => a.format ?? a)) : null;
  return FORMATS.map(([fmt, label]) => {
    const ok = c.status === "done" && (!available || available.has(fmt) || available.size === 0);
    const cls = ok ? "button" : "button disabled";
    return `<a class="${cls}" data-format="${fmt}" href="${api.modelUrl(c.id, fmt)}" download>${label}</a>`;
  }).join("");
}

async function start() {
  if (!candidateId) throw new Error("no candidate id in the address (expected /candidates/<id>)");
  const c = await api.getCandidate(candidateId);
  document.title = `candidate #${c.id} · NASBoard`;
  $("cand-title").textContent = `Candidate #${c.id}`;
  $("cand-status").innerHTML = statusBadge(c.status);
  $("cand-sub").innerHTML =
    `<a href="/searches/${c.search_id}">search ${c.search_id}</a> · <span class="mono">${esc(c.label || "")}</span>` +
    (typeof c.fitness === "number" ? ` · fitness <b>${fmtNumber(c.fitness)}</b>` : "");
  if (c.error) $("page-error").textContent = `Failed: ${c.error}`;
  $("downloads").innerHTML = downloads(c);
  $("metrics").innerHTML = metricsList(c);
  $("genome").textContent = JSON.stringify(c.genome, null, 2);
  const curve = c.curve || [];
  const drawn = [drawArchitecture($("arch-diagram"), c.graph)];
  if (curve.length) drawn.push(drawCurves($("curve-chart"), [{ id: c.id, curve }]));
  else $("curve-chart").textContent = "No epochs recorded yet.";
  await Promise.all(drawn);
  probe.ready = true;
  document.body.dataset.ready = "1";
}

start().catch((err) => {
  $("page-error").textContent = `Could not load candidate ${candidateId}: ${err.message}`;
});
