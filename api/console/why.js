// Why an edge of the run graph was taken (or not), from the TRANSITION trace events of
// its `next` entry: the source execution, the `when` and its value, the names published
// (a tooltip stays short: the values, masked and clipped, are in the inspector), and the
// engine commands beside it.

function source(notice) {
  return `${notice.task} #${notice.iteration}${notice.route ? ` route ${notice.route}` : ""}` +
    ` (execution ${notice.execution}${notice.attempt > 1 ? `, attempt ${notice.attempt}` : ""})`;
}

function verdict(condition, notice) {
  const value = notice.when === undefined ? condition : `${condition} was ${notice.when}`;
  const extras = [];
  if (notice.published && notice.published.length) extras.push(`published ${notice.published.join(", ")}`);
  if (notice.commands && notice.commands.length) extras.push(`with ${notice.commands.join(", ")}`);
  return `${source(notice)}: ${value}${extras.length ? `; ${extras.join("; ")}` : ""}`;
}

/** One sentence for an edge `{from, to, transition, when}` of GET /workflows/{name}/graph;
 * `reason` is `{last, lastTaken}` (state.js), `count` the times the edge was taken. */
export function explainEdge(edge, reason, count) {
  const head = `${edge.from} → ${edge.to}: next[${edge.transition}]`;
  const condition = edge.when ? `when ${edge.when}` : "no when (always)";
  if (!reason || !reason.last) return `${head}, ${condition}: not evaluated yet`;
  if (!reason.lastTaken) return `${head}, not taken: last by ${verdict(condition, reason.last)}`;
  const taken = `${head}, taken ${count > 1 ? `×${count}` : "once"}, last by ${verdict(condition, reason.lastTaken)}`;
  if (reason.last === reason.lastTaken) return taken;
  return `${taken}. Since then not taken by ${verdict(condition, reason.last)}`;
}
