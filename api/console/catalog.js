// Workflows: the catalog, one workflow's versions, its graph and YAML with line
// numbers, starting a run, and checking a pasted or uploaded file.

import { get, post } from "./api.js";
import { h, clear, problemBox, announce } from "./dom.js";
import { drawGraph } from "./graph.js";
import { whatIfPanel } from "./whatif.js";

export async function showCatalog(main) {
  const { workflows } = await get("/workflows");
  clear(main).append(
    h("h1", { text: "Workflows" }),
    workflows.length === 0 ? h("p", { class: "muted", text: "No workflows registered yet." }) :
      h("table", { class: "list" },
        h("caption", { class: "visually-hidden", text: "Registered workflows" }),
        h("thead", {}, h("tr", {}, ["Name", "Latest version", "Registered"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, workflows.map((w) => h("tr", {},
          h("td", {}, h("a", { href: `#/workflows/${encodeURIComponent(w.name)}`, text: w.name })),
          h("td", { text: `v${w.latestVersion}` }),
          h("td", { text: new Date(w.createdAt).toLocaleString() }))))),
    validator());
  return null;
}

function yamlView(text, marks = new Map()) {
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  return h("ol", { class: "yaml", "aria-label": "workflow YAML with line numbers" },
    lines.map((line, index) => {
      const mark = marks.get(index + 1);
      return h("li", { class: mark ? "marked" : null, id: `line-${index + 1}`, title: mark || null },
        h("code", { text: line || " " }), mark ? h("span", { class: "line-error", text: ` ← ${mark}` }) : null);
    }));
}

function validator() {
  const area = h("textarea", { id: "paste", rows: 10, cols: 80, spellcheck: "false" });
  const file = h("input", { type: "file", id: "upload", accept: ".yaml,.yml,text/yaml" });
  const result = h("div", { "aria-live": "polite" });
  file.addEventListener("change", async () => { if (file.files[0]) area.value = await file.files[0].text(); });
  const form = h("form", { class: "card", "aria-labelledby": "validate-title" },
    h("h2", { id: "validate-title", text: "Check a workflow file" }),
    h("label", { for: "paste", text: "Paste YAML" }), h("br"), area, h("br"),
    h("label", { for: "upload", text: "or upload a file " }), file, " ",
    h("button", { type: "submit", text: "Validate" }), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(result);
    try {
      const report = await post("/workflows/validate", area.value, { contentType: "application/yaml" });
      const marks = new Map();
      for (const e of report.errors) if (e.line != null && !marks.has(e.line)) marks.set(e.line, `${e.category}: ${e.message}`);
      result.append(h("p", { class: report.valid ? "ok" : "problem", text: report.valid ? "Valid." : `${report.errors.length} error(s)` }),
        h("ul", {}, [...report.errors, ...report.warnings].map((e) =>
          h("li", {}, h("a", { href: `#line-${e.line}`, text: `line ${e.line ?? "?"}:${e.column ?? "?"}` }),
            e.task ? ` (task ${e.task})` : "", ` ${e.severity} ${e.category}: ${e.message}`))));
      // The file's graph as written, the tasks its findings fall in marked (a click goes
      // to the task's first finding in the text below).
      const byTask = new Map();
      const firstLine = new Map();
      for (const e of [...report.errors, ...report.warnings]) {
        if (!e.task) continue;
        if (!byTask.has(e.task)) { byTask.set(e.task, []); firstLine.set(e.task, e.line); }
        byTask.get(e.task).push(`${e.severity} line ${e.line ?? "?"}: ${e.message}`);
      }
      if (report.graph && report.graph.nodes.length) {
        const box = h("div", { class: "graph-box", id: "validate-graph" });
        result.append(h("section", { "aria-label": "graph of the checked file" }, box));
        const drawn = drawGraph(box, report.graph, { onSelect: (task) => {
          drawn.select(task);
          const line = firstLine.get(task);
          if (line != null) document.getElementById(`line-${line}`)?.scrollIntoView({ block: "center" });
        } });
        drawn.markFindings(byTask);
      }
      result.append(yamlView(area.value, marks));
      announce(report.valid ? "The file is valid" : `${report.errors.length} errors`);
    } catch (error) { result.append(problemBox(error)); }
  });
  return form;
}

export async function showWorkflow(main, name, query) {
  const workflow = await get(`/workflows/${encodeURIComponent(name)}`);
  const version = Number(query.get("version")) || workflow.latest.version;
  const graph = await get(`/workflows/${encodeURIComponent(name)}/graph?version=${version}`);
  const yaml = version === workflow.latest.version ? workflow.latest.yaml : null;
  const picker = h("select", { id: "version" }, workflow.versions.map((v) =>
    h("option", { value: v.version, selected: v.version === version, text: `v${v.version} · ${new Date(v.createdAt).toLocaleString()}` })));
  picker.addEventListener("change", () => { location.hash = `#/workflows/${encodeURIComponent(name)}?version=${picker.value}`; });
  const graphBox = h("div", { class: "graph-box", id: "graph" });
  const input = h("textarea", { id: "run-input", rows: 4, cols: 50, spellcheck: "false", text: "{}" });
  const outcome = h("div", { "aria-live": "polite" });
  const start = h("form", { class: "card", "aria-labelledby": "start-title" },
    h("h2", { id: "start-title", text: "Start a run" }),
    h("label", { for: "run-input", text: "Input (JSON)" }), h("br"), input, h("br"),
    h("button", { type: "submit", text: `Start v${version}` }), outcome);
  start.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(outcome);
    let data;
    try { data = JSON.parse(input.value || "{}"); } catch (error) { outcome.append(problemBox({ message: `input is not JSON: ${error.message}` })); return; }
    try {
      const run = await post(`/workflows/${encodeURIComponent(name)}/runs`, { input: data, version });
      location.hash = `#/runs/${encodeURIComponent(run.runId)}`;
    } catch (error) { outcome.append(problemBox(error)); }
  });
  clear(main).append(
    h("h1", {}, `Workflow ${name} `, h("label", { for: "version", class: "visually-hidden", text: "version" }), picker),
    workflow.latest.description ? h("p", { text: workflow.latest.description }) : null,
    h("p", {}, h("a", { href: `#/runs?workflow=${encodeURIComponent(name)}`, text: "Runs of this workflow" })),
    h("div", { class: "split" },
      h("section", { "aria-label": "definition graph" }, graphBox),
      h("section", { "aria-label": "YAML" },
        yaml !== null ? yamlView(yaml) : h("p", { class: "muted", text: "The YAML shown is that of the latest version; pick it to see its text." }),
        start)));
  const drawn = drawGraph(graphBox, graph, { onSelect: (task) => {
    drawn.select(task);
    const line = [...document.querySelectorAll(".yaml li code")].findIndex((c) => c.textContent.trim() === `${task}:`);
    if (line >= 0) document.getElementById(`line-${line + 1}`).scrollIntoView({ block: "center" });
  } });
  // What if, before any run: the start form's input, and every action left to the
  // simulator's defaults (inline core actions run, others succeed with null) until mocked.
  start.after(whatIfPanel({
    name, version, graph, drawn, real: () => null,
    load: async () => { let value = {}; try { value = JSON.parse(input.value || "{}"); } catch { /* edited there */ } return { input: value, mocks: [] }; },
  }));
  return null;
}
