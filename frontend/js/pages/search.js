// The search page: header with status, progress, elapsed and ETA, controls, the live fitness chart,
// the Pareto view, the RL controller statistics and the candidate table, all fed by one candidate Map.

import { PAGE_LIMIT, api, idFromLocation, readAllCandidates, readAllCandidatesParallel } from "../api.js";
import { FitnessChart, setGenerationResolver } from "../fitness-chart.js";
import { ParetoChart, drawController } from "../charts.js";
import { PairPicker } from "../pair-chart.js";
import { ImportanceChart } from "../importance-chart.js";
import { HypervolumeChart } from "../hypervolume-chart.js";
import { LatencyChart } from "../latency-chart.js";
import { BrushFilter } from "../brush-filter.js";
import { ParcoordsChart } from "../parcoords-chart.js";
import { CandidateTable } from "../table.js";
import { LiveFeed } from "../live.js";
import { plotlyReady } from "../theme.js";
import { loadSnapshot, saveSnapshot } from "../cache.js";
import { renderSearchHeader } from "../search-header.js";
import { fmtNumber } from "../format.js";
import { startActivity } from "../activity.js";
import { confirmAction } from "../confirm-dialog.js";
import { download, readFullCandidates, toCsv } from "../export-candidates.js";
import { watchTableScroll } from "../scroll-cue.js";
import { t } from "../i18n.js";

const searchId = idFromLocation();
const READ_PARTS = 4;
// The first read leaves out the genomes (half the bytes of a big search): only the table's text filter
// uses them, and it fetches them the first time the user types (`ensureGenomes`).
const SUMMARY_FIELDS = "metrics,error,finished_at,origin,label";
const SNAPSHOT_EVERY_MS = 30_000;
const PARCOORDS_DECISIONS = 6; // the most important decisions as axes (the space's first ones before that)
const $ = (id) => document.getElementById(id);
const candidates = new Map();
const all = () => [...candidates.values()];
let search = null;
let feed = null;

// Exposed for the browser tests and benchmarks/page_10k.py: when the page became interactive and
// when each candidate's point reached the chart (epoch ms, comparable with the server's clock).
const probe = { ready: false, interactiveMs: null, plottedAt: {}, mode: "idle", errors: [] };
window.nasboard = probe;

const LIVE_MODES = { stream: t("live.stream"), reconnecting: t("live.reconnecting"), polling: t("live.polling") };

const openCandidate = (id) => {
  location.href = `/candidates/${id}`;
};

const fitness = new FitnessChart($("fitness-chart"), { onSelect: openCandidate });
const pareto = new ParetoChart($("pareto-chart"), {
  onSelect: openCandidate,
  xSelect: $("pareto-x"),
  ySelect: $("pareto-y"),
  fetchFront: (x, y) => api.pareto(searchId, { x, y, cloud: false }),
});
const pairs = new PairPicker($("pair-select"), $("pair-column"));
const pairChart = new ParetoChart($("pairs-chart"), {
  onSelect: openCandidate,
  axesOf: () => pairs.axes(),
  controls: [$("pair-select"), $("pair-column")],
  fetchFront: (x, y) => {
    const a = pairs.axes();
    return api.pareto(searchId, { x, y, x_goal: a.xGoal, y_goal: a.yGoal, cloud: false });
  },
});
const isRunning = () => Boolean(search) && (search.status === "queued" || search.status === "running");
const ENDED = new Set(["completed", "failed", "cancelled"]);
const hasEnded = () => Boolean(search) && ENDED.has(search.status);
// Refreshed while candidates can still finish; the server does the work (and caches it per version).
const importance = new ImportanceChart($("importance-chart"), $("importance-note"), {
  // Each answer may change which decisions the parallel coordinates show: let it look again once drawn.
  fetchImportance: () => api.importance(searchId).finally(() => setTimeout(() => parcoords && parcoords.refresh(), 0)),
  isRunning,
});
const hypervolume = new HypervolumeChart($("hypervolume-chart"), $("hypervolume-note"), {
  fetchCurve: () => api.hypervolume(searchId),
  isRunning,
});
const latency = new LatencyChart($("latency-panel"), $("latency-chart"), $("latency-note"), {
  fetchAnswer: () => api.latencyPredictor(searchId),
  isRunning,
});
/** Only `layers` and `vit` searches that time ONNX Runtime latency predict it (worker/nas/latency_predictor.py). */
function predictsLatency() {
  const spec = (search && search.spec) || {};
  const space = (spec.space && spec.space.type) || "";
  return ["layers", "vit"].includes(space) && (spec.deployment || {}).ort_latency !== false;
}
// Ranges brushed on the parallel coordinates: they filter the table and dim the other charts.
const brush = new BrushFilter();
let parcoords = null; // created once the page is interactive; it draws when scrolled into view
const table = new CandidateTable($("candidate-table"), {
  rowFilter: () => (brush.active ? brush.passes : null),
  onOpen: openCandidate,
  onSelectionChange: (ids) => {
    const link = $("compare-link");
    link.href = `/compare?ids=${ids.join(",")}`;
    link.classList.toggle("disabled", ids.length < 2);
    link.textContent = t("search.compare_n", { n: ids.length });
  },
  onTextFilter: () => ensureGenomes(),
});

