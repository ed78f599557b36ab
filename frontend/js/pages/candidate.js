// Candidate view: architecture diagram, per-epoch curves, every metric, the genome and the downloads.

import { api, idFromLocation } from "../api.js";
import { esc, fmtNumber, statusBadge } from "../format.js";
import { t } from "../i18n.js";
import { drawArchitecture } from "../diagram.js";
import { drawCurves } from "../charts.js";
import { metricsList } from "../candidate-view.js";
import { plotlyReady } from "../theme.js";

const $ = (id) => document.getElementById(id);
const candidateId = idFromLocation();
const FORMATS = [
  ["onnx", "ONNX"],
  ["torchscript", "TorchScript"],
  ["state_dict", t("candidate.format.weights")],
  ["card", t("candidate.format.card")],
];
const probe = { ready: false };
window.nasboard = probe;

function downloads(c) {
  // Only formats the API lists as stored are offered; the others say why they are greyed out.
  const available = new Set((c.artefacts || []).map((a) => a.format ?? a));
  const links = FORMATS.map(([fmt, label]) => {
    const ok = available.has(fmt);
    const tip = ok ? t("candidate.download", { format: label }) : t("candidate.not_exported");
    const cls = ok ? "button" : "button disabled";
    return `<a class="${cls}" data-format="${fmt}" href="${api.modelUrl(c.id, fmt)}" title="${esc(tip)}" download>${esc(label)}</a>`;
  });
  if (!available.size) links.push(`<span class="muted">${esc(t("candidate.no_files"))}</span>`);
  return links.join("");
}

/** Multi-fidelity: the fitness at each rung the candidate trained to, each step after the first a promotion. */
function rungsLine(rungs) {
  if (!rungs.length || (rungs.length === 1 && rungs[0].rung === 0)) return "";
  const steps = rungs.map((r) => `${esc(t("candidate.rung", { n: r.rung }))} <b>${fmtNumber(r.fitness)}</b>`).join(" → ");
  const promoted = rungs.length - 1;
  const note = promoted ? t("candidate.promoted", { n: promoted }) : t("candidate.not_promoted");
  return `${steps} <span class="muted">${esc(note)}</span>`;
}

// The recorded reason, in full and as written (a traceback keeps its lines), headed by what it explains.
const ERROR_TITLES = {
  failed: t("candidate.why_failed"),
  infeasible: t("candidate.why_infeasible"),
  cancelled: t("candidate.why_cancelled"),
};

function showError(c) {
  $("cand-error-panel").classList.toggle("hidden", !c.error);
  $("cand-error-title").textContent = ERROR_TITLES[c.status] || t("candidate.note");
  $("cand-error").textContent = c.error || "";
}

const LIVE = new Set(["queued", "training"]);
const REFRESH_MS = 2000;

/** Everything but the diagram, which a candidate's genome fixes: redrawn while it trains. */
function renderDetails(c) {
  $("cand-status").innerHTML = statusBadge(c.status);
  $("cand-sub").innerHTML =
    `<a href="/searches/${c.search_id}">${esc(t("search.unnamed", { id: c.search_id }))}</a> · <span class="mono">${esc(c.label || "")}</span>` +
    (typeof c.fitness === "number" ? ` · ${esc(t("table.fitness"))} <b>${fmtNumber(c.fitness)}</b>` : "") +
    (c.epochs ? ` · ${esc(t("candidate.n_epochs", { n: c.epochs }))}` : "");
  $("cand-rungs").innerHTML = rungsLine(c.rungs || []);
  showError(c);
  $("downloads").innerHTML = downloads(c);
  $("metrics").innerHTML = metricsList(c);
  const curve = c.curve || [];
  if (curve.length) return drawCurves($("curve-chart"), [{ id: c.id, curve }]);
  $("curve-chart").textContent = c.status === "training" ? t("candidate.training_no_epoch") : t("candidate.no_epochs");
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

// Spaces whose networks the `scaled` follow-up can grow or shrink (worker/nas/scale_followup.py).
const SCALABLE = new Set(["layers", "vit"]);

/** "Scale this network": a done candidate of a layers or vit search opens /new?scale=ID&factor=F. */
async function offerScaling(c) {
  if (c.status !== "done") return;
  const search = await api.getSearch(c.search_id);
  if (!SCALABLE.has(search.spec?.space?.type)) return;
  const link = $("scale-link");
  const factor = $("scale-factor");
  const point = () => (link.href = `/new?scale=${c.id}&factor=${factor.value}`);
  factor.addEventListener("change", point);
  point();
  $("scale-box").classList.remove("hidden");
}

async function start() {
  if (!candidateId) throw new Error(t("candidate.no_id"));
  const c = await api.getCandidate(candidateId);
  document.title = `${t("candidate.title", { id: c.id })} · NASBoard`;
  $("cand-title").textContent = t("candidate.title", { id: c.id });
  $("genome").textContent = JSON.stringify(c.genome, null, 2);
  await plotlyReady();
  await Promise.all([drawArchitecture($("arch-diagram"), c.graph), renderDetails(c)]);
  await offerScaling(c).catch((err) => console.warn("could not check whether the network scales", err));
  probe.ready = true;
  document.body.dataset.ready = "1";
  followTraining(c);
}

start().catch((err) => {
  $("page-error").textContent = t("candidate.load_failed", { id: candidateId, error: err.message });
});
