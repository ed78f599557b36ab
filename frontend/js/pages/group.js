// A group of repeats (one spec run under k seeds): the curve of every seed with the mean and a band,
// the spread of the final test accuracy, and the member searches. /groups/{id} shows one group;
// /groups/compare?ids=1,2 puts several on one chart (one reference point for all, from the API).

import { api } from "../api.js";
import { esc, fmtInt, fmtNumber, statusBadge } from "../format.js";
import { t } from "../i18n.js";
import { plotlyReady } from "../theme.js";
import { drawGroups } from "../group-chart.js";
import { referenceText } from "../hypervolume-chart.js";
import { serverText } from "../server-text.js";

const $ = (id) => document.getElementById(id);
const probe = { ready: false };
window.nasboard = probe;
const REFRESH_MS = 5000;
let groups = [];

function parseIds(text) {
  return [...new Set(String(text || "").split(/[\s,]+/).filter(Boolean).map(Number))].filter(Number.isInteger);
}

/** The group ids this address asks for: /groups/3 → [3]; /groups/compare?ids=3,4 → [3, 4]. */
function requestedIds() {
  const m = location.pathname.match(/\/groups\/(\d+)\/?$/);
  if (m) return [Number(m[1])];
  return parseIds(new URLSearchParams(location.search).get("ids"));
}

const groupName = (g) => g.name || t("group.unnamed", { id: g.id });
const acc = (v) => (typeof v === "number" ? fmtNumber(v) : "–");

function noteText(g) {
  const seeds = t("group.seeds", { n: fmtInt(groups.reduce((n, x) => n + x.members.length, 0)) });
  if (g.curve !== "hypervolume") return `${t("group.note_best")} ${seeds}`;
  const point = referenceText(g.objectives, g.goals, g.reference) || "–";
  return `${t("hv.reference", { point, rule: serverText(g.reference_rule || "") })} ${seeds}`;
}

function testTable() {
  const head = [t("group.col.group"), t("group.col.n"), t("group.col.mean_std"), t("group.col.range"), t("group.col.per_seed")];
  const rows = groups.map((g) => {
    const s = g.test_accuracy;
    const perSeed = g.members
      .map((m) => `<a href="/searches/${m.search_id}">${esc(t("group.seed", { seed: m.seed }))}</a>: ${acc(m.test_accuracy)}`)
      .join(", ");
    const cells = s
      ? [fmtInt(s.n), `${acc(s.mean)} ± ${acc(s.std)}`, `${acc(s.min)} – ${acc(s.max)}`]
      : [`<span class="muted">${esc(t("group.test_none"))}</span>`, "", ""];
    return `<tr data-group="${g.id}"><td><a href="/groups/${g.id}">${esc(groupName(g))}</a></td>${cells.map((c) => `<td>${c}</td>`).join("")}<td>${perSeed}</td></tr>`;
  });
  return `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody>`;
}

function membersTable() {
  const head = [t("group.col.group"), t("group.col.seed"), t("group.col.search"), t("common.status"), t("group.col.evaluations"), t("metric.test_accuracy")];
  const rows = groups.flatMap((g) =>
    g.members.map(
      (m) => `<tr data-search="${m.search_id}"><td>${esc(groupName(g))}</td><td>${m.seed}</td>
        <td><a href="/searches/${m.search_id}">#${m.search_id}</a></td><td>${statusBadge(m.status)}</td>
        <td>${fmtInt(m.n_evaluations)}</td><td>${acc(m.test_accuracy)}</td></tr>`,
    ),
  );
  return `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody>`;
}

function draw() {
  $("group-note").textContent = noteText(groups[0]);
  $("group-test").innerHTML = testTable();
  $("group-members").innerHTML = membersTable();
  return drawGroups($("group-chart"), groups, $("group-spread").value);
}

async function load(ids) {
  groups = ids.length === 1 ? [await api.group(ids[0])] : (await api.compareGroups(ids)).groups;
  $("group-name").textContent =
    groups.length === 1 ? t("group.title", { name: groupName(groups[0]) }) : t("group.compare_title", { n: groups.length });
  await draw();
  const running = groups.some((g) => g.members.some((m) => m.status === "queued" || m.status === "running"));
  if (running) setTimeout(() => load(ids).catch(showError), REFRESH_MS);
}

function showError(err) {
  $("page-error").textContent = t("group.load_failed", { error: err.message });
}

async function start() {
  const ids = requestedIds();
  $("compare-ids").value = ids.slice(1).join(", ");
  if (!ids.length) {
    $("page-error").textContent = t("group.no_id");
    return;
  }
  await plotlyReady();
  await load(ids);
  probe.ready = true;
  document.body.dataset.ready = "1";
}

$("group-spread").addEventListener("change", () => groups.length && draw());
$("compare-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const ids = [requestedIds()[0], ...parseIds($("compare-ids").value)];
  location.href = ids.length > 1 ? `/groups/compare?ids=${[...new Set(ids)].join(",")}` : `/groups/${ids[0]}`;
});

start().catch(showError);
