// What if: change the mocked outcome of a task (a result, an error, an HTTP status code)
// and see the path a run would take instead. The server runs the simulator — the same
// coordinator as a real run — on the workflow version (POST /workflows/{name}/simulate);
// the page draws its answer over the graph in its own marks and lists how it differs
// from the real run. A run page starts from the run's export (its input and every
// recorded result as mocks), a workflow page from its start form's input and no mocks.

import { post } from "./api.js";
import { h, clear, problemBox, announce } from "./dom.js";
import { parseRoute, replaceQuery } from "./route.js";
import { STATUS_WORDS } from "./state.js";

// The what-if deep link: the changes made with "Change the mock", in order, as JSON in
// the route's `whatif` query (not the whole mocks document: a run's export can be far
// longer than a link should be). Bounded, and checked entry by entry when a link is
// opened: a link is input from anyone.
export const MAX_LINK_CHARS = 2000; // of the JSON, before URL encoding
export const MAX_LINK_CHANGES = 20;
const ENTRY_KEYS = new Set(["task", "iteration", "result", "status", "error"]);
// A changed run input travels too, in the `whatifinput` query: only the top-level fields
// set differently from the starting input (the run's export, or the start form's), never
// a field the workflow declares secret, under bounds of its own.
export const MAX_INPUT_LINK_CHARS = 2000; // of the JSON, before URL encoding
export const MAX_INPUT_LINK_FIELDS = 50;
const FORBIDDEN_FIELDS = new Set(["__proto__", "constructor", "prototype"]);

const RUN_STATUS = { COMPLETED: "succeeded", FAILED: "failed", CANCELLED: "canceled", TERMINATED: "canceled", TIMED_OUT: "failed" };

/** The run status of the API (COMPLETED, …) in the simulator's words (succeeded, …). */
export const simulatedStatus = (status) => RUN_STATUS[status] || "running";

function words(summary) {
  if (!summary || !summary.executions) return "not reached";
  return `${STATUS_WORDS[summary.status] || summary.status}, ${summary.executions} execution${summary.executions === 1 ? "" : "s"}`;
}

/** `mocks` with `task` (at start `start`, or every start when null) given `outcome`,
 * first in the list so that it wins (the simulator takes the first entry that matches);
 * returns `[mocks, the new entry]`. */
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
  return [putMock(mocks, entry), entry];
}

/** `mocks` with `entry` first, and the entries it replaces (same task and start) gone. */
export function putMock(mocks, entry) {
  const start = entry.iteration === undefined ? null : entry.iteration;
  const kept = mocks.filter((m) => !(m.task === entry.task && (start === null || m.iteration === start)));
  return [entry, ...kept];
}

/** The `whatif` query for these changes, or null when it would be longer than a link
 * may be (the what-if then stays on this page only). */
export function encodeWhatIf(changes) {
  const text = JSON.stringify(changes);
  return text.length > MAX_LINK_CHARS || changes.length > MAX_LINK_CHANGES ? null : text;
}

/** The top-level fields of `input` that are not as in `start` (added or changed), less
 * the `secret` ones; `[fields, the secret names left out]`. A field taken out of the
 * input is not among them (the link can only set fields). */
export function inputChanges(start, input, secret) {
  const base = start && typeof start === "object" && !Array.isArray(start) ? start : {};
  const changed = {};
  const left = [];
  if (!input || typeof input !== "object" || Array.isArray(input)) return [changed, left];
  for (const [key, value] of Object.entries(input)) {
    if (Object.hasOwn(base, key) && JSON.stringify(base[key]) === JSON.stringify(value)) continue;
    if (secret.has(key)) { left.push(key); continue; }
    changed[key] = value;
  }
  return [changed, left];
}

/** The `whatifinput` query for these fields: "" when there are none, null when too long. */
export function encodeInputChanges(fields) {
  const keys = Object.keys(fields);
  if (!keys.length) return "";
  const text = JSON.stringify(fields);
  return text.length > MAX_INPUT_LINK_CHARS || keys.length > MAX_INPUT_LINK_FIELDS ? null : text;
}

/** The fields of a `whatifinput` query; throws an Error saying precisely what is wrong. */
export function decodeInputChanges(text) {
  if (text.length > MAX_INPUT_LINK_CHARS) throw new Error(`its input is ${text.length} characters long; at most ${MAX_INPUT_LINK_CHARS}`);
  let fields;
  try { fields = JSON.parse(text); } catch (error) { throw new Error(`its input is not JSON: ${error.message}`); }
  if (!fields || typeof fields !== "object" || Array.isArray(fields)) throw new Error("its input must be a JSON object of run input fields");
  const keys = Object.keys(fields);
  if (keys.length > MAX_INPUT_LINK_FIELDS) throw new Error(`its input sets ${keys.length} fields; at most ${MAX_INPUT_LINK_FIELDS}`);
  const bad = keys.find((key) => FORBIDDEN_FIELDS.has(key) || key === "");
  if (bad !== undefined) throw new Error(`its input may not set the field ${JSON.stringify(bad)}`);
  return fields;
}

/** The changes of a `whatif` query, checked against the mockable tasks; throws an Error
 * saying precisely what is wrong. */
