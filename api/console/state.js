// The run's state as the trace tells it: one reducer, fed by the stored trace (page by
// page), by the live SSE stream, and by the replay scrubber (the first N events). Each
// event costs O(1): per-node summaries are updated in place, never recomputed.

export const STATUS_WORDS = {
  pending: "not reached",
  running: "running",
  waiting: "waiting",
  retrying: "retrying",
  succeeded: "succeeded",
  failed: "failed",
  canceled: "canceled",
};

export function emptyRun() {
  return {
    events: 0,
    lastId: null,
    status: null, // RUNNING, COMPLETED, FAILED, CANCELLED (from the trace)
    input: null,
    output: null,
    error: null,
    startedAt: null,
    endedAt: null,
    nodes: new Map(), // task -> summary
    executions: new Map(), // execution id -> execution
    transitions: new Map(), // "from->to" -> times taken (TRANSITION events)
    reasons: new Map(), // "from#index" -> {last, lastTaken}: TRANSITIONs of that `next` entry
    // The run's wait for its own slots (a workflow-level `concurrency_limits`): from its
    // first WORKFLOW_QUEUED to its first task (or its end); `limits` it queued for.
    admission: null,
  };
}

function node(state, task) {
  let summary = state.nodes.get(task);
  if (!summary) {
    summary = { task, status: "pending", executions: [], counts: { running: 0, waiting: 0, succeeded: 0, failed: 0, canceled: 0 } };
    state.nodes.set(task, summary);
  }
  return summary;
}

function move(summary, execution, status) {
  if (execution.status in summary.counts) summary.counts[execution.status] -= 1;
  execution.status = status;
  if (status in summary.counts) summary.counts[status] += 1;
  // The node shows its latest execution's state.
  if (summary.executions[summary.executions.length - 1] === execution.id) summary.status = status;
}

const ms = (timestamp) => Date.parse(timestamp);

/** Apply one trace event to the state (mutates it); returns the task it touched. */
export function apply(state, event) {
  state.events += 1;
  state.lastId = event.id;
  const at = ms(event.timestamp);
  const data = event.data || {};
  switch (event.type) {
    case "WORKFLOW_STARTED":
      state.status = "RUNNING";
      state.startedAt = at;
      state.input = event.outputSummary ?? null;
      return null;
    case "WORKFLOW_QUEUED":
      state.status = "QUEUED";
      state.admission = state.admission || { from: at, to: null, limits: [] };
      state.admission.limits.push(data.limit);
      return null;
    case "WORKFLOW_COMPLETED":
    case "WORKFLOW_FAILED":
    case "WORKFLOW_CANCELLED":
      state.status = event.type === "WORKFLOW_COMPLETED" ? "COMPLETED" : event.type === "WORKFLOW_FAILED" ? "FAILED" : "CANCELLED";
      state.endedAt = at;
      admitted(state, at);
      state.output = event.outputSummary ?? null;
      state.error = event.error || null;
      return null;
    case "TRANSITION": {
      // Every evaluated `next` entry has one; only a taken one lights its edges.
      const source = state.executions.get(data.execution);
      if (source) source.transitions.push(data);
      const key = `${event.nodeId}#${data.transition}`;
      const reason = state.reasons.get(key) || { last: null, lastTaken: null };
      reason.last = { ...data, task: event.nodeId, at };
      if (data.taken !== false) reason.lastTaken = reason.last;
      state.reasons.set(key, reason);
      if (data.taken === false) return event.nodeId;
      for (const target of data.targets || []) {
        const key = `${event.nodeId}->${target}`;
        state.transitions.set(key, (state.transitions.get(key) || 0) + 1);
      }
      return event.nodeId;
    }
    default:
      break;
  }
  if (!event.nodeId) return null;
  const summary = node(state, event.nodeId);
  const id = data.execution;
  if (event.type === "STARTED") {
    if (admitted(state, at)) state.status = "RUNNING";
    const execution = {
      id, task: event.nodeId, iteration: data.iteration, route: data.route, attempt: data.attempt || 1,
      status: null, startedAt: at, waitingAt: null, endedAt: null, result: null, error: null,
      notes: [], transitions: [], slotWaits: [], workerWait: null, failedWaits: [],
    };
    state.executions.set(id, execution);
    summary.executions.push(id);
    move(summary, execution, "running");
    return event.nodeId;
  }
  const execution = state.executions.get(id);
  if (!execution) return event.nodeId; // an event of an execution before this page (cannot happen: pages are gapless)
  if (event.type === "PROGRESS") {
    execution.notes.push({ at, level: event.level, message: event.message || "", error: event.error || null });
    if (data.attempt) execution.attempt = Math.max(execution.attempt, data.attempt + 1);
    shownInput(execution, data);
    if (data.limit !== undefined) slotWait(execution, data, at);
    if (Number.isFinite(data.queuedMs) && Number.isFinite(data.ranMs)) {
      // Behaviour 6: a retried attempt (or item) waited this long for a worker, then ran.
      execution.failedWaits.push({ ...workerWait(at, data), attempt: data.attempt, item: data.item ?? null });
    }
    if (event.level === "info" && (event.message || "").startsWith("waiting")) {
      execution.waitingAt = at;
      move(summary, execution, "waiting");
    }
    return event.nodeId;
  }
  if (event.type === "COMPLETED" || event.type === "FAILED") {
    execution.endedAt = at;
    execution.attempt = data.attempt || execution.attempt;
    execution.result = event.outputSummary ?? null;
    execution.error = event.error || null;
    shownInput(execution, data);
    if (Number.isFinite(data.queuedMs) && Number.isFinite(data.ranMs)) {
      // Behaviour 5: its last attempt waited this long for a worker, then ran (on 6
      // also when it failed).
      execution.workerWait = workerWait(at, data);
    }
    const status = data.status || (event.type === "COMPLETED" ? "succeeded" : "failed");
    move(summary, execution, status);
  }
  return event.nodeId;
}

