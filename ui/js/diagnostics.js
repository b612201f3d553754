// Diagnostics: the doctor's checks and the test-notification request.

import { api } from "./api.js";
import { $, h, setText, busy } from "./dom.js";

const CHECK_NAMES = {
  keyring: "Keyring",
  server: "Server",
  session: "Session",
  socket: "Live connection",
  notifications: "Desktop notifications",
  autostart: "Start at login",
};

let running = null;

export function initDiagnostics() {
  $("doctor-run").addEventListener("click", runDoctor);
  $("send-test").addEventListener("click", sendTest);
}

export function runDoctor() {
  // A second request while checks run would only repeat the same probes.
  if (running) return running;
  running = doRun().finally(() => {
    running = null;
  });
  return running;
}

async function doRun() {
  const button = $("doctor-run");
  const list = $("doctor-results");
  const summary = $("doctor-summary");
  button.setAttribute("aria-busy", "true");
  list.setAttribute("aria-busy", "true");
  summary.dataset.kind = "";
  setText(summary, "Running checks…");
  try {
    const checks = (await api.doctor()) || [];
    list.replaceChildren(...checks.map(renderCheck));
    const failed = checks.filter((c) => !c.ok).length;
    summary.dataset.kind = failed ? "error" : "ok";
    setText(summary, failed
      ? `${failed} of ${checks.length} checks failed.`
      : `All ${checks.length} checks passed.`);
  } catch (err) {
    summary.dataset.kind = "error";
    setText(summary, err.message);
  } finally {
    button.removeAttribute("aria-busy");
    list.removeAttribute("aria-busy");
  }
}

function checkName(name) {
  if (CHECK_NAMES[name]) return CHECK_NAMES[name];
  const words = String(name || "check").replace(/[_-]+/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function renderCheck(check) {
  const ok = Boolean(check.ok);
  return h("li", { class: ok ? "check-row ok" : "check-row failed", dataset: { name: String(check.name || "") } },
    h("span", { class: "check-mark", "aria-hidden": "true", text: ok ? "✓" : "✕" }),
    h("span", { class: "check-body" },
      h("span", { class: "check-head" },
        h("span", { class: "check-name", text: checkName(check.name) }),
        h("span", { class: "check-verdict", text: ok ? "OK" : "Failed" })),
      check.detail ? h("span", { class: "check-detail", text: String(check.detail) }) : null,
      check.hint ? h("span", { class: "check-hint", text: String(check.hint) }) : null));
}

function sendTest() {
  const result = $("send-test-result");
  return busy($("send-test"), async () => {
    result.dataset.kind = "";
    setText(result, "Asking the server…");
    try {
      await api.sendTest();
      result.dataset.kind = "ok";
      setText(result, "Requested. One test notification of each type should arrive in a moment.");
    } catch (err) {
      result.dataset.kind = "error";
      setText(result, err.message);
    }
  });
}
