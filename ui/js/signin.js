// The sign-in form, the only view while signed out.

import { api } from "./api.js";
import { $, setText } from "./dom.js";

const REASON_TEXT = {
  sessionExpired: "Your session expired. Sign in again.",
};

let onSignedIn = () => {};
let statusMark = () => 0;
let submitting = false;
let prefilled = false;

export function initSignin(options) {
  onSignedIn = options.onSignedIn;
  statusMark = options.statusMark;
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
}

// Called each time the view is shown; `reason` is the signedOut reason, if any.
export function prepareSignin(reason) {
  if (!submitting) setText($("signin-error"), REASON_TEXT[reason] || "");
  if (!prefilled) {
    prefilled = true;
    // Focus waits for the prefill, so it lands on the first field still empty.
    prefill().then(focusFirstEmpty);
  } else {
    focusFirstEmpty();
  }
}

async function prefill() {
  try {
    const defaults = (await api.defaults()) || {};
    // Never overwrite what the user already typed.
    for (const [field, id] of [["server", "signin-server"], ["email", "signin-email"], ["password", "signin-password"]]) {
      const input = $(id);
      if (!input.value && typeof defaults[field] === "string") input.value = defaults[field];
    }
  } catch (_) {
    // Prefill is a convenience; the form works without it.
    prefilled = false;
  }
}

function focusFirstEmpty() {
  const view = $("view-signin");
  if (view.hidden) return;
  if (view.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
  const fields = ["signin-server", "signin-email", "signin-password"].map($);
  const target = fields.find((f) => !f.value) || $("signin-submit");
  target.focus();
}

function validate(server, email, password) {
  if (!server) return ["signin-server", "Enter the server URL."];
  if (!email) return ["signin-email", "Enter your email address."];
  if (!password) return ["signin-password", "Enter your password."];
  return null;
}

async function submit() {
  if (submitting) return;
  const server = $("signin-server").value.trim();
  const email = $("signin-email").value.trim();
  const password = $("signin-password").value;
  const insecureHttp = $("signin-insecure-http").checked;
  const caPem = $("signin-ca").value.trim() || null;
  const error = $("signin-error");
  const problem = validate(server, email, password);
  if (problem) {
    setText(error, problem[1]);
    $(problem[0]).focus();
    return;
  }

  const button = $("signin-submit");
  submitting = true;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  setText(button, "Signing in…");
  setText(error, "");
  try {
    const mark = statusMark();
    const status = await api.signIn(server, email, password, insecureHttp, caPem);
    $("signin-password").value = "";
    onSignedIn(status, mark);
  } catch (err) {
    setText(error, err.message);
    const field = err.kind === "badServerUrl" || err.kind === "unreachable" ? "signin-server"
      : err.kind === "badCredentials" ? "signin-password"
      : err.kind === "insecureHttp" ? "signin-insecure-http"
      : err.kind === "certificate" ? "signin-ca" : null;
    if (err.kind === "certificate") $("signin-ca").closest("details").open = true;
    button.disabled = false;
    // The disabled button lost focus; put it somewhere useful again.
    $(field || "signin-submit").focus();
  } finally {
    submitting = false;
    button.disabled = false;
    button.removeAttribute("aria-busy");
    setText(button, "Sign in");
  }
}