function showBrush() {
  brush.highlight($("fitness-chart"), 0, candidates);
  brush.highlight($("pareto-chart"), 0, candidates);
}

brush.onChange(() => {
  table.refilter();
  showBrush();
  const shown = brush.active ? all().filter(brush.passes).length : 0;
  $("brush-note").textContent = brush.active ? t("parcoords.brushed", { n: fmtNumber(shown) }) : "";
  $("brush-clear").classList.toggle("hidden", !brush.active);
});
$("brush-clear").addEventListener("click", () => {
  brush.clear();
  if (parcoords) parcoords.draw(); // the axes lose their brushes too
});

let genomes = null;

/** Genomes of every candidate, read once when first needed; a genome never changes, so later events keep it. */
function ensureGenomes() {
  if (genomes || !feed) return;
  const merge = (items) => {
    for (const c of items) {
      const known = candidates.get(c.id);
      if (known && !known.genome) known.genome = c.genome;
    }
  };
  genomes = readAllCandidates(searchId, 0, merge, "genome")
    .then(() => table.setRows(all()))
    .catch((err) => {
      genomes = null;
      console.warn("could not read genomes for the filter", err);
    });
}

// --- header ---------------------------------------------------------------------------------------------
let searchFetchedAt = Date.now();
let shownStatus = null;

function renderHeader() {
  if (!search) return;
  renderSearchHeader(search, searchFetchedAt);
  showMode();
  showEmpty();
  if (feed) feed.setTerminal(search.status);
  if (feed && importance.isRunning()) importance.wake(); // a resumed search
  if (feed && multiObjective() && isRunning()) hypervolume.wake();
  if (feed && predictsLatency() && isRunning()) latency.wake();
  if (search.status !== shownStatus) {
    const first = shownStatus === null;
    shownStatus = search.status;
    // The controller's last steps are written as the search ends: draw them now, not up to 5 s later.
    if (!first && feed) refreshController();
  }
}

setInterval(renderHeader, 1000); // elapsed and ETA tick between server updates

/** The feed's mode beside the title, only while the search can still change: no "live" on an ended one. */
function showMode() {
  const mode = probe.mode;
  const off = mode === "stopped" || mode === "idle" || hasEnded();
  $("live-mode").textContent = off ? "" : `● ${LIVE_MODES[mode] || mode}`;
}

/** Why the fitness chart is empty: waiting for a worker, for the first result, or ended without one. */
function showEmpty() {
  const box = $("fitness-empty");
  const empty = probe.ready && fitness.plotted.size === 0;
  box.classList.toggle("hidden", !empty);
  if (!empty) return;
  if (search.status === "queued") box.textContent = t("search.empty_queued");
  else box.textContent = t(hasEnded() ? "search.empty_ended" : "search.empty_running");
}

