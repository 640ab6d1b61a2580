// The runs list: newest first, filtered by workflow and status, refreshed every 2 s
// (the list has no stream of its own), with duration and what a rerun reran.

import { get } from "./api.js";
import { h, clear, problemBox } from "./dom.js";
import { duration } from "./state.js";

const STATUSES = ["QUEUED", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED", "TERMINATED", "TIMED_OUT"];
const REFRESH_MS = 2000;

export function statusBadge(status) {
  return h("span", { class: `badge run-${(status || "").toLowerCase()}`, text: status || "?" });
}

export async function showRuns(main, query) {
  const workflow = query.get("workflow") || "";
  const status = query.get("status") || "";
  const { workflows } = await get("/workflows");
  const pick = (id, label, options, value) => [
    h("label", { for: id, text: label }), " ",
    h("select", { id, name: id }, h("option", { value: "", text: "any" }),
      options.map((o) => h("option", { value: o, selected: o === value, text: o }))), " "];
  const form = h("form", { class: "filters", role: "search", "aria-label": "filter runs" },
    pick("workflow", "Workflow", workflows.map((w) => w.name), workflow),
    pick("status", "Status", STATUSES, status),
    h("button", { type: "submit", text: "Filter" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    for (const key of ["workflow", "status"]) if (form.elements[key].value) q.set(key, form.elements[key].value);
    location.hash = `#/runs${q.toString() ? `?${q}` : ""}`;
  });
  const body = h("tbody");
  const picked = new Set();
  const compare = h("a", { href: "#/compare", class: "button", "aria-disabled": "true", id: "compare-link", text: "Compare 2 selected runs" });
  const pickChanged = () => {
    const chosen = [...picked].slice(-2);
    compare.setAttribute("aria-disabled", String(chosen.length !== 2));
    compare.setAttribute("href", chosen.length === 2 ? `#/compare?a=${encodeURIComponent(chosen[0])}&b=${encodeURIComponent(chosen[1])}` : "#/compare");
  };
  const note = h("p", { class: "muted", "aria-live": "polite" });
  // The list shows the newest runs; "Show more" widens it 100 at a time (the API's
  // page is at most 1,000; older runs: filter, or `segue runs`).
  const more = h("button", { type: "button", text: "Show more" });
  more.addEventListener("click", () => {
    q.set("limit", String(Math.min(1000, Number(q.get("limit")) + 100)));
    clearTimeout(timer);
    refresh();
  });
  clear(main).append(h("h1", { text: "Runs" }), form, h("p", {}, compare),
    h("table", { class: "list", id: "runs" },
      h("caption", { class: "visually-hidden", text: "Runs, newest first" }),
      h("thead", {}, h("tr", {}, ["Pick", "Run", "Workflow", "Status", "Started", "Duration", "Progress", "Rerun of"].map((t) => h("th", { scope: "col", text: t })))),
      body), note, more);

  const q = new URLSearchParams({ limit: "100" });
  if (workflow) q.set("workflow", workflow);
  if (status) q.set("status", status);
  let stopped = false;
  let shown = "";
  let timer = null;
  function pickBox(runId) {
    const box = h("input", { type: "checkbox", checked: picked.has(runId), "aria-label": `pick run ${runId.slice(0, 12)} to compare` });
    box.addEventListener("change", () => { if (box.checked) picked.add(runId); else picked.delete(runId); pickChanged(); });
    return box;
  }
  async function refresh() {
    try {
      const { runs } = await get(`/runs?${q}`);
      if (stopped) return;
      // Rebuild only when something changed, so keyboard focus stays where it is.
      const text = JSON.stringify(runs);
      if (text === shown) { timer = setTimeout(refresh, REFRESH_MS); return; }
      shown = text;
      clear(body).append(...runs.map((run) => h("tr", { "data-run": run.runId },
        h("td", {}, pickBox(run.runId)),
        h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.runId)}`, text: run.runId.slice(0, 12) })),
        h("td", {}, h("a", { href: `#/workflows/${encodeURIComponent(run.workflowId)}?version=${run.workflowVersion}`, text: `${run.workflowId} v${run.workflowVersion}` })),
        h("td", {}, statusBadge(run.status)),
        h("td", { text: new Date(run.startedAt || run.createdAt).toLocaleString() }),
        h("td", { text: duration(Date.parse(run.startedAt || run.createdAt), run.completedAt ? Date.parse(run.completedAt) : null) }),
        h("td", { text: `${run.progress.completedActions}/${run.progress.totalActions}` }),
        h("td", {}, run.rerunOf ? h("a", { href: `#/runs/${encodeURIComponent(run.rerunOf)}`, text: `${run.rerunOf.slice(0, 12)} (${run.rerunFrom || "start"})` }) : ""))));
      note.textContent = runs.length ? "" : "No runs match.";
      more.hidden = runs.length < Number(q.get("limit")) || Number(q.get("limit")) >= 1000;
    } catch (error) {
      if (!stopped) clear(note).append(problemBox(error));
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
