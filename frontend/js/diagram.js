// Architecture diagrams drawn with Plotly from the API's `graph` ({kind, nodes, edges}):
// a chain (the `layers` space) becomes a vertical stack of blocks with kind, shape and parameters;
// any other graph (an NB-201 cell) becomes a left-to-right DAG with one labelled, curved edge per operation.

import { baseLayout, palette, plotConfig } from "./theme.js";
import { fmtCount, fmtInt } from "./format.js";
import { t } from "./i18n.js";
import { nameText } from "./server-text.js";

// plotly.js is a classic script that may finish loading after this module: look it up at call time.
const plotly = () => window.Plotly;
const hidden = { visible: false, fixedrange: true };

function nodeKind(n) {
  return n.kind ?? n.op ?? n.type ?? n.layer ?? "";
}

function nodeShape(n) {
  const s = n.shape ?? n.out_shape ?? n.output_shape;
  return Array.isArray(s) ? s.join("×") : s ?? "";
}

function nodeParams(n) {
  return typeof n.params === "number" ? n.params : null;
}

/** Every scalar field of a node, for the hover box. */
function nodeDetails(n) {
  const rows = [];
  for (const [k, v] of Object.entries(n)) {
    if (k === "id" || v === null || v === undefined || typeof v === "object") {
      if (Array.isArray(v)) rows.push(`${k}: ${v.join("×")}`);
      continue;
    }
    rows.push(`${k}: ${k === "params" && typeof v === "number" ? fmtInt(v) : v}`);
  }
  return rows.join("<br>");
}

export function isChain(graph) {
  const ins = new Map();
  const outs = new Map();
  for (const e of graph.edges) {
    outs.set(e.source, (outs.get(e.source) || 0) + 1);
    ins.set(e.target, (ins.get(e.target) || 0) + 1);
  }
  // A cell is always drawn as a DAG (its edges are the operations), even when it happens to be a chain.
  if (/cell|dag/i.test(graph.kind || "")) return false;
  return graph.nodes.every((n) => (ins.get(n.id) || 0) <= 1 && (outs.get(n.id) || 0) <= 1);
}

/** Nodes of a chain in order, following edges from the node with no input. */
function chainOrder(graph) {
  const next = new Map(graph.edges.map((e) => [e.source, e.target]));
  const targets = new Set(graph.edges.map((e) => e.target));
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const start = graph.nodes.find((n) => !targets.has(n.id)) || graph.nodes[0];
  const order = [];
  const seen = new Set();
  for (let id = start && start.id; id !== undefined && !seen.has(id); id = next.get(id)) {
    seen.add(id);
    if (byId.has(id)) order.push(byId.get(id));
  }
  for (const n of graph.nodes) if (!seen.has(n.id)) order.push(n); // disconnected leftovers
  return order;
}

function drawStack(el, graph) {
  const p = palette();
  const nodes = chainOrder(graph);
  const H = 1;
  const GAP = 0.45;
  const shapes = [];
  const annotations = [];
  const cx = [];
  const cy = [];
  const hover = [];
  nodes.forEach((n, i) => {
    const top = -i * (H + GAP);
    const kind = nodeKind(n);
    const io = i === 0 || i === nodes.length - 1;
    shapes.push({
      type: "rect",
      x0: 0,
      x1: 10,
      y0: top - H,
      y1: top,
      line: { color: io ? p.muted : p.accent, width: 1.5 },
      fillcolor: io ? p.grid : `${p.accent}22`,
      layer: "below",
    });
    const params = nodeParams(n);
    const sub = [nodeShape(n), params !== null ? t("diagram.params", { n: fmtCount(params) }) : ""].filter(Boolean).join(" · ");
    const label = String(n.label ?? "");
    const title = !label || label === kind ? kind || String(n.id) : label.startsWith(kind) ? label : `${kind}: ${label}`;
    annotations.push({
      x: 5,
      y: top - H / 2,
      text: `<b>${nameText(title)}</b>${sub ? `<br><span style="font-size:11px">${sub}</span>` : ""}`,
      showarrow: false,
      font: { color: p.fg, size: 12 },
    });
    if (i > 0) {
      annotations.push({
        x: 5,
        y: top,
        ax: 5,
        ay: top + GAP,
        xref: "x",
        yref: "y",
        axref: "x",
        ayref: "y",
        showarrow: true,
        arrowhead: 2,
        arrowcolor: p.muted,
        text: "",
      });
    }
    cx.push(5);
    cy.push(top - H / 2);
    hover.push(nodeDetails(n));
  });
  const total = nodes.length * (H + GAP);
  const trace = {
    type: "scatter",
    mode: "markers",
    x: cx,
    y: cy,
    hovertext: hover,
    hoverinfo: "text",
    marker: { size: 40, opacity: 0 },
    showlegend: false,
  };
  const layout = baseLayout({
    xaxis: { ...hidden, range: [-0.2, 10.2] },
    yaxis: { ...hidden, range: [-total, GAP / 2] },
    shapes,
    annotations,
    margin: { l: 8, r: 8, t: 8, b: 8 },
    height: Math.max(220, nodes.length * 62 + 20),
    showlegend: false,
  });
  el.dataset.nodes = String(nodes.length);
  el.dataset.kind = "stack";
  return plotly().react(el, [trace], layout, { ...plotConfig, displayModeBar: false });
}

