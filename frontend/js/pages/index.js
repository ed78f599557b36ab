// Searches list: name, space, strategy, dataset, status, progress, best fitness, age; refreshed live.

import { api } from "../api.js";
import { esc, fmtAge, fmtInt, fmtNumber, statusBadge } from "../format.js";
import { t } from "../i18n.js";
import { watchTableScroll } from "../scroll-cue.js";

const PAGE = 25;
const REFRESH_MS = 2000;
let offset = 0;
let timer = null;

const table = document.getElementById("search-table");
const pager = document.getElementById("search-pager");
const statusFilter = document.getElementById("status-filter");
const errorBox = document.getElementById("list-error");
const HEAD = [
  t("index.col.name"),
  t("common.space"),
  t("common.strategy"),
  t("common.dataset"),
  t("common.status"),
  t("index.col.progress"),
  t("index.col.best"),
  t("index.col.age"),
]
  .map((title) => `<th>${esc(title)}</th>`)
  .join("");

function row(s) {
  const pct = Math.round(Math.max(0, Math.min(1, s.progress || 0)) * 100);
  const best =
    typeof s.best_fitness === "number"
      ? `<a href="/candidates/${s.best_candidate_id}">${fmtNumber(s.best_fitness)}</a>`
      : "–";
  return `<tr data-id="${s.id}">
    <td><a href="/searches/${s.id}">${esc(s.name || t("search.unnamed", { id: s.id }))}</a> <span class="muted">#${s.id}</span></td>
    <td>${esc(s.space ?? "–")}</td>
    <td>${esc(s.strategy ?? "–")}</td>
    <td>${esc(s.dataset ?? "–")}</td>
    <td>${statusBadge(s.status)}</td>
    <td><div class="progress" title="${pct}%"><div style="width:${pct}%"></div></div></td>
    <td>${best}</td>
    <td>${fmtAge(s.created_at)}</td>
  </tr>`;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const page = await api.listSearches({ status: statusFilter.value, limit: PAGE, offset });
    const items = page.items || [];
    const empty = `<tr><td colspan="8" class="muted">${esc(t("index.empty"))}</td></tr>`;
    table.innerHTML = `<thead><tr>${HEAD}</tr></thead><tbody>${items.map(row).join("") || empty}</tbody>`;
    const total = page.total ?? items.length;
    const last = Math.min(total, offset + PAGE);
    pager.innerHTML =
      `<button type="button" data-off="${offset - PAGE}" ${offset === 0 ? "disabled" : ""}>‹</button>` +
      `<span>${esc(t("pager.range", { from: fmtInt(total ? offset + 1 : 0), to: fmtInt(last), total: fmtInt(total) }))}</span>` +
      `<button type="button" data-off="${offset + PAGE}" ${offset + PAGE >= total ? "disabled" : ""}>›</button>`;
    errorBox.textContent = "";
  } catch (err) {
    errorBox.textContent = t("index.load_failed", { error: err.message });
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

table.addEventListener("click", (ev) => {
  if (ev.target.closest("a")) return;
  const tr = ev.target.closest("tr[data-id]");
  if (tr) location.href = `/searches/${tr.dataset.id}`;
});
pager.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-off]");
  if (!b) return;
  offset = Math.max(0, Number(b.dataset.off));
  refresh();
});
statusFilter.addEventListener("change", () => {
  offset = 0;
  refresh();
});
watchTableScroll(); // on a phone the list is wider than the screen
refresh();
