// Hash routes: deep links to every view, node, execution and replay moment.

export function parseRoute() {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

/** Change the query of the current route without re-rendering the view (deep links). */
export function replaceQuery(changes) {
  const { parts, query } = parseRoute();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") query.delete(key); else query.set(key, value);
  }
  const text = query.toString();
  history.replaceState(null, "", `#/${parts.map(encodeURIComponent).join("/")}${text ? `?${text}` : ""}`);
}