export function decodeWhatIf(text, tasks) {
  if (text.length > MAX_LINK_CHARS) throw new Error(`it is ${text.length} characters long; at most ${MAX_LINK_CHARS}`);
  let changes;
  try { changes = JSON.parse(text); } catch (error) { throw new Error(`it is not JSON: ${error.message}`); }
  if (!Array.isArray(changes)) throw new Error("it must be a JSON list of mock changes");
  if (changes.length > MAX_LINK_CHANGES) throw new Error(`it has ${changes.length} changes; at most ${MAX_LINK_CHANGES}`);
  changes.forEach((entry, index) => {
    const where = `change ${index + 1}`;
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) throw new Error(`${where} is not an object`);
    const unknown = Object.keys(entry).filter((key) => !ENTRY_KEYS.has(key));
    if (unknown.length) throw new Error(`${where} has unknown keys: ${unknown.join(", ")}`);
    if (typeof entry.task !== "string" || !tasks.has(entry.task)) throw new Error(`${where}: ${JSON.stringify(String(entry.task)).slice(0, 80)} is not a task that runs an action or a child workflow`);
    if (entry.iteration !== undefined && !(Number.isSafeInteger(entry.iteration) && entry.iteration >= 1)) throw new Error(`${where}: the start # must be a whole number from 1`);
    if (entry.status === undefined) {
      if (!("result" in entry) || "error" in entry) throw new Error(`${where}: give a result, or status "failed" and an error`);
    } else {
      const error = entry.error;
      if (entry.status !== "failed" || "result" in entry || !error || typeof error !== "object"
        || typeof error.type !== "string" || typeof error.message !== "string" || Object.keys(error).length !== 2) {
        throw new Error(`${where}: a failure is status "failed" and an error {type, message} of strings, without a result`);
      }
    }
  });
  return changes;
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
  const link = h("p", { class: "muted", id: "whatif-link" });
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
    h("div", { class: "row" }, simulate, clearButton), link,
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
  // The changes made here, in order: what the link carries (see MAX_LINK_CHARS); and the
  // run input's changed fields as last simulated (see MAX_INPUT_LINK_CHARS).
  let changes = [];
  let fields = {};
  let secretLeft = [];
  let startInput = {};
  const linked = parseRoute().query.get("whatif");
  const linkedInput = parseRoute().query.get("whatifinput");
  function showLink() {
    const text = encodeWhatIf(changes);
    const inputText = encodeInputChanges(fields);
    replaceQuery({ whatif: changes.length && text ? text : null, whatifinput: inputText || null });
    const notes = [];
    if (changes.length && text === null) notes.push(`Its mock changes are too long for a link (at most ${MAX_LINK_CHANGES} changes, ${MAX_LINK_CHARS} characters): they stay on this page only.`);
    if (inputText === null) notes.push(`Its input changes are too long for a link (at most ${MAX_INPUT_LINK_FIELDS} fields, ${MAX_INPUT_LINK_CHARS} characters): they stay on this page only.`);
    if (secretLeft.length) notes.push(`Secret inputs (${secretLeft.join(", ")}) never go into a link: set them again after opening it.`);
    const carried = (changes.length && text) || inputText;
    link.textContent = [carried ? "The page's address now opens this what-if (copy it to share it)." : "", ...notes].filter(Boolean).join(" ");
  }
  change.addEventListener("click", () => {
    clear(out);
    try {
      const list = parse(mocks, "the mocks");
      if (!Array.isArray(list)) throw new Error("the mocks must be a JSON list");
      const kind = outcome.value;
      const [next, entry] = changeMock(list, task.value, startNumber(), kind === "fail"
        ? { kind, type: errorType.value, message: errorMessage.value }
        : kind === "status" ? { kind, code: Math.floor(Number(code.value)) } : { kind, result: parse(result, "the result") });
      mocks.value = JSON.stringify(next, null, 2);
      changes = [...changes, entry];
      showLink();
      announce(`mock of ${task.value} changed; press Simulate`);
    } catch (error) { out.append(problemBox(error)); }
  });
  clearButton.addEventListener("click", async () => {
    drawn.paintWhatIf(null); clear(out);
    changes = [];
    fields = {};
    secretLeft = [];
    showLink();
    try {
      const first = await load();
      startInput = first.input ?? {};
      mocks.value = JSON.stringify(first.mocks || [], null, 2);
      input.value = JSON.stringify(startInput, null, 2);
    } catch (error) { out.append(problemBox(error)); }
    announce("what-if cleared");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(out);
    let body;
    try { body = { version, input: parse(input, "the input"), mocks: parse(mocks, "the mocks") }; } catch (error) { out.append(problemBox(error)); return; }
    simulate.disabled = true;
    try {
      const answer = await post(`/workflows/${encodeURIComponent(name)}/simulate`, body);
      // The input as simulated goes into the link (its secret fields never do).
      [fields, secretLeft] = inputChanges(startInput, body.input, new Set(answer.secretInputs || []));
      showLink();
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
      startInput = first.input ?? {};
      let list = first.mocks || [];
      let linkInput = null;
      if (linked !== null || linkedInput !== null) { // a what-if link: over the start, simulated
        try {
          if (linkedInput !== null) linkInput = decodeInputChanges(linkedInput);
          if (linked !== null) changes = decodeWhatIf(linked, new Set(tasks.map((n) => n.id)));
        } catch (error) {
          changes = [];
          linkInput = null;
          replaceQuery({ whatif: null, whatifinput: null });
          out.append(problemBox(new Error(`The what-if in this link is not used: ${error.message}`)));
        }
        for (const entry of changes) list = putMock(list, entry);
      }
      const base = startInput && typeof startInput === "object" && !Array.isArray(startInput) ? startInput : {};
      // Spread, not Object.assign: a field is only ever set as a field.
      input.value = JSON.stringify(linkInput ? { ...base, ...linkInput } : startInput, null, 2);
      mocks.value = JSON.stringify(list, null, 2);
      prefill();
      if (changes.length || linkInput) { showLink(); form.requestSubmit(simulate); }
    } catch (error) { out.append(problemBox(error)); }
  });
  showOutcomeFields();
  if (linked !== null || linkedInput !== null) panel.open = true; // the toggle loads the link
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