// Cancel and delete cannot be undone: each asks first, in the page's words.
const CONFIRM = {
  cancel: () => ({
    title: t("confirm.cancel_title"),
    message: t("confirm.cancel_body"),
    confirm: t("confirm.cancel_ok"),
  }),
  delete: () => ({
    title: t("confirm.delete_title", { name: search.name || t("search.unnamed", { id: searchId }) }),
    message: t("confirm.delete_body", { n: fmtNumber(search.n_candidates ?? 0) }),
    confirm: t("confirm.delete_ok"),
  }),
};

document.querySelector(".actions").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (!b) return;
  const action = b.dataset.action;
  if (action === "clone") {
    // A pre-filled form to edit, not a copy started at once.
    location.href = `/new?from=${searchId}`;
    return;
  }
  if (CONFIRM[action] && !(await confirmAction(CONFIRM[action]()))) return;
  b.disabled = true;
  try {
    if (action === "delete") {
      if (feed) feed.stop(); // the stream of a search about to vanish
      await api.deleteSearch(searchId);
      location.href = "/";
      return;
    }
    const res = await api.control(searchId, action);
    search = { ...search, ...res };
    renderHeader();
  } catch (err) {
    $("page-error").textContent = t("search.action_failed", { action: b.textContent.trim(), error: err.message });
    b.disabled = false;
    if (action === "delete" && feed) feed.start(); // still there: follow it again
  }
});

