// The candidate table: sortable, filterable and paginated, so 10,000 rows cost one page of DOM.
// Rows link to the candidate page; checkboxes pick candidates for the compare page.

import { esc, fmtClock, fmtCount, fmtInt, fmtNumber, metricLabel, parseTime, statusBadge } from "./format.js";
import { t } from "./i18n.js";
import { generationOf } from "./fitness-chart.js";

const PAGE_SIZE = 50;
const COUNT_METRICS = new Set(["params", "flops"]);
const PREFERRED = ["val_accuracy", "val_f1", "val_loss", "params", "flops", "latency_ms", "seconds"];

export class CandidateTable {
  constructor(root, { onOpen, onSelectionChange, onTextFilter, rowFilter } = {}) {
    this.root = root;
    this.table = root.querySelector("table");
    this.onOpen = onOpen;
    this.onSelectionChange = onSelectionChange;
    this.onTextFilter = onTextFilter;
    this.rowFilter = rowFilter; // () => a predicate (the page's brushed ranges) or null
    this.rows = [];
    this.metrics = [];
    this.sort = { key: "fitness", dir: -1 };
    this.page = 0;
    this.selected = new Set();
    this.statusFilter = root.querySelector("[data-filter=status]");
    this.textFilter = root.querySelector("[data-filter=text]");
    this.pager = root.querySelector(".pager");
    this.statusFilter.addEventListener("change", () => this._refilter());
    this.textFilter.addEventListener("input", () => {
      if (this.onTextFilter) this.onTextFilter(); // e.g. fetch the genomes the first read left out
      this._refilter();
    });
    this.table.addEventListener("click", (ev) => this._click(ev));
    this.pager.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-page]");
      if (!b) return;
      this.page = Number(b.dataset.page);
      this.render();
    });
  }

  /** Replace the data (the page keeps one Map of candidates; this receives its values). */
  setRows(rows) {
    this.rows = rows;
    const seen = new Set();
    for (const r of rows) for (const k of Object.keys(r.metrics || {})) seen.add(k);
    const ordered = PREFERRED.filter((k) => seen.has(k));
    const extra = [...seen].filter((k) => !PREFERRED.includes(k)).sort();
    this.metrics = [...ordered, ...extra].slice(0, 7);
    // Multi-fidelity searches: a rung column once any candidate has been promoted.
    this.showRung = rows.some((r) => r.rung > 0);
    this.render();
  }

  _columns() {
    return [
      { key: "select", title: "", sortable: false },
      { key: "id", title: "#" },
      { key: "status", title: t("table.status") },
      { key: "label", title: t("table.architecture") },
      { key: "fitness", title: t("table.fitness") },
      ...(this.showRung ? [{ key: "rung", title: t("table.rung") }] : []),
      ...this.metrics.map((m) => ({ key: `m:${m}`, title: metricLabel(m) })),
      { key: "generation", title: t("table.generation") },
      { key: "finished", title: t("table.finished") },
    ];
  }

  _value(r, key) {
    if (key === "finished") return parseTime(r.finished_at);
    if (key === "generation") return generationOf(r);
    if (key.startsWith("m:")) return r.metrics ? r.metrics[key.slice(2)] : undefined;
    return r[key];
  }

  _filtered() {
    const status = this.statusFilter.value;
    const text = this.textFilter.value.trim().toLowerCase();
    let rows = this.rows;
    if (status) rows = rows.filter((r) => r.status === status);
    const brushed = this.rowFilter && this.rowFilter();
    if (brushed) rows = rows.filter(brushed);
    if (text) {
      rows = rows.filter((r) => {
        const hay = `${r.id} ${r.label || ""} ${r.error || ""} ${JSON.stringify(r.genome || {})}`;
        return hay.toLowerCase().includes(text);
      });
    }
    const { key, dir } = this.sort;
    const val = (r) => this._value(r, key);
    // Missing values sort last whatever the direction.
    return [...rows].sort((a, b) => {
      const va = val(a);
      const vb = val(b);
      const na = va === null || va === undefined;
      const nb = vb === null || vb === undefined;
      if (na || nb) return na === nb ? a.id - b.id : na ? 1 : -1;
      if (typeof va === "number" && typeof vb === "number") return dir * (va - vb) || a.id - b.id;
      return dir * String(va).localeCompare(String(vb)) || a.id - b.id;
    });
  }

  /** Every row the filters keep, in the table's sort order, across all pages (for the export). */
  shownRows() {
    return this._filtered();
  }

  /** Back to the first page after any filter changed (the page's brush included). */
  refilter() {
    this._refilter();
  }

  _refilter() {
    this.page = 0;
    this.render();
  }

  render() {
    const cols = this._columns();
    const rows = this._filtered();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    this.page = Math.min(this.page, pages - 1);
    const slice = rows.slice(this.page * PAGE_SIZE, (this.page + 1) * PAGE_SIZE);
    const arrow = (k) => (this.sort.key === k ? (this.sort.dir > 0 ? " ▲" : " ▼") : "");
    const head = cols
      .map((c) =>
        c.sortable === false
          ? "<th></th>"
          : `<th><button type="button" data-sort="${esc(c.key)}">${esc(c.title)}${arrow(c.key)}</button></th>`,
      )
      .join("");
    const body = slice
      .map((r) => {
        const cells = cols.map((c) => `<td>${this._cell(r, c.key)}</td>`).join("");
        return `<tr data-id="${r.id}" class="row-${esc(r.status)}">${cells}</tr>`;
      })
      .join("");
    this.table.innerHTML = `<thead><tr>${head}</tr></thead><tbody>${body}</tbody>`;
    this.table.dataset.rows = String(rows.length);
    this._pager(rows.length, pages);
  }

  _cell(r, key) {
    if (key === "select") {
      const checked = this.selected.has(r.id) ? " checked" : "";
      return `<input type="checkbox" aria-label="${esc(t("table.select", { id: r.id }))}" data-select="${r.id}"${checked}>`;
    }
    if (key === "id") return `<a href="/candidates/${r.id}">${r.id}</a>`;
    if (key === "status") {
      const err = r.error ? ` title="${esc(r.error)}"` : "";
      return `<span${err}>${statusBadge(r.status)}</span>`;
    }
    if (key === "label") return `<span class="mono clip" title="${esc(r.label)}">${esc(r.label || "")}</span>`;
    if (key === "fitness") return fmtNumber(r.fitness);
    if (key === "rung") {
      const epochs = r.epochs === null || r.epochs === undefined ? "" : ` · ${esc(t("table.epochs_short", { n: r.epochs }))}`;
      return `<span title="${esc(t("table.rung_tip", { n: r.rung }))}">${r.rung}${epochs}</span>`;
    }
    if (key === "finished") return r.finished_at ? esc(fmtClock(parseTime(r.finished_at))) : "–";
    const v = this._value(r, key);
    if (key.startsWith("m:") && COUNT_METRICS.has(key.slice(2))) return fmtCount(v);
    return v === null || v === undefined ? "–" : fmtNumber(v);
  }

  _pager(total, pages) {
    const from = total ? this.page * PAGE_SIZE + 1 : 0;
    const to = Math.min(total, (this.page + 1) * PAGE_SIZE);
    const btn = (label, page, disabled) =>
      `<button type="button" data-page="${page}"${disabled ? " disabled" : ""}>${label}</button>`;
    this.pager.innerHTML =
      `${btn("«", 0, this.page === 0)}${btn("‹", this.page - 1, this.page === 0)}` +
      `<span>${esc(t("pager.range", { from: fmtInt(from), to: fmtInt(to), total: fmtInt(total) }))}</span>` +
      `${btn("›", this.page + 1, this.page >= pages - 1)}${btn("»", pages - 1, this.page >= pages - 1)}`;
  }

  _click(ev) {
    const sortBtn = ev.target.closest("button[data-sort]");
    if (sortBtn) {
      const key = sortBtn.dataset.sort;
      this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : key === "fitness" ? -1 : 1 };
      this.page = 0;
      this.render();
      return;
    }
    const box = ev.target.closest("input[data-select]");
    if (box) {
      const id = Number(box.dataset.select);
      if (box.checked) this.selected.add(id);
      else this.selected.delete(id);
      if (this.onSelectionChange) this.onSelectionChange([...this.selected]);
      return;
    }
    if (ev.target.closest("a")) return;
    const tr = ev.target.closest("tr[data-id]");
    if (tr && this.onOpen) this.onOpen(Number(tr.dataset.id));
  }
}
