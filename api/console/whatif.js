// What if: change the mocked outcome of a task (a result, an error, an HTTP status code)
// and see the path a run would take instead. The server runs the simulator — the same
// coordinator as a real run — on the workflow version (POST /workflows/{name}/simulate);
// the page draws its answer over the graph in its own marks and lists how it differs
// from the real run. A run page starts from the run's export (its input and every
// recorded result as mocks), a workflow page from its start form's input and no mocks.

import { post } from "./api.js";
import { h, clear, problemBox, announce } from "./dom.js";
import { STATUS_WORDS } from "./state.js";

const RUN_STATUS = { COMPLETED: "succeeded", FAILED: "failed", CANCELLED: "canceled", TERMINATED: "canceled", TIMED_OUT: "failed" };

/** The run status of the API (COMPLETED, …) in the simulator's words (succeeded, …). */
export const simulatedStatus = (status) => RUN_STATUS[status] || "running";

function words(summary) {
  if (!summary || !summary.executions) return "not reached";
  return `${STATUS_WORDS[summary.status] || summary.status}, ${summary.executions} execution${summary.executions === 1 ? "" : "s"}`;
}

/** `mocks` with `task` (at start `start`, or every start when null) given `outcome`,
 * first in the list so that it wins (the simulator takes the first entry that matches). */
export function changeMock(mocks, task, start, outcome) {
  const hits = (m) => m.task === task && (start === null || m.iteration === undefined || m.iteration === start);
  const previous = mocks.find(hits);
  const entry = { task };
  if (start !== null) entry.iteration = start;
  if (outcome.kind === "fail") {
    Object.assign(entry, { status: "failed", error: { type: outcome.type || "failed", message: outcome.message } });
  } else if (outcome.kind === "status") {
    // http.request's result with another status code: the rest of the recorded answer kept.
    const base = previous && previous.result && typeof previous.result === "object" && !Array.isArray(previous.result) ? previous.result : {};
    entry.result = { ...base, status: outcome.code };
  } else {
    entry.result = outcome.result;
  }
  const kept = mocks.filter((m) => !(m.task === task && (start === null || m.iteration === start)));
  return [entry, ...kept];
}

/**
 * The what-if panel. `load()` gives the starting `{input, mocks}`; `real()` the real run
 * to compare with (`{status, tasks: Map task -> {executions, status}}`) or null.
 */
