// The run page: the definition graph recoloured by the trace (stored pages, then the
// live stream), the inspector of a node's executions, the timeline, the controls and,
// for a finished run, the replay scrubber. One reducer (state.js) for all of them.

import { ApiError, TERMINAL, follow, get, post, traceAll } from "./api.js";
import { h, clear, problemBox, announce, pretty } from "./dom.js";
import { drawGraph, GLYPHS } from "./graph.js";
import { apply, emptyRun, replay, duration, STATUS_WORDS } from "./state.js";
import { timeline } from "./timeline.js";
import { statusBadge } from "./runs.js";
import { replaceQuery } from "./route.js";
import { simulatedStatus, whatIfPanel } from "./whatif.js";
import { logPanel } from "./logs.js";

const PAGE = 50; // executions per page in the inspector
const STATUS_POLL_MS = 3000;

export async function showRun(main, runId, query) {
  let run = await get(`/runs/${encodeURIComponent(runId)}`);
  const graph = await get(`/workflows/${encodeURIComponent(run.workflowId)}/graph?version=${run.workflowVersion}`);
  const kinds = new Map(graph.nodes.map((n) => [n.id, n]));
  const events = [];
  let state = emptyRun();
  let replayAt = null; // null: live (every event); a number: the first N events
  let selected = query.get("node");
  let selectedExecution = query.get("exec") ? Number(query.get("exec")) : null;
  let page = 0;
  const abort = new AbortController();

  // ---------------------------------------------------------------- layout
  const header = h("div", { class: "run-header" });
  const controls = h("div", { class: "controls", role: "toolbar", "aria-label": "run controls" });
  const messages = h("div", { class: "messages", "aria-live": "assertive" });
  const graphBox = h("div", { class: "graph-box", id: "graph" });
  const inspector = h("aside", { class: "inspector", id: "inspector", "aria-label": "node inspector", tabindex: -1 });
  const gantt = timeline((execution) => selectExecution(execution.task, execution.id));
  const scrubber = h("div", { class: "scrubber", hidden: true });
  const legend = h("p", { class: "legend", "aria-label": "legend" },
    Object.entries(GLYPHS).map(([status, glyph]) => h("span", { class: `chip status-${status}`, text: `${glyph} ${STATUS_WORDS[status]}` })));
  clear(main).append(header, controls, messages,
    h("div", { class: "run-body" }, h("section", { class: "graph-pane", "aria-label": "run graph" }, graphBox, legend), inspector),
    scrubber, gantt.element);
  const drawn = drawGraph(graphBox, graph, { onSelect: (task) => selectNode(task, true) });
  // What if: the run's export (its input, every recorded result) is the starting mocks.
  scrubber.before(whatIfPanel({
    name: run.workflowId, version: run.workflowVersion, graph, drawn,
    load: async () => { const c = await get(path("export")); return { input: c.input, mocks: c.mocks }; },
    real: () => ({
      status: simulatedStatus(run.status),
      tasks: new Map([...state.nodes].map(([task, s]) => [task, { executions: s.executions.length, status: s.status }])),
    }),
  }));

  // ---------------------------------------------------------------- rendering
  let frame = 0;
  let dirtyAll = true;
  const dirty = new Set();
  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }
  function render() {
    frame = 0;
    const tasks = dirtyAll ? drawn.tasks() : [...dirty];
    for (const task of tasks) drawn.paint(task, state.nodes.get(task));
    drawn.paintEdges(state.transitions, state.reasons);
    const inspectorStale = dirtyAll || !selected || dirty.has(selected);
    dirty.clear();
    dirtyAll = false;
    renderHeader();
    if (inspectorStale) renderInspector();
    gantt.draw(state, drawn.tasks(), now());
  }
  function now() {
    if (replayAt !== null && replayAt > 0) return Date.parse(events[replayAt - 1].timestamp);
    return state.endedAt ?? Date.now();
  }

  function renderHeader() {
    const status = replayAt !== null ? `${state.status || "QUEUED"} (replay)` : run.status;
    clear(header).append(
      h("h1", {}, `Run ${runId.slice(0, 12)} · `,
        h("a", { href: `#/workflows/${encodeURIComponent(run.workflowId)}?version=${run.workflowVersion}`, text: `${run.workflowId} v${run.workflowVersion}` }),
        " ", statusBadge(status)),
      h("p", { class: "muted" },
        `started ${new Date(run.startedAt || run.createdAt).toLocaleString()} · `,
        replayAt !== null
          ? `at ${duration(state.startedAt, now())} of ${duration(Date.parse(run.startedAt || run.createdAt), run.completedAt ? Date.parse(run.completedAt) : null)} · ${state.events} of ${events.length} events`
          : `${duration(state.startedAt ?? Date.parse(run.createdAt), run.completedAt ? Date.parse(run.completedAt) : state.endedAt)} · ` +
            `${run.progress.completedActions}/${run.progress.totalActions} actions · ${state.events} events`,
        run.rerunOf ? [" · rerun of ", h("a", { href: `#/runs/${encodeURIComponent(run.rerunOf)}`, text: run.rerunOf.slice(0, 12) })] : null));
  }

  // ---------------------------------------------------------------- controls
  async function act(label, call) {
    clear(messages);
    try {
      const answer = await call();
      announce(`${label}: done`);
      messages.append(h("p", { class: "ok", text: `${label}: accepted` }));
      return answer;
    } catch (error) {
      messages.append(problemBox(error));
      announce(`${label} failed: ${error.message}`);
      return null;
    } finally {
      refreshStatus();
    }
  }
  const path = (tail) => `/runs/${encodeURIComponent(runId)}/${tail}`;
  function renderControls() {
    const ended = TERMINAL.has(run.status);
    const button = (label, handler, disabled) => {
      const b = h("button", { type: "button", disabled, text: label });
      b.addEventListener("click", handler);
      return b;
    };
    clear(controls).append(
      button("Pause", () => act("Pause", () => post(path("pause"))), ended || run.status === "PAUSED"),
      button("Resume", () => act("Resume", () => post(path("resume"))), run.status !== "PAUSED"),
      button("Cancel", () => act("Cancel", () => post(path("cancel"))), ended),
      button("Rerun", async () => {
        const next = await act("Rerun", () => post(path("rerun"), { from: "start" }));
        if (next) location.hash = `#/runs/${encodeURIComponent(next.runId)}`;
      }, !ended),
      button("Rerun failed", async () => {
        const next = await act("Rerun failed", () => post(path("rerun"), { from: "failed" }));
        if (next) location.hash = `#/runs/${encodeURIComponent(next.runId)}`;
      }, run.status !== "FAILED"),
      button("Export case", async () => {
        const c = await act("Export", () => get(path("export")));
        if (!c) return;
        // A download made here: nothing travels through a URL but the blob's own name.
        const link = h("a", { href: URL.createObjectURL(new Blob([JSON.stringify(c, null, 2)], { type: "application/json" })),
          download: `${run.workflowId}-${runId.slice(0, 12)}.case.json`, text: "download" });
        messages.append(h("p", {}, `The run as a segue simulate case (${c.mocks.length} mocks${c.inexact.length ? `; inexact: ${c.inexact.join("; ")}` : ""}): `, link));
        link.click();
      }, false));
  }
  let statusTimer = null;
  async function refreshStatus() {
    clearTimeout(statusTimer);
    try {
      const before = run.status;
      run = await get(`/runs/${encodeURIComponent(runId)}`);
      if (before !== run.status) announce(`run ${run.status}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
    }
    renderControls();
    schedule();
    if (!TERMINAL.has(run.status) && !abort.signal.aborted) statusTimer = setTimeout(refreshStatus, STATUS_POLL_MS);
    else if (TERMINAL.has(run.status)) showScrubber();
  }

  // ---------------------------------------------------------------- inspector
  function selectNode(task, focusInspector) {
    selected = task;
    selectedExecution = null;
    page = 0;
    drawn.select(task);
    replaceQuery({ node: task, exec: null });
    renderInspector();
    if (focusInspector) inspector.focus();
  }
  function selectExecution(task, id) {
    selected = task;
    selectedExecution = id;
    drawn.select(task);
    const list = state.nodes.get(task)?.executions || [];
    page = Math.max(0, Math.floor(list.indexOf(id) / PAGE));
    replaceQuery({ node: task, exec: id });
    renderInspector();
  }

  function waitForm(task, execution) {
    const node = kinds.get(task);
    const out = h("div", { "aria-live": "polite" });
    const item = h("input", { type: "number", min: 0, id: "wait-item", size: 5 });
    const itemLabel = h("label", { for: "wait-item", text: "item (with-items only) " });
    const send = async (payload) => {
      const body = { payload };
      if (item.value !== "") body.item = Number(item.value);
      clear(out);
      const answer = await act(`Answer ${task}`, () => post(path(`signals/${encodeURIComponent(task)}`), body));
      if (answer) out.append(h("p", { class: "ok", text: answer.confirmed ? "answer delivered" : "answer sent (not confirmed)" }));
    };
    if (node && node.action === "core.approval") {
      const by = h("input", { type: "text", id: "approver", value: "console", size: 16 });
      const approve = h("button", { type: "button", class: "primary", text: "Approve" });
      const reject = h("button", { type: "button", text: "Reject" });
      approve.addEventListener("click", () => send({ approved: true, by: by.value }));
      reject.addEventListener("click", () => send({ approved: false, by: by.value }));
      return h("form", { class: "card wait-form", "aria-label": `answer the approval ${task}` },
        h("h3", { text: "Waiting for approval" }),
        h("label", { for: "approver", text: "by " }), by, h("br"), itemLabel, item, h("br"), approve, " ", reject, out);
    }
    const payload = h("textarea", { id: "wait-payload", rows: 4, cols: 40, spellcheck: "false", text: "{}" });
    const submit = h("button", { type: "submit", class: "primary", text: "Send answer" });
    const form = h("form", { class: "card wait-form", "aria-label": `answer the wait ${task}` },
      h("h3", { text: "Waiting for an answer" }),
      h("label", { for: "wait-payload", text: "payload (JSON)" }), h("br"), payload, h("br"), itemLabel, item, " ", submit, out);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      try { send(JSON.parse(payload.value || "null")); } catch (error) { clear(out).append(problemBox({ message: `payload is not JSON: ${error.message}` })); }
    });
    return form;
  }

  // The chosen execution's log box, kept across the inspector's repaints (it pages and
  // follows on its own); replaced when another execution is chosen.
  let logView = null;
  function logsOf(execution) {
    if (logView && logView.id === execution.id) return logView.element;
    if (logView) logView.stop();
    logView = logPanel(runId, execution,
      () => replayAt === null && (execution.status === "running" || execution.status === "waiting"));
    return logView.element;
  }
  function dropLogs() { if (logView) { logView.stop(); logView = null; } }

  function renderInspector() {
    clear(inspector);
    if (!selected) {
      dropLogs();
      // The run itself: what went in, what came out, and why it failed.
      const field = (label, value) => value === null || value === undefined ? null : [h("dt", { text: label }), h("dd", {}, h("pre", { text: pretty(value) }))];
      inspector.append(h("h2", { text: "Run" }),
        h("p", { class: "muted", text: "Select a task in the graph (Tab to it, Enter) to see its executions." }),
        h("dl", { class: "details" },
          field("input", run.input ?? state.input),
          field("output", TERMINAL.has(run.status) ? run.output : null),
          field("errors", run.errors && run.errors.length ? run.errors : null),
          field("failure", run.failure || null)));
      return;
    }
    const summary = state.nodes.get(selected);
    const node = kinds.get(selected);
    const ids = summary ? summary.executions : [];
    const pages = Math.max(1, Math.ceil(ids.length / PAGE));
    page = Math.min(page, pages - 1);
    inspector.append(h("h2", {}, selected, " ", h("span", { class: `chip status-${summary ? summary.status : "pending"}`, text: `${GLYPHS[summary ? summary.status : "pending"]} ${STATUS_WORDS[summary ? summary.status : "pending"]}` })),
      h("p", { class: "muted", text: `${node ? node.kind : ""}${node && node.action ? ` · ${node.action}` : ""} · ${ids.length} execution(s)` +
        (summary ? ` · ✓${summary.counts.succeeded} ✗${summary.counts.failed} ⊘${summary.counts.canceled}` : "") }));
    if (!ids.length) { dropLogs(); inspector.append(h("p", { text: "Not reached." })); return; }
    const latest = state.executions.get(ids[ids.length - 1]);
    if (replayAt === null && latest.status === "waiting") inspector.append(waitForm(selected, latest));
    // The navigator: a page of executions at a time, so 10,000 stay fast.
    const nav = h("div", { class: "pager", role: "navigation", "aria-label": "executions pages" });
    const go = (p) => { page = p; renderInspector(); inspector.querySelector(".executions button")?.focus(); };
    const prev = h("button", { type: "button", disabled: page === 0, "aria-label": "previous page", text: "◀" });
    const next = h("button", { type: "button", disabled: page >= pages - 1, "aria-label": "next page", text: "▶" });
    prev.addEventListener("click", () => go(page - 1));
    next.addEventListener("click", () => go(page + 1));
    const jump = h("input", { type: "number", min: 1, max: ids.length, id: "jump", size: 6 });
    jump.addEventListener("change", () => {
      const index = Math.min(ids.length, Math.max(1, Number(jump.value))) - 1;
      selectExecution(selected, ids[index]);
    });
    nav.append(prev, ` page ${page + 1} of ${pages} `, next, " ", h("label", { for: "jump", text: "go to #" }), jump);
    const list = h("ol", { class: "executions", start: page * PAGE + 1 });
    for (const id of ids.slice(page * PAGE, (page + 1) * PAGE)) {
      const e = state.executions.get(id);
      const b = h("button", { type: "button", "aria-pressed": String(id === selectedExecution),
        text: `${GLYPHS[e.status] || ""} iteration ${e.iteration} · route ${e.route} · attempt ${e.attempt} · ${STATUS_WORDS[e.status] || e.status} · ${duration(e.startedAt, e.endedAt ?? now())}` });
      b.addEventListener("click", () => selectExecution(selected, id));
      list.append(h("li", { class: `status-${e.status}` }, b));
    }
    inspector.append(nav, list);
    const chosen = state.executions.get(selectedExecution ?? latest.id) || latest;
    const field = (label, value) => value === null || value === undefined || value === "" ? null :
      [h("dt", { text: label }), h("dd", {}, typeof value === "string" && value.length < 80 && !value.includes("\n") ? value : h("pre", { text: value }))];
    inspector.append(h("h3", { text: `Execution ${chosen.id} (iteration ${chosen.iteration}, route ${chosen.route})` }),
      h("dl", { class: "details" },
        field("status", STATUS_WORDS[chosen.status] || chosen.status),
        field("attempts", String(chosen.attempt)),
        field("started", new Date(chosen.startedAt).toISOString()),
        field("ended", chosen.endedAt ? new Date(chosen.endedAt).toISOString() : "—"),
        field("took", duration(chosen.startedAt, chosen.endedAt ?? now())),
        field("waited from", chosen.waitingAt ? new Date(chosen.waitingAt).toISOString() : null),
        field("waited for a slot", slotWaits(chosen)),
        field("waited for a worker", workerWaits(chosen)),
        field("result", chosen.result === null ? null : pretty(chosen.result)),
        field("error", chosen.error ? pretty(chosen.error) : null),
        field("notes", chosen.notes.map((n) => `${new Date(n.at).toISOString()} ${n.level}: ${n.message}`).join("\n")),
        field("transitions", chosen.transitions.length ? chosen.transitions.map((t) =>
          `#${t.transition} ${t.taken === false ? "not taken" : "taken"} → ${[...(t.targets || []), ...(t.commands || [])].join(", ") || "end"}${t.when !== undefined ? ` (when: ${JSON.stringify(t.when)})` : ""}${t.published && t.published.length ? ` publishes ${t.published.join(", ")}` : ""}`).join("\n") : null),
        field("published", published(chosen)),
        field("input", renderedInput(chosen))),
      logsOf(chosen));
  }

  /** Each attempt's wait for a worker the trace tells: the failed ones (behaviour 6),
   * then the last one. */
  function workerWaits(execution) {
    const said = (w) => `${duration(w.from, w.to)} in the task queue, then ran ${duration(0, w.ranMs)}`;
    const failed = (execution.failedWaits || []).map((w) =>
      `attempt ${w.attempt}${w.item === null ? "" : ` of item ${w.item}`} (failed): ${said(w)}`);
    const last = execution.workerWait ? [failed.length ? `last attempt: ${said(execution.workerWait)}` : said(execution.workerWait)] : [];
    return [...failed, ...last].join("\n") || null;
  }

  /** Each wait in line for a slot of the task's concurrency limit: how long, and for
   * which limit, key and item; "still waiting" while it lasts. */
  function slotWaits(execution) {
    const waits = execution.slotWaits || [];
    if (!waits.length) return null;
    return waits.map((w) => {
      const item = w.item === null ? "" : `item ${w.item}, `;
      const took = w.to !== null ? duration(w.from, w.to)
        : execution.endedAt == null ? `still waiting, ${duration(w.from, now())}` : "its end is not traced";
      return `${item}limit ${w.limit} (key ${w.key}): ${took}`;
    }).join("\n");
  }

  const CLIPPED = (bytes) => `\n… clipped: ${bytes.toLocaleString("en")} bytes as JSON; the whole value is in Temporal's history`;

  /** What the execution's taken transitions published: each name with its value (masked,
   * and clipped past 8 KiB, by the worker) on runs started on behaviour 4; names only
   * before, and the page says so. */
  function published(execution) {
    const taken = execution.transitions.filter((t) => t.taken !== false && (t.published || []).length);
    if (!taken.length) return null;
    const lines = taken.flatMap((t) => t.published.map((name) => {
      if (!t.values || !(name in t.values)) return `${name} (names only: the run started before values were traced)`;
      const size = t.clipped && t.clipped[`values.${name}`];
      return `${name} = ${typeof t.values[name] === "string" && size ? t.values[name] : JSON.stringify(t.values[name], null, 2)}${size ? CLIPPED(size) : ""}`;
    }));
    return lines.join("\n");
  }

  /** The input the execution's last ended attempt was rendered with, or why there is none. */
  function renderedInput(execution) {
    const shown = execution.input;
    if (shown) {
      const text = shown.clipped ? shown.value : pretty(shown.value);
      return `attempt ${shown.attempt}: ${text}${shown.clipped ? CLIPPED(shown.clipped) : ""}`;
    }
    if (!execution.endedAt) return "shown when its attempt ends";
    return "not in the trace (a run started before inputs were traced, a with-items task's items, or a task with no action)";
  }

  // ---------------------------------------------------------------- replay
  function showScrubber() {
    if (!scrubber.hidden || !events.length) return;
    const range = h("input", { type: "range", id: "scrub", min: 0, max: events.length, value: replayAt ?? events.length, step: 1 });
    const label = h("output", { for: "scrub", id: "scrub-at" });
    const live = h("button", { type: "button", text: "End" });
    const show = () => {
      const count = Number(range.value);
      replayAt = count >= events.length ? null : count;
      state = replay(events, count);
      const at = count ? events[count - 1].timestamp : "before the first event";
      label.textContent = `${count}/${events.length} events · ${at}`;
      range.setAttribute("aria-valuetext", `${count} of ${events.length} events, ${at}`);
      replaceQuery({ at: replayAt === null ? null : count });
      dirtyAll = true;
      schedule();
    };
    range.addEventListener("input", show);
    live.addEventListener("click", () => { range.value = String(events.length); show(); });
    clear(scrubber).append(h("label", { for: "scrub", text: "Replay " }), range, " ", label, " ", live);
    scrubber.hidden = false;
    const at = query.get("at");
    if (at !== null) { range.value = at; show(); } else label.textContent = `${events.length}/${events.length} events`;
  }

  // ---------------------------------------------------------------- data
  function ingest(batch) {
    for (const event of batch) {
      events.push(event);
      if (replayAt !== null) continue; // replaying: the new events wait behind the scrubber
      const task = apply(state, event);
      if (task) dirty.add(task);
    }
    schedule();
  }

  renderControls();
  renderHeader();
  if (selected) drawn.select(selected);
  renderInspector();
  const cursor = await traceAll(runId, ingest, abort.signal);
  if (selected && selectedExecution !== null) { // a deep link to one execution: its page
    const list = state.nodes.get(selected)?.executions || [];
    page = Math.max(0, Math.floor(list.indexOf(selectedExecution) / PAGE));
    dirtyAll = true;
  }
  schedule();
  if (TERMINAL.has(run.status)) {
    showScrubber();
  } else {
    refreshStatus();
    follow(runId, cursor, ingest, abort.signal)
      .catch((error) => { if (!abort.signal.aborted) messages.append(problemBox(error)); })
      .finally(() => { if (!abort.signal.aborted) refreshStatus(); });
  }
  return () => { abort.abort(); dropLogs(); clearTimeout(statusTimer); cancelAnimationFrame(frame); };
}
