// The searches list's second panel: groups of repeats (a spec run under k seeds), each linking to its
// group page; hidden while there is none. Groups change only when one is submitted, so a slow refresh.

import { api } from "../api.js";
import { esc, fmtAge, fmtInt, statusLabel } from "../format.js";
import { t } from "../i18n.js";

const REFRESH_MS = 10_000;
const panel = document.getElementById("groups-panel");
const table = document.getElementById("group-table");

function row(g) {
  const statuses = Object.entries(g.statuses || {})
    .map(([status, n]) => `${fmtInt(n)} ${statusLabel(status)}`)
    .join(", ");
  return `<tr data-group="${g.id}">
    <td><a href="/groups/${g.id}">${esc(g.name || t("group.unnamed", { id: g.id }))}</a> <span class="muted">#${g.id}</span></td>
    <td>${fmtInt(g.search_ids.length)}</td><td>${esc(statuses)}</td><td>${fmtAge(g.created_at)}</td></tr>`;
}

async function refresh() {
  try {
    const page = await api.groups({ limit: 20 });
    const items = page.items || [];
    panel.classList.toggle("hidden", !items.length);
    const head = [t("index.col.name"), t("group.col.searches"), t("common.status"), t("index.col.age")];
    table.innerHTML = `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${items.map(row).join("")}</tbody>`;
  } catch (err) {
    console.warn("groups unavailable", err);
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