export function whatIfPanel({ name, version, graph, drawn, load, real }) {
  const tasks = graph.nodes.filter((n) => n.kind === "action" || n.kind === "workflow");
  const kinds = new Map(graph.nodes.map((n) => [n.id, n]));
  const field = (id, label, control) => h("span", {}, h("label", { for: id, text: label }), " ", control);
  const task = h("select", { id: "whatif-task" }, tasks.map((n) => h("option", { value: n.id, text: `${n.id} (${n.action || n.workflow})` })));
  const start = h("input", { type: "number", id: "whatif-start", min: 1, size: 5, placeholder: "every" });
  const outcome = h("select", { id: "whatif-outcome" },
    h("option", { value: "succeed", text: "succeeds with a result" }),
    h("option", { value: "fail", text: "fails with an error" }),
    h("option", { value: "status", text: "answers another HTTP status" }));
  const result = h("textarea", { id: "whatif-result", rows: 3, cols: 40, spellcheck: "false", text: "null" });
  const errorType = h("input", { type: "text", id: "whatif-error-type", value: "failed", size: 12 });
  const errorMessage = h("input", { type: "text", id: "whatif-error", value: "mocked failure", size: 30 });
  const code = h("input", { type: "number", id: "whatif-code", min: 100, max: 599, value: 500, size: 5 });
  const change = h("button", { type: "button", text: "Change the mock" });
  const input = h("textarea", { id: "whatif-input", rows: 3, cols: 40, spellcheck: "false", text: "{}" });
  const mocks = h("textarea", { id: "whatif-mocks", rows: 8, cols: 60, spellcheck: "false", text: "[]" });
  const simulate = h("button", { type: "submit", class: "primary", text: "Simulate" });
  const clearButton = h("button", { type: "button", text: "Clear the what-if" });
  const out = h("div", { id: "whatif-result-box", "aria-live": "polite" });
  const succeedRow = h("div", { class: "row" }, field("whatif-result", "result (JSON)", result));
  const failRow = h("div", { class: "row" }, field("whatif-error-type", "error type", errorType), field("whatif-error", "message", errorMessage));
  const statusRow = h("div", { class: "row" }, field("whatif-code", "HTTP status", code));
  const form = h("form", { "aria-label": "what if" },
    h("fieldset", {}, h("legend", { text: "Change one task's outcome" }),
      tasks.length ? null : h("p", { class: "muted", text: "No task runs an action or a child workflow: nothing to mock." }),
      h("div", { class: "row" }, field("whatif-task", "task", task), field("whatif-start", "start #", start), field("whatif-outcome", "outcome", outcome)),
      succeedRow, failRow, statusRow, change),
    h("div", {}, h("label", { for: "whatif-mocks", text: "Mocks (JSON, the mocks document of segue simulate; first match wins)" }), h("br"), mocks),
    h("div", {}, h("label", { for: "whatif-input", text: "Run input (JSON)" }), h("br"), input),
    h("div", { class: "row" }, simulate, clearButton),
    h("p", { class: "muted" }, "On the graph, ", h("span", { class: "key", text: "a dashed violet ring and “if ✓ ×N”" }),
      " mark the tasks the what-if runs (“if ○”: not reached), and ", h("span", { class: "key", text: "a dashed violet edge “if ×N”" }),
      " a transition it takes; the run's own colours stay as they were."), out);
  const panel = h("details", { class: "card whatif", id: "whatif" },
    h("summary", { text: "What if… (change a mocked outcome, see the path the run would take)" }), form);

  const parse = (area, what) => {
    try { return JSON.parse(area.value || "null"); } catch (error) { throw new Error(`${what} is not JSON: ${error.message}`); }
  };
  const startNumber = () => (start.value === "" ? null : Math.max(1, Math.floor(Number(start.value))));
  function showOutcomeFields() {
    const node = kinds.get(task.value);
    const http = !!node && node.action === "http.request";
    outcome.querySelector('option[value="status"]').disabled = !http;
    if (!http && outcome.value === "status") outcome.value = "succeed";
    succeedRow.hidden = outcome.value !== "succeed";
    failRow.hidden = outcome.value !== "fail";
    statusRow.hidden = outcome.value !== "status";
  }
  function prefill() {
    // The result recorded for that task (and start), to edit rather than retype.
    let list = [];
    try { list = parse(mocks, "the mocks"); } catch { return; }
    const at = startNumber();
    const found = Array.isArray(list) && list.find((m) => m && m.task === task.value && (at === null || m.iteration === undefined || m.iteration === at));
    result.value = JSON.stringify(found && "result" in found ? found.result : null, null, 2);
    if (found && found.result && typeof found.result.status === "number") code.value = String(found.result.status);
    showOutcomeFields();
  }
  task.addEventListener("change", prefill);
  start.addEventListener("change", prefill);
  outcome.addEventListener("change", showOutcomeFields);
  change.addEventListener("click", () => {
    clear(out);
    try {
      const list = parse(mocks, "the mocks");
      if (!Array.isArray(list)) throw new Error("the mocks must be a JSON list");
      const kind = outcome.value;
      const next = changeMock(list, task.value, startNumber(), kind === "fail"
        ? { kind, type: errorType.value, message: errorMessage.value }
        : kind === "status" ? { kind, code: Math.floor(Number(code.value)) } : { kind, result: parse(result, "the result") });
      mocks.value = JSON.stringify(next, null, 2);
      announce(`mock of ${task.value} changed; press Simulate`);
    } catch (error) { out.append(problemBox(error)); }
  });
  clearButton.addEventListener("click", () => { drawn.paintWhatIf(null); clear(out); announce("what-if cleared"); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(out);
    let body;
    try { body = { version, input: parse(input, "the input"), mocks: parse(mocks, "the mocks") }; } catch (error) { out.append(problemBox(error)); return; }
    simulate.disabled = true;
    try {
      const answer = await post(`/workflows/${encodeURIComponent(name)}/simulate`, body);
      drawn.paintWhatIf(answer);
      out.append(...report(answer, real()));
      announce(`what if: the run would end ${answer.status}`);
    } catch (error) {
      out.append(problemBox(error));
      announce(`what if refused: ${error.message}`);
    } finally { simulate.disabled = false; }
  });

  let loaded = false;
  panel.addEventListener("toggle", async () => {
    if (!panel.open || loaded) return;
    loaded = true;
    try {
      const first = await load();
      input.value = JSON.stringify(first.input ?? {}, null, 2);
      mocks.value = JSON.stringify(first.mocks || [], null, 2);
      prefill();
    } catch (error) { out.append(problemBox(error)); }
  });
  showOutcomeFields();
  return panel;
}

/** The answer in words: how it would end, and each task that would run differently. */
function report(answer, run) {
  const sim = answer.tasks;
  const lines = [h("p", { class: answer.status === "succeeded" ? "ok" : "problem", id: "whatif-status" },
    `What if: the run would end ${answer.status}`, run ? ` (the run: ${run.status})` : "",
    ` · ${answer.sequenceTotal} execution${answer.sequenceTotal === 1 ? "" : "s"}`)];
  if (answer.errors.length) {
    lines.push(h("ul", { "aria-label": "what-if errors" }, answer.errors.slice(0, 20).map((e) =>
      h("li", { text: `[${e.type}]${e.handled ? " (handled)" : ""} ${e.message}` }))));
  }
  for (const warning of answer.warnings || []) lines.push(h("p", { class: "muted", text: `warning: ${warning}` }));
  const names = [...new Set([...Object.keys(sim), ...(run ? run.tasks.keys() : [])])];
  const rows = [];
  if (run && run.status !== answer.status) rows.push(["(run status)", run.status, answer.status]);
  for (const task of names) {
    const mine = sim[task];
    const theirs = run ? run.tasks.get(task) : undefined;
    if (run && words(mine) === words(theirs)) continue;
    rows.push([task, run ? words(theirs) : null, words(mine)]);
  }
  if (run && !rows.length) {
    lines.push(h("p", { id: "whatif-same", text: "The same path as the run: every task runs as it did." }));
    return lines;
  }
  lines.push(h("table", { class: "list", id: "whatif-diff" },
    h("caption", { text: run ? "Tasks that would run differently" : "Tasks that would run" }),
    h("thead", {}, h("tr", {}, [run ? ["Task", "The run", "What if"] : ["Task", "What if"]].flat().map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows.map(([task, theirs, mine]) => h("tr", { "data-task": task },
      h("th", { scope: "row", text: task }), run ? h("td", { text: theirs }) : null, h("td", { text: mine }))))));
  return lines;
}
