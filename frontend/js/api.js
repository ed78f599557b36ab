// Thin fetch wrappers for the NASBoard REST API. Every error becomes an ApiError that keeps the server's
// `detail` so forms can show a validation message next to the field it names.

import { esc } from "./format.js";
import { t } from "./i18n.js";
import { serverText } from "./server-text.js";

export class ApiError extends Error {
  constructor(status, detail, url) {
    super(ApiError.describe(status, detail, url));
    this.status = status;
    this.detail = detail;
    this.url = url;
  }

  static describe(status, detail, url) {
    if (typeof detail === "string") return `${status}: ${serverText(detail)}`;
    if (Array.isArray(detail)) {
      const parts = detail.map((d) => (d.message || d.msg ? serverText(d.message || d.msg) : JSON.stringify(d)));
      return `${status}: ${parts.join("; ")}`;
    }
    return t("api.status_from", { status, url });
  }
}

// The API token (docs/deployment.md "Authentication"), asked for on the first 401 and kept per browser.
const TOKEN_KEY = "nasboard.token";
let asking = null; // one dialog for every request refused at the same time

function askToken(message) {
  asking ??= new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.className = "token-dialog";
    dialog.setAttribute("aria-labelledby", "token-dialog-title");
    dialog.innerHTML = `<form method="dialog">
      <h2 id="token-dialog-title">${esc(t("token.title"))}</h2><p class="muted"></p>
      <label>${esc(t("token.label"))} <input name="token" type="password" autocomplete="off" required></label>
      <div class="actions"><button value="cancel" formnovalidate>${esc(t("common.cancel"))}</button>
      <button class="primary" value="ok">${esc(t("token.use"))}</button></div></form>`;
    dialog.querySelector("p").textContent = message;
    dialog.addEventListener("close", () => {
      const token = dialog.returnValue === "ok" ? dialog.querySelector("input").value.trim() : "";
      dialog.remove();
      asking = null;
      if (token) localStorage.setItem(TOKEN_KEY, token);
      resolve(token);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
  return asking;
}

async function request(method, url, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  for (;;) {
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) init.headers.Authorization = `Bearer ${token}`;
    res = await fetch(url, init);
    if (res.status !== 401) break;
    if (localStorage.getItem(TOKEN_KEY) !== token) continue; // a token was entered meanwhile: use it
    if (token) localStorage.removeItem(TOKEN_KEY);
    const why = token ? t("token.refused") : t("token.needed");
    if (!(await askToken(`${why} ${t("token.create_hint")}`))) break;
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) throw new ApiError(res.status, data && data.detail !== undefined ? data.detail : data, url);
  return data;
}

const q = (params) => {
  const usp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") usp.set(k, v);
  const s = usp.toString();
  return s ? `?${s}` : "";
};

export const api = {
  listSearches: (params = {}) => request("GET", `/api/searches${q(params)}`),
  getSearch: (id) => request("GET", `/api/searches/${id}`),
  createSearch: (spec) => request("POST", "/api/searches", spec),
  candidatesAfter: (id, after, limit, fields) =>
    request("GET", `/api/searches/${id}/candidates${q({ after, limit, fields })}`),
  timeline: (id) => request("GET", `/api/searches/${id}/timeline`),
  failures: (id) => request("GET", `/api/searches/${id}/failures`),
  pareto: (id, query = {}) => request("GET", `/api/searches/${id}/pareto?${new URLSearchParams(query)}`),
  strategyStats: (id) => request("GET", `/api/searches/${id}/strategy`),
  importance: (id) => request("GET", `/api/searches/${id}/importance`),
  decisions: (id, names, limit) =>
    request("GET", `/api/searches/${id}/decisions${q({ names: names.join(","), limit })}`),
  hypervolume: (id) => request("GET", `/api/searches/${id}/hypervolume`),
  latencyPredictor: (id) => request("GET", `/api/searches/${id}/latency-predictor`),
  groups: (params = {}) => request("GET", `/api/groups${q(params)}`),
  group: (id) => request("GET", `/api/groups/${id}`),
  compareGroups: (ids) => request("GET", `/api/groups/compare${q({ ids: ids.join(",") })}`),
  benchmarks: (params = {}) => request("GET", `/api/benchmarks${q(params)}`),
  benchmark: (id) => request("GET", `/api/benchmarks/${id}`),
  control: (id, action) => request("POST", `/api/searches/${id}/${action}`),
  clone: (id) => request("POST", `/api/searches/${id}/clone`),
  deleteSearch: (id) => request("DELETE", `/api/searches/${id}`),
  getCandidate: (id) => request("GET", `/api/candidates/${id}`),
  scaleSpec: (id, query = {}) => request("GET", `/api/candidates/${id}/scale-spec${q(query)}`),
  spaces: () => request("GET", "/api/spaces"),
  strategies: () => request("GET", "/api/strategies"),
  datasets: () => request("GET", "/api/datasets"),
  specSchema: () => request("GET", "/api/spec/schema"),
  specExamples: () => request("GET", "/api/spec/examples"),
  parseSpec: (text) => request("POST", "/api/spec/parse", { text }),
  modelUrl: (id, format) => `/api/candidates/${id}/model${q({ format })}`,
  eventsUrl: (id, after) => `/api/searches/${id}/events${q({ after })}`,
};

// Page size for the incremental candidate reads; the API may cap it lower, the loop copes either way.
export const PAGE_LIMIT = 1000;
export const MAX_PAGE_LIMIT = 5000; // the API's cap on `limit`

let largestPage = 0;

/**
 * Read every candidate changed after `after`, following `next_after` until a short page. `fields` (the
 * API's comma list of optional members) leaves out what the caller does not need, such as genomes.
 */
export async function readAllCandidates(searchId, after = 0, onPage = () => {}, fields = undefined) {
  let cursor = after;
  for (;;) {
    const page = await api.candidatesAfter(searchId, cursor, PAGE_LIMIT, fields);
    const items = page.items || [];
    if (items.length) onPage(items);
    const next = page.next_after ?? cursor;
    if (!items.length || next === cursor) return cursor;
    cursor = next;
    // A page shorter than both our limit and the largest page the server ever sent is the last one;
    // a server that caps the limit lower keeps sending pages of its cap, and we keep reading.
    largestPage = Math.max(largestPage, items.length);
    if (items.length < PAGE_LIMIT && items.length < largestPage) return cursor;
  }
}

/** Id from the path (/searches/12 → 12) or from ?id=12. */
export function idFromLocation() {
  const m = location.pathname.match(/\/(\d+)\/?$/);
  if (m) return Number(m[1]);
  const id = new URLSearchParams(location.search).get("id");
  return id ? Number(id) : null;
}

/**
 * Read every candidate changed after `from` with `parts` cursor ranges in flight: (from, maxSeq] is split
 * into equal seq ranges read side by side, the last one open-ended. Ranges may overlap by a page (the
 * caller merges by id), never leave a gap. Returns the cursor to continue from.
 */
export async function readAllCandidatesParallel(searchId, from, maxSeq, parts, onPage, expected = 0, fields) {
  if (!maxSeq || maxSeq <= from || parts <= 1) return readAllCandidates(searchId, from, onPage, fields);
  const step = Math.ceil((maxSeq - from) / parts);
  // Pages big enough that each range usually takes one request: a follow-up request can only start
  // once the main thread is free, and on a cold load it is busy parsing plotly.js for a while.
  const limit = Math.min(MAX_PAGE_LIMIT, Math.max(PAGE_LIMIT, Math.ceil((1.2 * expected) / parts)));
  const readRange = async (from, to) => {
    let cursor = from;
    for (;;) {
      const page = await api.candidatesAfter(searchId, cursor, limit, fields);
      const items = page.items || [];
      if (!items.length) return cursor;
      onPage(items);
      cursor = page.next_after ?? items[items.length - 1].seq;
      // A short page is the end of the data (our limit is within the API's cap). Were the cap lower,
      // stopping early would still be safe: the live feed continues from this cursor.
      if (cursor >= to || items.length < limit) return cursor;
    }
  };
  const bounds = [...Array(parts).keys()].map((i) => [
    from + i * step,
    i === parts - 1 ? Infinity : from + (i + 1) * step,
  ]);
  const ends = await Promise.all(bounds.map(([from, to]) => readRange(from, to)));
  return ends[ends.length - 1];
}

