// Building elements without parsing HTML strings: text is always text (no markup from the API or
// the trace is ever interpreted), and nothing needs an inline style or handler.

const SVG = "http://www.w3.org/2000/svg";

function fill(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const h = (tag, attributes, ...children) => fill(document.createElement(tag), attributes, children);
export const s = (tag, attributes, ...children) => fill(document.createElementNS(SVG, tag), attributes, children);

export function clear(element) { while (element.firstChild) element.firstChild.remove(); return element; }

export function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

/** The problem JSON of a failed call, shown as the API gave it. */
export function problemBox(error) {
  const problem = error.problem || {};
  return h("div", { class: "problem", role: "alert" },
    h("strong", { text: problem.code || error.name || "Error" }), " ",
    h("span", { text: problem.detail || error.message || String(error) }),
    problem.errors ? h("ul", {}, problem.errors.slice(0, 50).map((e) =>
      h("li", { text: `${e.line != null ? `line ${e.line}: ` : ""}${e.message || JSON.stringify(e)}` }))) : null);
}

export function pretty(text) {
  if (text === null || text === undefined) return "";
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}
