// Two runs side by side: per task, the latest status, how many executions, the time
// spent, and whether the latest results differ; the same reducer as the run page.

import { get, traceAll } from "./api.js";
import { h, clear } from "./dom.js";
import { apply, emptyRun, duration, STATUS_WORDS } from "./state.js";
import { GLYPHS } from "./graph.js";
import { statusBadge } from "./runs.js";

async function load(runId) {
  const run = await get(`/runs/${encodeURIComponent(runId)}`);
  const state = emptyRun();
  await traceAll(runId, (events) => { for (const event of events) apply(state, event); });
  return { run, state };
}

function spent(state, task) {
  const summary = state.nodes.get(task);
  if (!summary) return 0;
  let total = 0;
  for (const id of summary.executions) {
    const e = state.executions.get(id);
    total += (e.endedAt ?? e.startedAt) - e.startedAt;
  }
  return total;
}

function latestResult(state, task) {
  const summary = state.nodes.get(task);
  if (!summary || !summary.executions.length) return null;
  const e = state.executions.get(summary.executions[summary.executions.length - 1]);
  return e.result ?? (e.error ? JSON.stringify(e.error) : null);
}

export async function showCompare(main, query) {
  const ids = [query.get("a"), query.get("b")];
  if (!ids[0] || !ids[1]) {
    clear(main).append(h("h1", { text: "Compare runs" }), h("p", { text: "Pick two runs in the runs list (the checkboxes), then Compare." }));
    return null;
  }
  const [a, b] = await Promise.all(ids.map(load));
  const graph = await get(`/workflows/${encodeURIComponent(a.run.workflowId)}/graph?version=${a.run.workflowVersion}`);
  const tasks = [...new Set([...graph.nodes.map((n) => n.id), ...a.state.nodes.keys(), ...b.state.nodes.keys()])];
  const cell = (state, task) => {
    const summary = state.nodes.get(task);
    const status = summary ? summary.status : "pending";
    return h("td", { class: `status-${status}` }, `${GLYPHS[status] || ""} ${STATUS_WORDS[status] || status}`,
      summary ? ` · ×${summary.executions.length} · ${duration(0, spent(state, task))}` : "");
  };
  const rows = tasks.map((task) => {
    const ra = latestResult(a.state, task), rb = latestResult(b.state, task);
    const sa = a.state.nodes.get(task), sb = b.state.nodes.get(task);
    const same = (sa?.status ?? "pending") === (sb?.status ?? "pending") && (sa?.executions.length ?? 0) === (sb?.executions.length ?? 0) && ra === rb;
    return h("tr", { class: same ? null : "differs", "data-task": task },
      h("th", { scope: "row", text: task }), cell(a.state, task), cell(b.state, task),
      h("td", { text: same ? "same" : ra === rb ? "status or count differ" : "result differs" }));
  });
  const head = (x) => h("th", { scope: "col" }, h("a", { href: `#/runs/${encodeURIComponent(x.run.runId)}`, text: x.run.runId.slice(0, 12) }), " ",
    `${x.run.workflowId} v${x.run.workflowVersion} `, statusBadge(x.run.status));
  const output = JSON.stringify(a.run.output) === JSON.stringify(b.run.output);
  clear(main).append(h("h1", { text: "Compare runs" }),
    h("p", { text: output ? "The outputs are equal." : "The outputs differ." }),
    h("table", { class: "list compare", id: "compare" },
      h("caption", { class: "visually-hidden", text: "per task: status, executions, time spent, results" }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Task" }), head(a), head(b), h("th", { scope: "col", text: "Difference" }))),
      h("tbody", {}, rows)));
  return null;
}
