// The timeline (Gantt): one row per task, one bar per execution; the part of an
// execution spent waiting for an answer is striped, the part spent waiting in line for
// a slot of its task's concurrency limit dotted, the part its last attempt spent in
// Temporal's task queue waiting for a worker hollow; a run that waited for a slot of its
// workflow's own limit has a dotted bar above the tasks. Drawn on a canvas so 10,000 bars stay
// cheap; the inspector's execution list is the accessible equivalent.

import { h } from "./dom.js";

const ROW = 20;
const LABEL = 130;

function colours(canvas) {
  const style = getComputedStyle(canvas);
  const read = (name) => style.getPropertyValue(name).trim();
  return {
    text: read("--fg"), grid: read("--grid"), running: read("--running"), waiting: read("--waiting"),
    background: read("--bg"),
    succeeded: read("--succeeded"), failed: read("--failed"), canceled: read("--canceled"),
  };
}

export function timeline(onPick) {
  const canvas = h("canvas", { class: "timeline", role: "img", "aria-label": "timeline of executions" });
  const scroller = h("div", { class: "timeline-scroll" }, canvas);
  let scale = 1; // zoom factor over "fit to width"
  let last = null;
  const zoom = (factor) => { scale = Math.min(512, Math.max(1, scale * factor)); if (last) draw(...last); };
  const zoomIn = h("button", { type: "button", "aria-label": "zoom in", text: "+" });
  const zoomOut = h("button", { type: "button", "aria-label": "zoom out", text: "−" });
  const fit = h("button", { type: "button", text: "fit" });
  zoomIn.addEventListener("click", () => zoom(2));
  zoomOut.addEventListener("click", () => zoom(0.5));
  fit.addEventListener("click", () => { scale = 1; if (last) draw(...last); });
  // Ctrl + wheel zooms (the plain wheel keeps scrolling the page).
  scroller.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    zoom(event.deltaY < 0 ? 1.25 : 0.8);
  }, { passive: false });
  let hits = [];
  canvas.addEventListener("click", (event) => {
    const rect = canvas.getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    const hit = hits.find((b) => x >= b.x0 - 2 && x <= b.x1 + 2 && y >= b.y0 && y <= b.y1);
    if (hit) onPick(hit.execution);
  });

  function draw(state, tasks, now) {
    last = [state, tasks, now];
    const rows = tasks.filter((t) => state.nodes.has(t));
    const admission = state.admission;
    const top = admission ? 1 : 0; // the run's own wait for its slots: a row above the tasks
    const start = state.startedAt ?? now;
    const span = Math.max(1, (state.endedAt ?? now) - start);
    const width = Math.max(scroller.clientWidth - 4, 300) * scale;
    const height = Math.max(1, rows.length + top) * ROW + 24;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    const c = colours(canvas);
    const x = (t) => LABEL + ((t - start) / span) * (width - LABEL - 8);
    g.font = "12px system-ui, sans-serif";
    g.fillStyle = c.text;
    g.strokeStyle = c.grid;
    for (let tick = 0; tick <= 4; tick += 1) {
      const tx = LABEL + (tick / 4) * (width - LABEL - 8);
      g.beginPath(); g.moveTo(tx, 0); g.lineTo(tx, height - 14); g.stroke();
      const at = (span * tick) / 4;
      g.fillText(span < 4000 ? `${Math.round(at)} ms` : `${(at / 1000).toFixed(1)} s`, tx + 2, height - 3);
    }
    hits = [];
    let slotted = 0, queued = 0;
    let admitted = "";
    if (admission) { // outlined and dotted: no execution ran meanwhile
      const a0 = x(admission.from), a1 = Math.max(a0 + 2, x(admission.to ?? now));
      g.fillStyle = c.text;
      g.fillText("(run queued)", 4, 15);
      g.strokeStyle = c.text;
      g.strokeRect(a0, 3, a1 - a0, ROW - 6);
      for (let hx = a0 + 2; hx < a1 - 1; hx += 4) {
        for (let hy = 5; hy < ROW - 5; hy += 4) g.fillRect(hx, hy, 2, 2);
      }
      const waited = ((admission.to ?? now) - admission.from) / 1000;
      admitted = `; the run waited ${waited.toFixed(1)} s for a slot of ${[...new Set(admission.limits)].join(", ")}` +
        (admission.to === null ? " and still waits" : "");
    }
    rows.forEach((task, index) => {
      const y = (index + top) * ROW + 3;
      g.fillStyle = c.text;
      g.fillText(task.length > 17 ? `${task.slice(0, 16)}…` : task, 4, y + 12);
      for (const id of state.nodes.get(task).executions) {
        const e = state.executions.get(id);
        const x0 = x(e.startedAt), x1 = Math.max(x0 + 2, x(e.endedAt ?? now));
        g.fillStyle = c[e.status] || c.running;
        g.fillRect(x0, y, x1 - x0, ROW - 6);
        if (e.waitingAt != null) { // hatch the waiting part
          const w0 = x(e.waitingAt), w1 = x(e.endedAt ?? now);
          g.fillStyle = c.waiting;
          for (let hx = w0; hx < w1; hx += 6) g.fillRect(hx, y, Math.min(3, w1 - hx), ROW - 6);
        }
        for (const wait of e.slotWaits || []) { // dot the waits for a slot
          const end = wait.to ?? (e.endedAt == null ? now : null);
          if (end == null) continue; // never closed: a run that did not trace its end
          // Dots over the bar, not instead of it: in a with-items execution other items
          // may run meanwhile.
          const s0 = x(wait.from), s1 = Math.max(s0 + 2, x(end));
          g.fillStyle = c.background;
          for (let hx = s0 + 1; hx < s1; hx += 4) {
            for (let hy = y + 1; hy < y + ROW - 7; hy += 4) g.fillRect(hx, hy, 2, 2);
          }
          slotted += 1;
        }
        for (const worker of [...(e.failedWaits || []), e.workerWait]) { // hollow: waits for a worker
          if (!worker || x(worker.to) - x(worker.from) < 2) continue;
          const w0 = Math.max(x0, x(worker.from)), w1 = Math.min(x1, x(worker.to));
          g.fillStyle = c.background;
          g.fillRect(w0 + 1, y + 2, Math.max(0, w1 - w0 - 2), ROW - 10);
          queued += 1;
        }
        hits.push({ x0, x1, y0: y, y1: y + ROW - 6, execution: e });
      }
    });
    canvas.setAttribute("aria-label", `timeline: ${state.executions.size} executions of ${rows.length} tasks over ${(span / 1000).toFixed(1)} s` +
      admitted + (slotted ? `; ${slotted} waits for a slot` : "") + (queued ? `; ${queued} waits for a worker` : ""));
  }

  const element = h("section", { class: "timeline-box", "aria-label": "timeline" },
    h("div", { class: "toolbar" }, h("h2", { text: "Timeline" }), zoomOut, zoomIn, fit,
      h("span", { class: "timeline-legend", text: "stripes: waiting for an answer · dots: waiting for a slot · hollow: waiting for a worker" })), scroller);
  return { element, draw };
}
