// Searches list: name, space, strategy, dataset, status, progress, best fitness, age; refreshed live.

import { api } from "../api.js";
import { esc, fmtAge, fmtNumber, statusBadge } from "../format.js";

const PAGE = 25;
const REFRESH_MS = 2000;
let offset = 0;
let timer = null;

const table = document.getElementById("search-table");
const pager = document.getElementById("search-pager");
const statusFilter = document.getElementById("status-filter");
const errorBox = document.getElementById("list-error");

function row(s) {
  const pct = Math.round(Math.max(0, Math.min(1, s.progress || 0)) * 100);
  const best =
    typeof s.best_fitness === "number"
      ? `<a href="/candidates/${s.best_candidate_id}">${fmtNumber(s.best_fitness)}</a>`
      : "–";
  return `<tr data-id="${s.id}">
    <td><a href="/searches/${s.id}">${esc(s.name || `search ${s.id}`)}</a> <span class="muted">#${s.id}</span></td>
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
    table.innerHTML =
      "<thead><tr><th>name</th><th>space</th><th>strategy</th><th>dataset</th><th>status</th>" +
      "<th>progress</th><th>best fitness</th><th>age</th></tr></thead>" +
      `<tbody>${items.map(row).join("") || '<tr><td colspan="8" class="muted">No searches yet.</td></tr>'}</tbody>`;
    const total = page.total ?? items.length;
    pager.innerHTML =
      `<button type="button" data-off="${offset - PAGE}" ${offset === 0 ? "disabled" : ""}>‹</button>` +
      `<span>${total ? offset + 1 : 0}–${Math.min(total, offset + PAGE)} of ${total}</span>` +
      `<button type="button" data-off="${offset + PAGE}" ${offset + PAGE >= total ? "disabled" : ""}>›</button>`;
    errorBox.textContent = "";
  } catch (err) {
    errorBox.textContent = `Could not load searches: ${err.message}`;
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
refresh();
