// The search page's header: name, status, progress, counts, best fitness, elapsed time and ETA,
// and which of pause / resume / cancel the status allows.

import { esc, fmtCount, fmtDuration, fmtInt, fmtNumber, parseTime, statusBadge } from "./format.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export function progressOf(s) {
  if (typeof s.progress === "number") return Math.max(0, Math.min(1, s.progress));
  const max = s.spec && s.spec.budget && s.spec.budget.max_candidates;
  return max ? Math.min(1, ((s.n_done || 0) + (s.n_failed || 0)) / max) : 0;
}

function elapsedSeconds(s) {
  const start = parseTime(s.started_at);
  const end = parseTime(s.finished_at);
  if (start !== null) return ((end ?? Date.now()) - start) / 1000;
  if (typeof s.elapsed_seconds === "number") return s.elapsed_seconds;
  return null;
}

/** The server's estimate counted down since it was fetched; else extrapolated from progress. */
function etaSeconds(s, fetchedAt) {
  if (s.status !== "running" && s.status !== "queued") return s.status === "completed" ? 0 : null;
  if (typeof s.eta_seconds === "number") return Math.max(0, s.eta_seconds - (Date.now() - fetchedAt) / 1000);
  const p = progressOf(s);
  const el = elapsedSeconds(s);
  return p > 0 && el !== null ? (el * (1 - p)) / p : null;
}

export function renderSearchHeader(s, fetchedAt) {
  const name = s.name || t("search.unnamed", { id: s.id });
  document.title = `${name} · NASBoard`;
  $("search-name").textContent = name;
  $("search-status").innerHTML = statusBadge(s.status);
  const pct = progressOf(s) * 100;
  $("progress").firstElementChild.style.width = `${pct.toFixed(1)}%`;
  $("progress-text").textContent = `${pct.toFixed(0)} %`;
  // Done against the budget the search runs to (the stored spec has its defaults written out), not
  // against the candidates created so far, which grows with the search and says nothing of the end.
  const budget = s.spec && s.spec.budget && s.spec.budget.max_candidates;
  const counts = $("stat-candidates");
  counts.textContent = t("search.done_of", { done: fmtInt(s.n_done ?? 0), total: budget ? fmtInt(budget) : "–" });
  counts.title = t("search.done_of_tip", { created: fmtInt(s.n_candidates ?? 0) });
  $("stat-failed").textContent = fmtInt(s.n_failed ?? 0);
  const best = s.best;
  $("stat-best").innerHTML =
    best && typeof best.fitness === "number"
      ? `<a href="/candidates/${best.candidate_id}">${fmtNumber(best.fitness)}</a>`
      : "–";
  $("stat-elapsed").textContent = fmtDuration(elapsedSeconds(s));
  $("stat-eta").textContent = fmtDuration(etaSeconds(s, fetchedAt));
  $("search-error").textContent = s.error || "";
  renderResult(s.result);
  const spec = s.spec || {};
  $("spec-summary").innerHTML = [
    spec.space && `${esc(t("common.space"))} <b>${esc(spec.space.type)}</b>`,
    spec.strategy && `${esc(t("common.strategy"))} <b>${esc(spec.strategy.type)}</b>`,
    spec.dataset && `${esc(t("common.dataset"))} <b>${esc(spec.dataset.name)}</b>`,
  ]
    .filter(Boolean)
    .join(" · ");
  const st = s.status;
  const enable = {
    pause: st === "running" || st === "queued",
    resume: st === "paused",
    cancel: st === "running" || st === "queued" || st === "paused",
    clone: true,
    delete: true,
  };
  for (const b of document.querySelectorAll("button[data-action]")) b.disabled = !enable[b.dataset.action];
}

/** The picked network as deployed: ONNX Runtime latency, the int8 model against fp32, the worker's CPU. */
function deploymentLine(r) {
  const bits = [];
  if (typeof r.int8_accuracy === "number") {
    const key = r.int8_speedup >= 1 ? "result.int8_faster" : "result.int8_slower";
    bits.push(
      esc(
        t("result.int8", {
          acc: fmtNumber(r.int8_accuracy),
          int8: fmtNumber(r.latency_ms_int8),
          fp32: fmtNumber(r.latency_ms_ort),
          size: fmtCount(r.size_bytes_int8),
        }),
      ) + ` <b id="result-int8-speedup">${esc(t(key, { x: fmtNumber(r.int8_speedup, 2) }))}</b>`,
    );
  } else if (typeof r.latency_ms_ort === "number") {
    bits.push(esc(t("result.ort", { ms: fmtNumber(r.latency_ms_ort) })));
  }
  if (r.int8_error) bits.push(`${esc(t("result.int8_error"))} ${esc(r.int8_error)}`);
  if (r.cpu_features) bits.push(esc(t("result.cpu", { cpu: r.cpu_features })));
  return bits.join(" · ");
}

/** A table search's result: its front and hypervolume against the table's own front (result.table). */
function tableFigures(tb) {
  const hv = tb.hypervolume;
  const front = esc(t("result.table", { front: tb.front.length, evaluated: tb.evaluated, rows: tb.rows }));
  return hv && typeof hv.ratio === "number"
    ? `${front}, ${esc(t("result.table_hv"))} <b id="result-hv-ratio">${fmtNumber(hv.ratio, 4)}</b>`
    : front;
}

/** What the finished search handed back, as the API reports it: the final stage's pick and test figures. */
function renderResult(r) {
  const box = $("search-result");
  box.classList.toggle("hidden", !r);
  if (!r) return;
  const test = r.table
    ? tableFigures(r.table)
    : typeof r.test_accuracy === "number"
      ? `${esc(t("result.test_accuracy"))} <b id="result-test">${fmtNumber(r.test_accuracy)}</b>` +
        (r.repeats > 1 && typeof r.test_accuracy_std === "number"
          ? ` ± ${fmtNumber(r.test_accuracy_std)} ${esc(t("result.runs", { n: r.repeats }))}`
          : "")
      : esc(t("result.not_tested"));
  const parts = [
    `<a href="/candidates/${r.candidate_id}">${esc(t("result.candidate", { id: r.candidate_id }))}</a> <code>${esc(r.label || "")}</code>`,
    typeof r.params === "number" && esc(t("result.params", { n: fmtCount(r.params) })),
    typeof r.flops === "number" && esc(t("result.flops", { n: fmtCount(r.flops) })),
    r.final_epochs && esc(t("result.final_epochs", { n: r.final_epochs })),
    typeof r.wall_seconds === "number" &&
      esc(
        t("result.wall", {
          wall: fmtDuration(r.wall_seconds),
          search: fmtDuration(r.search_seconds),
          final: fmtDuration(r.final_seconds),
        }),
      ),
  ].filter(Boolean);
  const downloads = (r.artefacts || [])
    .map((f) => `<a href="/api/candidates/${r.candidate_id}/model?format=${encodeURIComponent(f)}">${esc(f)}</a>`)
    .join(" ");
  const deployed = deploymentLine(r);
  box.innerHTML =
    `${esc(t("result.title"))} ${test} · ${parts.join(" · ")}` +
    (downloads ? ` · ${esc(t("result.download"))} ${downloads}` : "") +
    (deployed ? `<br><span id="result-int8">${deployed}</span>` : "") +
    (r.final_error ? `<br><span class="error-box">${esc(t("result.final_error"))} ${esc(r.final_error)}</span>` : "");
}