// --- export ---------------------------------------------------------------------------------------------
async function exportRows(format) {
  const note = $("export-note");
  const buttons = [$("export-csv"), $("export-json")];
  for (const b of buttons) b.disabled = true;
  try {
    const ids = table.shownRows().map((r) => r.id);
    const full = await readFullCandidates(searchId, (n) => {
      note.textContent = t("search.exporting", { n: fmtNumber(n) });
    });
    const rows = ids.map((id) => full.get(id)).filter(Boolean);
    const base = `search-${searchId}-candidates`;
    if (format === "csv") download(toCsv(rows), `${base}.csv`, "text/csv");
    else download(JSON.stringify(rows, null, 1), `${base}.json`, "application/json");
    note.textContent = t("search.exported", { n: fmtNumber(rows.length) });
  } catch (err) {
    note.textContent = t("search.export_failed", { error: err.message });
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}
$("export-csv").addEventListener("click", () => exportRows("csv"));
$("export-json").addEventListener("click", () => exportRows("json"));

// --- live merging ---------------------------------------------------------------------------------------
let pending = [];
let flushTimer = null;
let slowTimer = null;

function mergeCandidates(items) {
  for (const c of items) candidates.set(c.id, { ...(candidates.get(c.id) || {}), ...c });
  pending.push(...items.map((c) => candidates.get(c.id)));
  if (!flushTimer) flushTimer = setTimeout(flush, 16);
}

function flush() {
  flushTimer = null;
  const changed = pending;
  pending = [];
  fitness
    .update(changed, all)
    .then(() => {
      const now = Date.now();
      for (const c of changed) if (fitness.plotted.has(c.id) && !(c.id in probe.plottedAt)) probe.plottedAt[c.id] = now;
    })
    .catch((err) => console.error("fitness chart update failed", err));
  showEmpty();
  // Table and Pareto redraw the whole view, so they follow at a gentler pace, gentler still for big
  // searches (10,000 candidates: every 1.5 s), leaving the main thread to the fitness chart.
  if (!slowTimer) slowTimer = setTimeout(slowRefresh, 500 + candidates.size / 10);
}

function slowRefresh() {
  slowTimer = null;
  table.setRows(all());
  pareto.setAxes(metricNames(), paretoDefaults);
  if (parcoords) parcoords.refresh();
  const drawn = [pareto.render(all())];
  if (multiObjective()) {
    // Shown before its first draw: plotly sizes a hidden chart at its 700 px default, wider than the panel.
    $("pairs-panel").classList.remove("hidden");
    pairs.setObjectives(search.spec.objectives, metricNames());
    drawn.push(pairChart.render(all()));
  }
  return Promise.all(drawn).then(showBrush);
}

const multiObjective = () => ((search && search.spec && search.spec.objectives) || []).length >= 2;

/** The group of repeated seeds this search belongs to, if any. */
function showGroup() {
  if (search.group_id === null || search.group_id === undefined) return;
  const link = $("group-link");
  link.href = `/groups/${search.group_id}`;
  link.textContent = t("search.group_link", { id: search.group_id });
  link.classList.remove("hidden");
}

function metricNames() {
  const names = new Set();
  for (const c of candidates.values()) {
    for (const [k, v] of Object.entries(c.metrics || {})) if (typeof v === "number") names.add(k);
  }
  return [...names].sort();
}

let paretoDefaults = { x: "params", y: "fitness" };

let controllerTimer = null;
let controllerLoad = Promise.resolve();

const hasController = () => {
  const strategy = search && search.spec && search.spec.strategy;
  return Boolean(strategy) && strategy.type === "reinforce";
};

/** Draw the controller's statistics now, then every 5 s while the search runs; one load at a time. */
function refreshController() {
  clearTimeout(controllerTimer);
  if (!hasController()) return;
  controllerLoad = controllerLoad.then(loadController).then(() => {
    clearTimeout(controllerTimer);
    if (isRunning()) controllerTimer = setTimeout(refreshController, 5000);
  });
}

async function loadController() {
  try {
    const stats = await api.strategyStats(searchId);
    $("controller-panel").classList.remove("hidden");
    if (!drawController($("controller-chart"), stats)) {
      // No per-step history recorded (yet): say so, with whatever scalars the controller keeps.
      const scalars = Object.entries(stats)
        .filter(([k, v]) => k !== "strategy" && typeof v === "number")
        .map(([k, v]) => `${k} ${fmtNumber(v)}`);
      $("controller-chart").textContent =
        t("search.controller_empty") + (scalars.length ? ` (${scalars.join(", ")})` : "");
    }
  } catch (err) {
    console.warn("controller statistics unavailable", err);
  }
}

// --- generations ----------------------------------------------------------------------------------------
// A generational GA breeds `population_size` genomes per generation, in creation order; when the
// candidates carry no generation label, candidate k (by id within the search) is in generation k / size.
const GENERATIONAL = new Set(["genetic", "nsga2"]);
const creationRank = new Map();

function rankOf(id) {
  if (!creationRank.has(id)) creationRank.set(id, creationRank.size);
  return creationRank.get(id);
}

async function useGenerations(spec) {
  const strategy = (spec && spec.strategy) || {};
  if (!GENERATIONAL.has(strategy.type)) return;
  let size = Number(strategy.population_size);
  if (!Number.isInteger(size)) {
    // Left at its default in the spec: the strategy's defaults say what it is.
    const info = (await api.strategies().catch(() => [])).find((x) => x.name === strategy.type);
    size = Number(info && info.defaults && info.defaults.population_size);
  }
  if (Number.isInteger(size) && size >= 1) setGenerationResolver((c) => Math.floor(rankOf(c.id) / size));
}

// --- start ----------------------------------------------------------------------------------------------
async function start() {
  if (!searchId) {
    $("page-error").textContent = t("search.no_id");
    return;
  }
  const [s, stored] = await Promise.all([api.getSearch(searchId), loadSnapshot(searchId)]);
  search = s;
  searchFetchedAt = Date.now();
  const generations = useGenerations(search.spec);
  // A snapshot from an earlier visit of this very search: only changes after its cursor are read.
  const snapshot = stored && stored.created === search.created_at ? stored : null;
  let from = 0;
  if (snapshot) {
    for (const c of snapshot.items) candidates.set(c.id, c);
    from = snapshot.cursor;
  }
  probe.fromSnapshot = snapshot ? snapshot.items.length : 0;
  // A large read is split into several cursor ranges read side by side; a small one goes in one go.
  const missing = (search.n_candidates || 0) - candidates.size;
  const parts = missing > 2 * PAGE_LIMIT ? READ_PARTS : 1;
  const merge = (items) => {
    for (const c of items) {
      const known = candidates.get(c.id);
      if (!known || known.seq <= c.seq) candidates.set(c.id, c);
    }
  };
  const reading = readAllCandidatesParallel(searchId, from, search.seq, parts, merge, missing, SUMMARY_FIELDS);
  // Only now, with every request on the wire, plotly.js is evaluated and the empty chart set up
  // (WebGL context and all) while the server answers.
  const chartReady = plotlyReady().then(() => {
    probe.plotlyMs = performance.now();
    return fitness.render([]).then(() => {
      probe.emptyChartMs = performance.now();
    });
  });
  const cursor = await reading;
  probe.fetchedMs = performance.now();
  const initial = all();
  for (const id of [...candidates.keys()].sort((a, b) => a - b)) rankOf(id);
  await Promise.all([chartReady, generations]);
  // The Pareto axes start on the spec's first two objectives; the user can pick any metric.
  const objectives = ((search.spec && search.spec.objectives) || []).map((o) => o.metric);
  if (objectives.length >= 2) paretoDefaults = { x: objectives[1], y: objectives[0] };
  renderHeader();
  await fitness.render(initial);
  probe.renderedMs = performance.now();
  await slowRefresh(); // table and Pareto chart
  probe.tableParetoMs = performance.now();
  // Interactive: every view drawn and the main thread free to handle input (the next task runs).
  await new Promise((resolve) => setTimeout(resolve, 0));
  probe.interactiveMs = performance.now();
  probe.ready = true;
  performance.mark("nasboard-interactive");
  document.body.dataset.ready = "1";
  for (const c of initial) if (fitness.plotted.has(c.id)) probe.plottedAt[c.id] = Date.now();
  showEmpty();
  watchTableScroll();
  refreshController();
  showGroup();
  if (multiObjective()) {
    $("hypervolume-panel").classList.remove("hidden");
    hypervolume.start();
  }
  if (predictsLatency()) latency.start(); // its panel shows once a candidate has both figures
  parcoords = new ParcoordsChart($("parcoords-chart"), $("parcoords-note"), {
    filter: brush,
    rows: all,
    decisionNames: () => importance.topDecisions(PARCOORDS_DECISIONS),
    fetchDecisions: (names) => api.decisions(searchId, names, PARCOORDS_DECISIONS),
  });
  importance.start(); // after the page is interactive: it is a summary, not the live view
  feed = new LiveFeed(searchId, cursor, {
    onCandidates: mergeCandidates,
    onSearch: (upd) => {
      search = { ...search, ...upd };
      searchFetchedAt = Date.now();
      renderHeader();
    },
    onMode: (mode) => {
      probe.mode = mode;
      showMode();
    },
  });
  feed.setTerminal(search.status);
  feed.start();
  keepSnapshot(search.created_at);
  // Summaries, not the live view: started once the page is interactive and the feed is running.
  startActivity({
    searchId,
    isRunning,
    onSelect: openCandidate,
  });
}

/** Store the candidates for the next visit now (off the critical path) and again as they change. */
function keepSnapshot(created) {
  let savedCursor = null;
  const save = () => {
    if (!feed || feed.cursor === savedCursor) return;
    savedCursor = feed.cursor;
    saveSnapshot(searchId, created, feed.cursor, all());
  };
  setTimeout(save, 1000);
  setInterval(save, SNAPSHOT_EVERY_MS);
  addEventListener("pagehide", save);
}

start().catch((err) => {
  $("page-error").textContent = t("search.load_failed", { id: searchId, error: err.message });
});
