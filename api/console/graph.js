// The definition graph: laid out once per workflow version by dagre (layered, cycles
// as back edges) so the picture never moves while a run goes on; a run only recolours
// nodes and edges. SVG, one <g> per node, keyboard-focusable, labelled for readers.

import dagre from "./vendor/dagre.esm.js";
import { h, s, clear } from "./dom.js";
import { STATUS_WORDS } from "./state.js";
import { explainEdge } from "./why.js";

const NODE_HEIGHT = 46;
const CHAR_WIDTH = 7.4;
const LARGE_GRAPH = 150; // tasks
const ARROWS = { ArrowDown: [0, 1], ArrowUp: [0, -1], ArrowRight: [1, 0], ArrowLeft: [-1, 0] };
// Shapes beside colours: each status also has its own glyph (colour-blind safe).
export const GLYPHS = { pending: "○", running: "▶", waiting: "◐", succeeded: "✓", failed: "✗", canceled: "⊘" };

function width(node) {
  const label = Math.max(node.id.length, (node.action || node.workflow || "").length * 0.85);
  return Math.max(120, Math.min(320, Math.round(label * CHAR_WIDTH) + 48));
}

function subtitle(node) {
  if (node.kind === "join") return `join ${node.join}`;
  if (node.kind === "workflow") return `workflow ${node.workflow || ""}`;
  if (node.kind === "action") return node.action || "";
  return "pass-through";
}

