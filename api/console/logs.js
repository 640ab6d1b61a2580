// An execution's task log lines in the inspector (GET /runs/{id}/logs, narrowed to the
// task and execution): a page of lines at a time, then — while the execution runs — live
// over the log stream. The lines are masked by the API before they are stored; here they
// are only ever text.

import { followLogs, get } from "./api.js";
import { h, problemBox } from "./dom.js";

const PAGE = 200; // lines per request
const MAX_SHOWN = 5000; // lines kept in the page; past it, `segue logs` has them all

/** The log box of one execution; `live()` says whether to follow it once caught up. */
export function logPanel(runId, execution, live) {
  const abort = new AbortController();
  const params = { task: execution.task, execution: String(execution.id) };
  const list = h("ol", { class: "logs", id: "log-lines", tabindex: 0, "aria-label": `log lines of ${execution.task}, execution ${execution.id}` });
  const more = h("button", { type: "button", id: "log-more", text: `Show the next ${PAGE} lines`, hidden: true });
  const state = h("p", { class: "muted", id: "log-state", "aria-live": "polite" });
  const problems = h("div");
  const element = h("section", { class: "log-box", "aria-labelledby": "log-title" },
    h("h3", { id: "log-title", text: "Log" }), state, list, more, problems);
  let cursor = null, shown = 0, following = false, capped = false;

  function say() {
    state.textContent = `${shown ? `${shown} line${shown === 1 ? "" : "s"}` : "no lines"}` +
      (following ? " · live" : "") +
      (capped ? ` · the first ${MAX_SHOWN} are shown; segue logs ${runId} --task ${execution.task} prints them all` : "");
  }
  function add(lines) {
    for (const line of lines) {
      if (shown >= MAX_SHOWN) { capped = true; abort.abort(); more.hidden = true; break; }
      list.append(h("li", { class: `log-line level-${line.level}` },
        h("time", { datetime: line.timestamp, text: line.timestamp.slice(11, 23) }), " ",
        h("span", { class: "level", text: line.level }), " ",
        line.attempt > 1 ? h("span", { class: "muted", text: `attempt ${line.attempt} ` }) : null,
        line.item !== undefined && line.item !== null ? h("span", { class: "muted", text: `item ${line.item} ` }) : null,
        h("span", { class: "message", text: line.message })));
      shown += 1;
    }
    say();
  }
  async function page() {
    more.hidden = true;
    const query = new URLSearchParams({ ...params, limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    const answer = await get(`/runs/${encodeURIComponent(runId)}/logs?${query}`, { signal: abort.signal });
    cursor = answer.cursor;
    add(answer.logs);
    if (answer.logs.length === PAGE && !capped) { more.hidden = false; return; } // paged: the reader asks for more
    if (!live() || abort.signal.aborted) return;
    following = true;
    say();
    try { await followLogs(runId, params, cursor, add, abort.signal); } finally { following = false; say(); }
  }
  const failed = (error) => { if (!abort.signal.aborted) problems.append(problemBox(error)); };
  more.addEventListener("click", () => page().catch(failed));
  page().catch(failed);
  return { id: execution.id, element, stop: () => abort.abort() };
}