/** Longest-path depth of every node (sources at 0); cycles are broken by visiting each node once. */
function depths(graph) {
  const preds = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const e of graph.edges) if (preds.has(e.target)) preds.get(e.target).push(e.source);
  const memo = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (memo.has(id)) return memo.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const ps = preds.get(id) || [];
    const d = ps.length ? 1 + Math.max(...ps.map(depth)) : 0;
    memo.set(id, d);
    return d;
  };
  for (const n of graph.nodes) depth(n.id);
  return memo;
}

const DIM_OPS = /^(none|zero|zeroize)$/;

function drawDag(el, graph) {
  const p = palette();
  const d = depths(graph);
  const columns = new Map();
  for (const n of graph.nodes) {
    const k = d.get(n.id) || 0;
    if (!columns.has(k)) columns.set(k, []);
    columns.get(k).push(n);
  }
  const pos = new Map();
  for (const [k, col] of columns) col.forEach((n, i) => pos.set(n.id, { x: k * 3, y: (i - (col.length - 1) / 2) * 2 }));
  const shapes = [];
  const annotations = [];
  const edgeCount = new Map();
  const spanCount = new Map();
  let maxBend = 1;
  graph.edges.forEach((e, i) => {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) return;
    const span = Math.abs(b.x - a.x) / 3;
    // Edges skipping columns bend away from the nodes between them, alternating above and below;
    // parallel edges between the same pair fan out.
    const key = `${e.source}->${e.target}`;
    const dup = edgeCount.get(key) || 0;
    edgeCount.set(key, dup + 1);
    const nth = spanCount.get(span) || 0;
    spanCount.set(span, nth + 1);
    const sign = nth % 2 === 0 ? 1 : -1;
    const bend = span > 1 || dup ? sign * (0.9 * span + 0.6 * dup) : 0;
    maxBend = Math.max(maxBend, Math.abs(bend));
    const c = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 + bend * 2 };
    const op = String(e.label ?? e.op ?? "");
    const dim = DIM_OPS.test(op);
    const color = dim ? p.muted : p.series[i % p.series.length];
    shapes.push({
      type: "path",
      path: `M ${a.x} ${a.y} Q ${c.x} ${c.y} ${b.x} ${b.y}`,
      line: { color, width: dim ? 1 : 2, dash: dim ? "dot" : op.startsWith("skip") ? "dash" : "solid" },
      layer: "below",
    });
    // Arrowhead along the curve's final tangent (b - c), stopping at the node's rim.
    const tx = b.x - c.x;
    const ty = b.y - c.y;
    const len = Math.hypot(tx, ty) || 1;
    annotations.push({
      x: b.x,
      y: b.y,
      ax: b.x - (0.35 * tx) / len,
      ay: b.y - (0.35 * ty) / len,
      xref: "x",
      yref: "y",
      axref: "x",
      ayref: "y",
      showarrow: true,
      arrowhead: 2,
      arrowsize: 1.2,
      arrowcolor: color,
      standoff: 11,
      text: "",
    });
    // Label at the curve's midpoint: 0.25 a + 0.5 c + 0.25 b.
    annotations.push({
      x: 0.25 * a.x + 0.5 * c.x + 0.25 * b.x,
      y: 0.25 * a.y + 0.5 * c.y + 0.25 * b.y,
      text: op,
      showarrow: false,
      font: { size: 11, color: dim ? p.muted : p.fg },
      bgcolor: p.bg,
      borderpad: 2,
      opacity: 0.95,
    });
  });
  const nodes = graph.nodes.filter((n) => pos.has(n.id));
  const trace = {
    type: "scatter",
    mode: "markers+text",
    x: nodes.map((n) => pos.get(n.id).x),
    y: nodes.map((n) => pos.get(n.id).y),
    text: nodes.map((n) => nameText(n.label ?? n.id)),
    hovertext: nodes.map(nodeDetails),
    hoverinfo: "text",
    textposition: "bottom center", // under the node, clear of the edges running through its middle
    textfont: { color: p.fg, size: 12 },
    marker: { size: 22, color: p.bg, line: { color: p.accent, width: 2 } },
    showlegend: false,
  };
  const xs = [...pos.values()].map((q) => q.x);
  const ys = [...pos.values()].map((q) => q.y);
  const pad = maxBend * 1.2 + 1;
  const layout = baseLayout({
    xaxis: { ...hidden, range: [Math.min(...xs) - 1, Math.max(...xs) + 1] },
    yaxis: { ...hidden, range: [Math.min(...ys) - pad, Math.max(...ys) + pad] },
    shapes,
    annotations,
    margin: { l: 8, r: 8, t: 8, b: 8 },
    height: 320,
    showlegend: false,
  });
  el.dataset.nodes = String(nodes.length);
  el.dataset.edges = String(graph.edges.length);
  el.dataset.kind = "dag";
  return plotly().react(el, [trace], layout, { ...plotConfig, displayModeBar: false });
}

export function drawArchitecture(el, graph) {
  if (!graph || !Array.isArray(graph.nodes) || !graph.nodes.length) {
    el.textContent = t("diagram.none");
    return Promise.resolve();
  }
  graph = { ...graph, edges: graph.edges || [] };
  return isChain(graph) ? drawStack(el, graph) : drawDag(el, graph);
}
