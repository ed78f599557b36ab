// "Failures by reason": the server groups failed candidates (GET /api/searches/{id}/failures); this only
// lays the groups out, each with its count and links to its candidates.

import { esc, fmtInt } from "./format.js";
import { t } from "./i18n.js";

/** HTML for the answer of `GET /api/searches/{id}/failures`. */
export function failuresHtml(answer) {
  const groups = answer.groups || [];
  if (!groups.length) return `<p class="muted">${esc(t("failures.none"))}</p>`;
  const rows = groups.map((g) => {
    const links = g.candidate_ids.map((id) => `<a href="/candidates/${id}">#${id}</a>`).join(" ");
    const more =
      g.count > g.candidate_ids.length
        ? ` <span class="muted">${esc(t("failures.newest", { n: g.candidate_ids.length }))}</span>`
        : "";
    return (
      `<tr data-count="${g.count}"><td class="reason mono" title="${esc(g.example || "")}">${esc(g.reason)}</td>` +
      `<td>${g.count}</td><td class="ids">${links}${more}</td></tr>`
    );
  });
  const bound = answer.truncated
    ? `<p class="muted">${esc(t("failures.truncated", { n: fmtInt(answer.limit) }))}</p>`
    : "";
  return (
    `<table class="data failures"><thead><tr><th>${esc(t("failures.col.reason"))}</th>` +
    `<th>${esc(t("failures.col.count"))}</th><th>${esc(t("failures.col.candidates"))}</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table>${bound}<p class="muted">${esc(t("failures.note"))}</p>`
  );
}
