// The console's entry: hash routes (deep links for every view), the token prompt.
// Routes: #/workflows, #/workflows/NAME?version=N, #/runs?workflow=&status=,
//         #/runs/RUN_ID?node=TASK&exec=ID&at=EVENTS

import { ApiError, get, request, setToken, token } from "./api.js";
import { h, clear, problemBox } from "./dom.js";
import { showCatalog, showWorkflow } from "./catalog.js";
import { showRuns } from "./runs.js";
import { showRun } from "./run.js";
import { showCompare } from "./compare.js";
import { parseRoute } from "./route.js";

const main = document.getElementById("main");
let leave = null; // the current view's clean-up (streams, timers)

function askForToken(reason) {
  const input = h("input", { type: "password", id: "token", autocomplete: "off", required: true, size: 40 });
  const form = h("form", { class: "card token-form", "aria-labelledby": "token-title" },
    h("h1", { id: "token-title", text: "API token" }),
    h("p", { text: "This API needs a bearer token. It is kept in this tab only (sessionStorage) and sent in the Authorization header, never in a URL." }),
    reason ? h("p", { class: "problem", role: "alert", text: reason }) : null,
    h("label", { for: "token", text: "Token" }), " ", input, " ",
    h("button", { type: "submit", text: "Use token" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    await startCodecSession();
    route();
  });
  clear(main).append(form);
  input.focus();
}

// Signing in also gets the codec session cookie (HttpOnly, for /codec/ only), so that the
// Temporal UI in this browser can show decoded payloads. A refused token or an API with
// authentication off (409) simply has none; the console itself never uses the cookie.
async function startCodecSession() {
  await request("POST", "/session", {}).catch(() => null);
}

async function route() {
  if (leave) { leave(); leave = null; }
  document.getElementById("skip").addEventListener("click", () => main.focus());
document.getElementById("forget-token").hidden = !token();
  const { parts, query } = parseRoute();
  for (const link of document.querySelectorAll("header nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${parts[0] || "runs"}`);
  }
  try {
    if (parts[0] === "workflows" && parts[1]) leave = await showWorkflow(main, parts[1], query);
    else if (parts[0] === "workflows") leave = await showCatalog(main);
    else if (parts[0] === "compare") leave = await showCompare(main, query);
    else if (parts[0] === "runs" && parts[1]) leave = await showRun(main, parts[1], query);
    else leave = await showRuns(main, query);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      askForToken(token() ? "That token was refused (UNAUTHORIZED)." : null);
      return;
    }
    clear(main).append(problemBox(error));
  }
}

document.getElementById("forget-token").addEventListener("click", async () => {
  // Drop the Temporal UI's cookie too (it needs the token, so before forgetting it).
  await request("DELETE", "/session").catch(() => null);
  setToken("");
  route();
});
window.addEventListener("hashchange", route);
// Opened without a token on an API that needs one: ask before anything else.
get("/health").catch(() => null).finally(route);
