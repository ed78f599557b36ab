// "Failures by reason": the server groups failed candidates (GET /api/searches/{id}/failures); this only
// lays the groups out, each with its count and links to its candidates.

import { esc } from "./format.js";

/** HTML for the answer of `GET /api/searches/{id}/failures`. */
export function failuresHtml(answer) {
  const groups = answer.groups || [];
  if (!groups.length) return '<p class="muted">No failed candidates.</p>';
  const rows = groups.map((g) => {
    const links = g.candidate_ids.map((id) => `<a href="/candidates/${id}">#${id}</a>`).join(" ");
    const more = g.count > g.candidate_ids.length ? ` <span class="muted">… (the newest ${g.candidate_ids.length})</span>` : "";
    return (
      `<tr data-count="${g.count}"><td class="reason mono" title="${esc(g.example || "")}">${esc(g.reason)}</td>` +
      `<td>${g.count}</td><td class="ids">${links}${more}</td></tr>`
    );
  });
  const bound = answer.truncated
    ? `<p class="muted">From the newest ${answer.limit.toLocaleString("en")} failed candidates.</p>`
    : "";
  return (
    '<table class="data failures"><thead><tr><th>reason</th><th>count</th><th>candidates</th></tr></thead>' +
    `<tbody>${rows.join("")}</tbody></table>${bound}` +
    '<p class="muted">Errors that differ only in numbers or ids count as one reason.</p>'
  );
}