/** Close the run's wait for its slots, if one is open; whether one was. A queued run is
 * admitted when its first task starts (no event of its own says so). */
function admitted(state, at) {
  if (!state.admission || state.admission.to !== null) return false;
  state.admission.to = at;
  return true;
}

/** An attempt's wait for a worker, from the event that ended it (`at`): it ran
 * `ranMs` before that, after `queuedMs` in Temporal's task queue. */
function workerWait(at, data) {
  const to = at - data.ranMs;
  return { from: to - data.queuedMs, to, ranMs: data.ranMs };
}

/** A wait in line for a task's concurrency limit: it opens with `waits for limit …` and
 * closes with the `admitted` event (runs on behaviour 5). A wait still open when its
 * execution ends has no known end (a run started before the end was traced): the
 * timeline leaves it out. */
function slotWait(execution, data, at) {
  const item = data.item ?? null;
  if (data.admitted) {
    const open = execution.slotWaits.findLast((w) => w.to === null && w.limit === data.limit && w.item === item);
    if (open) open.to = at;
  } else if (data.position !== undefined) { // `waits for limit … at position N`
    execution.slotWaits.push({ limit: data.limit, key: data.key, item, from: at, to: null });
  }
}

/** The rendered input the event that ended an attempt shows (runs on behaviour 4; not
 * for with-items items), with its full size when the trace keeps only a preview. */
function shownInput(execution, data) {
  if (!("input" in data) || (data.item !== undefined && data.item !== null)) return;
  execution.input = { value: data.input, attempt: data.attempt, clipped: data.clipped ? data.clipped.input : undefined };
}

/** A fresh state with the first `count` events applied (the replay scrubber). */
export function replay(events, count) {
  const state = emptyRun();
  for (let index = 0; index < count && index < events.length; index += 1) apply(state, events[index]);
  return state;
}

export function duration(startMs, endMs) {
  if (startMs == null) return "";
  const total = Math.max(0, (endMs ?? Date.now()) - startMs);
  if (total < 1000) return `${total} ms`;
  const seconds = Math.floor(total / 1000);
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${(total / 1000).toFixed(total < 10000 ? 1 : 0)} s`;
}