/** Lay out and draw `view` (GET /workflows/{name}/graph) into `container`. */
export function drawGraph(container, view, { onSelect } = {}) {
  const layout = new dagre.graphlib.Graph({ multigraph: true });
  // Large graphs: dagre's network-simplex ranking and its crossing-reduction sweeps grow
  // much faster than the graph (a 500-task graph took 20 s); the tight-tree ranker and a
  // single ordering pass draw it in well under 2 s (docs/performance.md).
  const large = view.nodes.length > LARGE_GRAPH;
  layout.setGraph({
    rankdir: "TB", nodesep: 28, ranksep: 44, edgesep: 12, marginx: 16, marginy: 16,
    acyclicer: "greedy", ranker: large ? "tight-tree" : "network-simplex",
  });
  layout.setDefaultEdgeLabel(() => ({}));
  for (const node of view.nodes) layout.setNode(node.id, { width: width(node), height: NODE_HEIGHT });
  layout.setNode("\u0000start", { width: 22, height: 22 });
  for (const entry of view.entries) layout.setEdge("\u0000start", entry, {}, `start-${entry}`);
  view.edges.forEach((edge, index) => layout.setEdge(edge.from, edge.to, { index }, `e${index}`));
  performance.mark("segue:layout-start");
  dagre.layout(layout, { disableOptimalOrderHeuristic: large });
  performance.mark("segue:layout-end");
  const size = layout.graph();

  const svg = s("svg", {
    class: "graph", viewBox: `0 0 ${Math.ceil(size.width)} ${Math.ceil(size.height)}`,
    width: Math.ceil(size.width), height: Math.ceil(size.height), role: "group",
    "aria-label": `graph of ${view.name} version ${view.version}: ${view.nodes.length} tasks`,
  });
  svg.append(s("defs", {},
    s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" })),
    s("marker", { id: "arrow-taken", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead taken" }))));

  const edgeLayer = s("g", { class: "edges" });
  const edges = new Map(); // "from->to" -> [{path, label, edge}]
  for (const key of layout.edges()) {
    const info = layout.edge(key);
    const points = info.points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`);
    const path = s("path", { d: `M ${points.join(" L ")}`, class: key.v === "\u0000start" ? "edge entry" : "edge", "marker-end": "url(#arrow)" });
    // A wide invisible stroke under the drawn one: an edge is easy to point at.
    const hit = s("path", { d: path.getAttribute("d"), class: "edge-hit" });
    const group = s("g", { class: "edge-group" }, hit, path);
    if (key.v !== "\u0000start") {
      const edge = view.edges[info.index];
      const back = layout.node(edge.from).y >= layout.node(edge.to).y; // a cycle's back edge
      if (back) path.classList.add("back");
      const mid = info.points[Math.floor(info.points.length / 2)];
      const count = s("text", { x: mid.x + 4, y: mid.y - 4, class: "edge-count" });
      const title = s("title", { text: `${edge.from} → ${edge.to}: transition ${edge.transition}${edge.when ? ` when ${edge.when}` : " (always)"}` });
      group.append(title, count);
      const keyText = `${edge.from}->${edge.to}`;
      if (!edges.has(keyText)) edges.set(keyText, []);
      // `ghost`: the what-if's dashed edge, made the first time a what-if is drawn.
      const item = { path, count, title, edge, group, mid, ghost: null, ghostCount: null, base: title.textContent, whatIf: "" };
      group.dataset.from = edge.from;
      group.dataset.to = edge.to;
      group.dataset.transition = String(edge.transition);
      edges.get(keyText).push(item);
      // Hover or focus: say why the edge was taken (the `title` says it to screen readers).
      const show = (x, y) => showWhy(title.textContent, x, y);
      group.addEventListener("mouseenter", (event) => show(event.clientX + 12, event.clientY + 12));
      group.addEventListener("focus", () => { const box = path.getBoundingClientRect(); show(box.right + 8, box.top); });
      group.addEventListener("mouseleave", hideWhy);
      group.addEventListener("blur", hideWhy);
    }
    edgeLayer.append(group);
  }
  svg.append(edgeLayer);
  const why = h("div", { class: "edge-why", role: "tooltip", id: "edge-why" });
  why.hidden = true;
  function showWhy(text, x, y) {
    why.textContent = text;
    why.style.left = `${Math.round(x)}px`;
    why.style.top = `${Math.round(y)}px`;
    why.hidden = false;
  }
  function hideWhy() { why.hidden = true; }

  const nodeLayer = s("g", { class: "nodes" });
  const nodes = new Map();
  const start = layout.node("\u0000start");
  nodeLayer.append(s("circle", { cx: start.x, cy: start.y, r: 9, class: "start" }, s("title", { text: "start" })));
  for (const node of view.nodes) {
    const box = layout.node(node.id);
    const x = box.x - box.width / 2, y = box.y - box.height / 2;
    const glyph = s("text", { x: x + 10, y: y + 19, class: "glyph", "aria-hidden": "true", text: GLYPHS.pending });
    const counter = s("text", { x: x + box.width - 8, y: y + 19, class: "counter", "text-anchor": "end" });
    const group = s("g", {
      class: `node kind-${node.kind} status-pending`, tabindex: 0, role: "button", "data-task": node.id,
      "aria-label": `${node.id}: ${STATUS_WORDS.pending}`,
    },
    s("rect", { x, y, width: box.width, height: box.height, rx: node.kind === "join" ? 2 : 10, class: "box" }),
    glyph,
    s("text", { x: x + 28, y: y + 19, class: "name", text: node.id }),
    s("text", { x: x + 28, y: y + 36, class: "sub", text: subtitle(node).slice(0, 44) }),
    counter);
    const select = () => onSelect && onSelect(node.id);
    group.addEventListener("click", select);
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(); return; }
      const step = ARROWS[event.key];
      if (step) { event.preventDefault(); moveFocus(node.id, step); }
    });
    // `ring`, `badge`: the what-if's marks, made the first time a what-if is drawn (a
    // 500-task graph pays nothing for them until then).
    nodes.set(node.id, { group, glyph, counter, node, x, y, width: box.width, height: box.height,
      ring: null, badge: null, label: `${node.id}: ${STATUS_WORDS.pending}`, whatIf: "" });
    nodeLayer.append(group);
  }
  svg.append(nodeLayer);

  // Arrow keys move to the nearest task in that direction (so 500 tasks need no 500 Tabs).
  function moveFocus(from, [dx, dy]) {
    const here = layout.node(from);
    let best = null, bestScore = Infinity;
    for (const [id] of nodes) {
      if (id === from) continue;
      const there = layout.node(id);
      const ax = there.x - here.x, ay = there.y - here.y;
      const along = ax * dx + ay * dy;
      if (along <= 0) continue;
      const across = Math.abs(ax * dy - ay * dx);
      const score = along + 2 * across;
      if (score < bestScore) { bestScore = score; best = id; }
    }
    if (best) nodes.get(best).group.focus();
  }
  // An edge's words: why the run took it (once the run page painted it), then the what-if.
  let painted = null;
  function explain(item) {
    const reason = painted && painted.reasons ? painted.reasons.get(`${item.edge.from}#${item.edge.transition}`) : undefined;
    const count = painted ? painted.transitions.get(`${item.edge.from}->${item.edge.to}`) || 0 : 0;
    const text = (painted ? explainEdge(item.edge, reason, count) : item.base) + item.whatIf;
    if (item.title.textContent === text) return; // every frame repaints: touch only changes
    item.title.textContent = text;
    // Evaluated edges join the tab order, so a keyboard reaches the explanation too.
    if (reason || item.whatIf) {
      item.group.setAttribute("tabindex", "0");
      item.group.setAttribute("aria-label", text);
    } else {
      item.group.removeAttribute("tabindex");
      item.group.removeAttribute("aria-label");
    }
  }
  clear(container).append(svg, why);
  // For measurements (docs/performance.md): the first frame after the graph is in.
  requestAnimationFrame(() => performance.mark("segue:graph-painted"));

  return {
    svg,
    /** Recolour a node from its summary (state.js). */
    paint(task, summary) {
      const entry = nodes.get(task);
      if (!entry) return;
      const status = summary ? summary.status : "pending";
      entry.group.setAttribute("class", `node kind-${entry.node.kind} status-${status}${entry.selected ? " selected" : ""}`);
      entry.glyph.textContent = GLYPHS[status] || "•";
      const runs = summary ? summary.executions.length : 0;
      const c = summary ? summary.counts : null;
      let counter = "";
      if (runs > 1) counter = `×${runs}`;
      if (c && c.failed && runs > 1) counter += ` ${c.failed}✗`;
      entry.counter.textContent = counter;
      const laps = runs > 1 ? `, ${runs} executions` : runs === 1 ? ", 1 execution" : "";
      entry.label = `${task}: ${STATUS_WORDS[status] || status}${laps}`;
      entry.group.setAttribute("aria-label", entry.label + entry.whatIf);
    },
    paintEdges(transitions, reasons) {
      painted = { transitions, reasons };
      for (const [key, list] of edges) {
        const count = transitions.get(key) || 0;
        for (const item of list) {
          item.path.classList.toggle("taken", count > 0);
          item.path.setAttribute("marker-end", count > 0 ? "url(#arrow-taken)" : "url(#arrow)");
          item.count.textContent = count > 1 ? `×${count}` : "";
          explain(item);
        }
      }
    },
    /** Draw a what-if (POST /workflows/{name}/simulate) over the graph; null clears it.
     * Its own marks only (a dashed ring, an "if" badge, a dashed edge with its count), so
     * the real run's colours stay as they are and repaint independently. */
    paintWhatIf(result) {
      for (const [id, entry] of nodes) {
        const sim = result ? result.tasks[id] : undefined;
        if (!entry.ring) {
          if (!result) continue;
          const { x, y, width: w, height: ht } = entry;
          entry.ring = s("rect", { x: x - 5, y: y - 5, width: w + 10, height: ht + 10, rx: 13, class: "whatif-ring" });
          // Under the box (between ranks), so it never covers the node's own words.
          entry.badge = s("text", { x: x + w, y: y + ht + 15, class: "whatif-badge", "text-anchor": "end" });
          entry.group.prepend(entry.ring);
          entry.group.append(entry.badge);
        }
        entry.ring.setAttribute("class", `whatif-ring${sim ? ` shown whatif-${sim.status}` : ""}`);
        entry.badge.textContent = !result ? "" : sim ? `if ${GLYPHS[sim.status] || "•"}${sim.executions > 1 ? ` ×${sim.executions}` : ""}` : "if ○";
        entry.whatIf = !result ? "" : `; what if: ${sim ? `${STATUS_WORDS[sim.status] || sim.status}, ${sim.executions} execution${sim.executions === 1 ? "" : "s"}` : "not reached"}`;
        entry.group.setAttribute("aria-label", entry.label + entry.whatIf);
      }
      const taken = new Map();
      for (const e of result ? result.edges : []) taken.set(`${e.from}#${e.transition}->${e.to}`, e.taken);
      for (const list of edges.values()) {
        for (const item of list) {
          const count = taken.get(`${item.edge.from}#${item.edge.transition}->${item.edge.to}`) || 0;
          if (!item.ghost) {
            if (!result) continue;
            item.ghost = s("path", { d: item.path.getAttribute("d"), class: "edge-whatif" });
            item.ghostCount = s("text", { x: item.mid.x + 4, y: item.mid.y + 12, class: "edge-whatif-count" });
            item.path.after(item.ghost);
            item.group.append(item.ghostCount);
          }
          item.ghost.setAttribute("class", `edge-whatif${count ? " shown" : ""}`);
          item.ghostCount.textContent = count ? `if ×${count}` : "";
          item.whatIf = !result ? "" : count ? `. What if: taken ${count > 1 ? `×${count}` : "once"}` : ". What if: not taken";
          explain(item);
        }
      }
    },
    /** Mark the tasks a validation's findings fall in (`byTask`: task -> [words]). */
    markFindings(byTask) {
      for (const [id, entry] of nodes) {
        const found = byTask.get(id) || [];
        entry.group.classList.toggle("has-finding", found.length > 0);
        entry.glyph.textContent = found.length ? "!" : GLYPHS.pending;
        entry.counter.textContent = found.length ? `⚠ ${found.length}` : "";
        entry.group.setAttribute("aria-label", found.length
          ? `${id}: ${found.length} finding${found.length === 1 ? "" : "s"}: ${found.join("; ")}` : entry.label);
      }
    },
    select(task) {
      for (const [id, entry] of nodes) {
        entry.selected = id === task;
        entry.group.classList.toggle("selected", entry.selected);
      }
    },
    focus(task) { const entry = nodes.get(task); if (entry) entry.group.focus(); },
    tasks: () => [...nodes.keys()],
  };
}
