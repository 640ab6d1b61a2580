// The API as the console calls it: same origin, the token (if any) from this tab's
// sessionStorage only, errors as problem JSON. Nothing secret ever goes into a URL.

const TOKEN_KEY = "segue.apiToken";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get code() { return this.problem.code || `HTTP_${this.status}`; }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const all = { "Accept": "application/json", ...extra };
  const bearer = token();
  if (bearer) all["Authorization"] = `Bearer ${bearer}`;
  return all;
}

async function problemOf(response) {
  const text = await response.text();
  try { return JSON.parse(text); } catch { return { detail: text.slice(0, 500) }; }
}

/** A JSON request; throws ApiError with the problem JSON when the answer is not 2xx. */
export async function request(method, path, body, options = {}) {
  const init = { method, headers: headers(options.headers || {}), signal: options.signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = options.contentType || "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, options) => request("GET", path, undefined, options);

/** The run statuses after which nothing more happens (GET /runs/{id}'s `status`). */
export const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "TERMINATED", "TIMED_OUT"]);
export const post = (path, body, options) => request("POST", path, body === undefined ? {} : body, options);

/** Every trace event of a run, page by page (1,000 per request). */
export async function traceAll(runId, onPage, signal) {
  let cursor = null;
  for (;;) {
    const query = new URLSearchParams({ limit: "1000" });
    if (cursor) query.set("cursor", cursor);
    const page = await get(`/runs/${encodeURIComponent(runId)}/trace?${query}`, { signal });
    if (page.events.length) onPage(page.events);
    if (page.events.length < 1000) return page.cursor;
    cursor = page.cursor;
  }
}

/**
 * Follow a run's SSE stream. EventSource cannot send an Authorization header, so this
 * reads the stream with fetch and parses it; it reconnects with Last-Event-ID until
 * the run's terminal event arrives, the run is found ended, or `signal` aborts.
 */
export async function follow(runId, afterCursor, onEvents, signal) {
  let lastId = null;
  let cursor = afterCursor;
  let failures = 0;
  let lastPass = false;
  while (!signal.aborted) {
    const extra = { "Accept": "text/event-stream" };
    if (lastId) extra["Last-Event-ID"] = lastId;
    const query = !lastId && cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    let ended = false;
    try {
      const response = await fetch(`/runs/${encodeURIComponent(runId)}/stream${query}`,
        { headers: headers(extra), signal });
      if (!response.ok) throw new ApiError(response.status, await problemOf(response));
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done && ended) break; // the run's terminal event came: nothing follows it
        if (done) {
          // A stream that ends cleanly is not proof the run ended: the server ends one on
          // a store error, and a proxy or a restarted API closes one without an error.
          // Only the run's status says. A live run is followed again; an ended one once
          // more, for the events the closed stream had not sent yet (the server ends
          // that pass at the terminal event, or at once for a run that ended quietly,
          // terminated in Temporal, which has none).
          const run = await get(`/runs/${encodeURIComponent(runId)}`, { signal });
          if (TERMINAL.has(run.status)) {
            ended = lastPass;
            lastPass = true;
          } else {
            failures += 1; // ended early again and again: back off
          }
          break;
        }
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) lastId = line.slice(3).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trimStart();
          }
          if (!data) continue;
          const envelope = JSON.parse(data);
          onEvents(envelope.events);
          if (envelope.events.some((e) => e.type.startsWith("WORKFLOW_") && e.type !== "WORKFLOW_STARTED")) ended = true;
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) throw error;
      failures += 1;
    }
    // A dropped or closed connection is resumed from Last-Event-ID after a growing pause.
    if (ended) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** failures, 10000)));
  }
}

/**
 * Follow a run's task log lines (GET /runs/{id}/logs/stream, narrowed by `params`) from
 * `afterCursor`; read with fetch for the bearer token, resumed with Last-Event-ID after a
 * dropped connection. The server ends the stream once the run has ended and every line is
 * sent; `signal` stops it sooner.
 */
export async function followLogs(runId, params, afterCursor, onLines, signal) {
  let lastId = null;
  let failures = 0;
  while (!signal.aborted) {
    const extra = { "Accept": "text/event-stream" };
    if (lastId) extra["Last-Event-ID"] = lastId;
    const query = new URLSearchParams(params);
    if (!lastId && afterCursor) query.set("cursor", afterCursor);
    try {
      const response = await fetch(`/runs/${encodeURIComponent(runId)}/logs/stream?${query}`, { headers: headers(extra), signal });
      if (!response.ok) throw new ApiError(response.status, await problemOf(response));
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return; // the run ended and every line was sent
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) lastId = line.slice(3).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trimStart();
          }
          if (data) onLines(JSON.parse(data).logs || []);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) throw error;
      failures += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** failures, 10000)));
  }
}
