// The connection state: the header line, the Status view and the retry countdown.

import { api } from "./api.js";
import { $, h, setText, show, busy } from "./dom.js";
import { dateTime, isFuture, secondsUntil } from "./format.js";

const CATCH_UP_TEXT = {
  available: "Available",
  unavailable: "Unavailable: events sent while offline are lost",
  unknown: "Unknown",
};

// Dot colours are chosen by state kind in CSS; anything else falls back to grey.
const DOT_STATES = ["signedOut", "connecting", "connected", "backoff", "authFailed", "paused", "stopped", "agentUnavailable"];

// The window's own state, not the engine's: no agent answers it.
export const AGENT_UNAVAILABLE = "agentUnavailable";

let latest = null;
let retryTimer = 0;

export function initStatus() {
  $("reconnect-now").addEventListener("click", async () => {
    setText($("reconnect-error"), "");
    try {
      await busy($("reconnect-now"), () => api.reconnectNow());
    } catch (err) {
      setText($("reconnect-error"), err.message);
    }
  });
  $("agent-start").addEventListener("click", async () => {
    setText($("agent-start-error"), "");
    try {
      await busy($("agent-start"), () => api.startAgent());
    } catch (err) {
      setText($("agent-start-error"), err.message);
    }
  });
}

export function agentUnavailable(status) {
  return Boolean(status && status.state && status.state.kind === AGENT_UNAVAILABLE);
}

export function latestStatus() {
  return latest;
}

export function renderStatus(status) {
  if (!status || !status.state) return;
  latest = status;
  const kind = DOT_STATES.indexOf(status.state.kind) === -1 ? "unknown" : status.state.kind;
  const label = status.label || kind;

  $("conn-dot").dataset.state = kind;
  setText($("conn-label"), label);
  $("status-dot").dataset.state = kind;
  setText($("status-state"), label);

  const unread = Number(status.unread) || 0;
  setText($("unread-count"), String(unread));
  const badge = $("nav-unread");
  setText(badge, unread > 99 ? "99+" : String(unread));
  show(badge, unread > 0);

  const detail = stateDetail(status.state, label);
  setText($("status-detail"), detail);
  show($("status-detail"), Boolean(detail));

  setText($("status-server"), status.server || "—");
  setText($("status-user"), status.user || "—");
  setText($("status-since"), dateTime(status.connectedSince));
  setText($("status-last-event"), dateTime(status.lastEventAt, "None yet"));
  setText($("status-reconnects"), String(Number(status.reconnects) || 0));
  setText($("status-catch-up"), CATCH_UP_TEXT[status.catchUp] || CATCH_UP_TEXT.unknown);
  $("status-catch-up").dataset.catchUp = CATCH_UP_TEXT[status.catchUp] ? status.catchUp : "unknown";
  setText($("status-rejected"), String(Number(status.rejectedEvents) || 0));

  renderWarnings(status.warnings || []);
  renderRetry();
  renderAgent(agentUnavailable(status));
}

// Without an agent the banner says so on every view, and offers to start it;
// what is on the page stays, since it comes back when the agent does.
function renderAgent(gone) {
  const banner = $("agent-banner");
  if (gone && banner.hidden) setText($("agent-start-error"), "");
  show(banner, gone);
  // Nothing is known about the connection then: no facts rather than zeros.
  show($("status-facts"), !gone);
  document.body.classList.toggle("agent-unavailable", gone);
  $("reconnect-now").disabled = gone;
}

// Extra words the label may not carry, such as why sign-in stopped working.
function stateDetail(state, label) {
  let text = "";
  if (state.kind === "authFailed") text = state.message || "";
  else if (state.kind === "backoff") text = state.reason || "";
  else if (state.kind === AGENT_UNAVAILABLE) text = "The status shows again when Herald's agent runs.";
  if (!text || label.indexOf(text) !== -1) return "";
  return text;
}

function renderWarnings(warnings) {
  const list = $("status-warnings");
  list.replaceChildren(...warnings.map((w) => h("li", { text: String(w) })));
  show($("status-warnings-box"), warnings.length > 0);
}

// Counts down locally once a second, and only while a retry is scheduled.
function renderRetry() {
  const at = latest && latest.nextRetryAt;
  const line = $("status-retry");
  if (!isFuture(at)) {
    stopRetryTimer();
    const retrying = latest && latest.state.kind === "backoff" && at;
    setText(line, retrying ? "Retrying now…" : "");
    return;
  }
  setText(line, `Retrying in ${Math.max(1, secondsUntil(at))} s`);
  if (!retryTimer) retryTimer = setInterval(renderRetry, 1000);
}

function stopRetryTimer() {
  if (retryTimer) {
    clearInterval(retryTimer);
    retryTimer = 0;
  }
}
