// Why an edge of the run graph was taken (or not), from the latest TRANSITION trace
// event of its `next` entry: the source execution, the `when` and its value, the names
// published (never values: they may be secret), and the engine commands beside it.

/** One sentence for an edge `{from, to, transition, when}` of GET /workflows/{name}/graph. */
export function explainEdge(edge, reason, count) {
  const head = `${edge.from} → ${edge.to}: next[${edge.transition}]`;
  const condition = edge.when ? `when ${edge.when}` : "no when (always)";
  if (!reason) return `${head}, ${condition} — not evaluated yet`;
  const source = `${reason.task} #${reason.iteration}${reason.route ? ` route ${reason.route}` : ""}` +
    ` (execution ${reason.execution}${reason.attempt > 1 ? `, attempt ${reason.attempt}` : ""})`;
  const value = reason.when === undefined ? condition : `${condition} was ${reason.when}`;
  const times = count > 1 ? `taken ×${count}` : count === 1 ? "taken once" : "not taken";
  const last = reason.taken === false ? "last not taken" : "last taken";
  const extras = [];
  if (reason.published && reason.published.length) extras.push(`published ${reason.published.join(", ")}`);
  if (reason.commands && reason.commands.length) extras.push(`with ${reason.commands.join(", ")}`);
  return `${head}, ${times}; ${last} by ${source}: ${value}${extras.length ? `; ${extras.join("; ")}` : ""}`;
}
