// Wires the views together: which one is shown, the shell's events, and the
// window-wide keys. Each view keeps its own state in its own module.

import { api, available, closeWindow, on } from "./api.js";
import { $, setText, busy, isBusy } from "./dom.js";
import { runDoctor, initDiagnostics } from "./diagnostics.js";
import { applyInbox, clearHistory, closeDetailsIfOpen, historyLoaded, initHistory, openItem, reloadHistory } from "./history.js";
import { initSettings, loadSettings } from "./settings.js";
import { initSignin, prepareSignin } from "./signin.js";
import { AGENT_UNAVAILABLE, agentUnavailable, initStatus, latestStatus, renderStatus } from "./status.js";

const VIEWS = ["signin", "history", "status", "settings", "diagnostics"];
const SIGNED_IN_VIEWS = ["history", "status", "settings", "diagnostics"];

let current = null;
// null until the first status answer: nothing is shown before then, so the
// sign-in form never flashes up for someone who is signed in.
let signedIn = null;
let signedOutReason = null;
let wanted = "history";
// Status events seen so far. An answer that carries a Status (to `status` or
// `sign_in`) may reach the page after an event that is newer than it: it is
// shown only when no event came while it was on its way, and otherwise the
// events, which always end with the latest state, have said it already.
let statusEvents = 0;

function showView(name) {
  if (VIEWS.indexOf(name) === -1) return;
  if (signedIn === null) {
    if (name !== "signin") wanted = name;
    return;
  }
  if (!signedIn) name = "signin";
  else if (name === "signin") return;

  const entering = name !== current;
  current = name;
  for (const view of VIEWS) $(`view-${view}`).hidden = view !== name;
  for (const view of SIGNED_IN_VIEWS) {
    const button = $(`nav-${view}`);
    if (view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (name === "signin") {
    prepareSignin(signedOutReason);
    return;
  }
  wanted = name;
  if (!entering) return;
  if (name === "history" && !historyLoaded()) reloadHistory();
  else if (name === "settings") loadSettings();
  else if (name === "diagnostics") runDoctor();
}

function setSignedIn(value, reason) {
  signedOutReason = value ? null : reason || null;
  if (signedIn === value) {
    if (!value && current === "signin") prepareSignin(signedOutReason);
    return;
  }
  signedIn = value;
  document.body.classList.remove("booting");
  document.body.classList.toggle("signed-in", value);
  document.body.classList.toggle("signed-out", !value);
  if (value) {
    showView(wanted);
  } else {
    clearHistory();
    wanted = "history";
    showView("signin");
  }
}

function applyStatus(status) {
  if (!status || !status.state) return;
  renderStatus(status);
  // Without an agent nobody knows whether Herald is signed in: the view
  // stays as it is (or still empty), and the banner says what is going on.
  if (agentUnavailable(status)) return;
  const kind = status.state.kind;
  setSignedIn(kind !== "signedOut", kind === "signedOut" ? status.state.reason : null);
  openFromFragment();
}

function applyAnswer(status, mark) {
  if (mark === statusEvents) applyStatus(status);
}

// The first status call found no agent (it went away during the call):
// show what the shell's own status event will say.
function agentGone() {
  applyStatus({
    state: { kind: AGENT_UNAVAILABLE },
    label: "Herald's agent is not running",
    unread: 0,
    warnings: [],
  });
}

async function signOut() {
  if (isBusy($("sign-out"))) return;
  const error = $("sign-out-error");
  setText(error, "");
  try {
    await busy($("sign-out"), () => api.signOut());
  } catch (err) {
    setText(error, err.message);
    return;
  }
  // The shell also sends a status event; switching now keeps the click responsive.
  const previous = latestStatus() || {};
  applyStatus(Object.assign({}, previous, {
    state: { kind: "signedOut", reason: "notSignedIn" },
    label: "Signed out",
    unread: 0,
  }));
}

function onKeydown(e) {
  if (e.defaultPrevented) return;
  const key = e.key;
  if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && (key === "w" || key === "W")) {
    e.preventDefault();
    closeWindow();
    return;
  }
  if (key !== "Escape" || e.ctrlKey || e.altKey || e.metaKey || e.shiftKey) return;
  const target = e.target;
  // Escape in a filled search box clears it; it should not also close the window.
  if (target && target.type === "search" && target.value) return;
  if (current === "history" && closeDetailsIfOpen()) {
    e.preventDefault();
    return;
  }
  e.preventDefault();
  closeWindow();
}

function init() {
  initSignin({
    statusMark: () => statusEvents,
    onSignedIn: (status, mark) => {
      wanted = "history";
      applyAnswer(status, mark);
      // Whatever the answer says, a successful sign-in leaves the form behind.
      if (!signedIn) setSignedIn(true);
      showView("history");
    },
  });
  initHistory();
  initStatus();
  initSettings();
  initDiagnostics();

  for (const view of SIGNED_IN_VIEWS) {
    $(`nav-${view}`).addEventListener("click", () => showView(view));
  }
  $("sign-out").addEventListener("click", signOut);
  document.addEventListener("keydown", onKeydown);

  // Listen before asking, so no change between the answer and the listener is lost.
  on("status", (status) => {
    statusEvents++;
    applyStatus(status);
  });
  on("inbox", applyInbox);
  on("open", (payload) => {
    if (!payload || !payload.item || signedIn === false) return;
    if (signedIn === null) wanted = "history";
    showView("history");
    openItem(payload.item, true, payload.url);
  });

  if (!available()) {
    setText($("conn-label"), "Not connected to Herald");
  }
  const mark = statusEvents;
  api.status().then((status) => applyAnswer(status, mark), (err) => {
    if (err.kind === AGENT_UNAVAILABLE) {
      agentGone();
      return;
    }
    setText($("conn-label"), "Herald is not responding");
    setSignedIn(false, null);
    setText($("signin-error"), err.message);
  });
}

// A window opened by "View Details" starts at `#open=ID`: the page was not
// listening yet when the shell routed it, so the route travels in the URL.
// It is followed once, at the first status that says who is signed in.
function openFromFragment() {
  const match = /^#open=(\d+)$/.exec(window.location.hash);
  if (!match || signedIn === null) return;
  history.replaceState(null, "", window.location.pathname);
  if (!signedIn) return;
  api.item(Number(match[1])).then((item) => {
    if (!item) return;
    showView("history");
    openItem(item, true, null);
  }, (err) => console.error("Opening the notification failed", err));
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
