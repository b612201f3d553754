// The Settings form. It edits a copy of what the shell sent, so fields this
// view does not know about are saved back unchanged.

import { api } from "./api.js";
import { $, h, setText, busy, isBusy } from "./dom.js";
import { KNOWN_KINDS, isFuture, kindLabel, shortTime } from "./format.js";

const LOGIN_KIND = "login_notification";
const URGENCIES = [
  ["", "Automatic"],
  ["low", "Low"],
  ["normal", "Normal"],
  ["critical", "Critical"],
];

let loaded = null;
let generation = 0;

export function initSettings() {
  const form = $("settings-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    save();
  });
  form.addEventListener("input", (e) => {
    if (e.target.closest && !e.target.closest(".button-row")) setResult("", "");
  });
  $("quiet-enabled").addEventListener("change", syncQuietFields);
  $("pause-hour").addEventListener("click", (e) => pause("hour", e.currentTarget));
  $("pause-tomorrow").addEventListener("click", (e) => pause("tomorrow", e.currentTarget));
  $("pause-resume").addEventListener("click", (e) => pause("resume", e.currentTarget));
}

export async function loadSettings() {
  const mine = ++generation;
  setResult("", "");
  setText($("pause-error"), "");
  $("settings-form").setAttribute("aria-busy", "true");
  try {
    const settings = await api.settings();
    if (mine === generation) render(settings);
  } catch (err) {
    if (mine === generation) setResult(err.message, "error");
  } finally {
    if (mine === generation) $("settings-form").removeAttribute("aria-busy");
  }
}

function typeList(settings) {
  const known = Array.isArray(settings.knownTypes) && settings.knownTypes.length ? settings.knownTypes : KNOWN_KINDS;
  const extra = Object.keys(settings.types || {}).filter((t) => known.indexOf(t) === -1);
  return known.concat(extra);
}

function render(settings) {
  loaded = settings;
  const types = settings.types || {};
  $("types-rows").replaceChildren(...typeList(settings).map((type) => typeRow(type, types[type] || {})));

  const quiet = settings.quietHours;
  $("quiet-enabled").checked = Boolean(quiet);
  if (quiet) {
    $("quiet-start").value = quiet.start || "";
    $("quiet-end").value = quiet.end || "";
  }
  syncQuietFields();

  $("desktop-notifications").checked = settings.desktopNotifications !== false;
  $("start-at-login").checked = Boolean(settings.startAtLogin);
  renderPaused(settings.pausedUntil);
}

function typeRow(type, policy) {
  const name = kindLabel(type);
  const enabled = policy.enabled !== false;
  const urgency = policy.urgency || "";
  const select = h("select", { "data-type-urgency": type, "aria-label": `Urgency of ${name}` },
    ...URGENCIES.map(([value, label]) => h("option", { value, text: label })));
  select.value = URGENCIES.some(([value]) => value === urgency) ? urgency : "";
  const header = h("th", { scope: "row" }, h("span", { class: "type-name", text: name }));
  if (type === LOGIN_KIND) {
    header.append(h("span", { class: "note", text: "Login alerts are security alerts: pause and quiet hours never silence them." }));
  }
  return h("tr", { dataset: { type } },
    header,
    h("td", null, h("input", { type: "checkbox", "data-type-enabled": type, "aria-label": `Show ${name}`, checked: enabled })),
    h("td", null, select));
}

function syncQuietFields() {
  const on = $("quiet-enabled").checked;
  $("quiet-start").disabled = !on;
  $("quiet-end").disabled = !on;
  // Offer a sensible window the first time quiet hours are switched on.
  if (on && !$("quiet-start").value) $("quiet-start").value = "22:00";
  if (on && !$("quiet-end").value) $("quiet-end").value = "07:00";
}

function collect() {
  const settings = JSON.parse(JSON.stringify(loaded));
  const types = Object.assign({}, settings.types || {});
  for (const box of document.querySelectorAll("input[data-type-enabled]")) {
    const type = box.getAttribute("data-type-enabled");
    const select = document.querySelector(`select[data-type-urgency="${CSS.escape(type)}"]`);
    types[type] = Object.assign({}, types[type], { enabled: box.checked, urgency: (select && select.value) || null });
  }
  settings.types = types;
  settings.quietHours = $("quiet-enabled").checked
    ? { start: $("quiet-start").value, end: $("quiet-end").value }
    : null;
  settings.desktopNotifications = $("desktop-notifications").checked;
  settings.startAtLogin = $("start-at-login").checked;
  return settings;
}

async function save() {
  if (isBusy($("settings-save"))) return;
  if (!loaded) {
    setResult("Settings are not loaded yet.", "error");
    return;
  }
  if ($("quiet-enabled").checked && (!$("quiet-start").value || !$("quiet-end").value)) {
    setResult("Enter both a start and an end time for quiet hours.", "error");
    return;
  }
  setResult("", "");
  generation++;
  try {
    const saved = await busy($("settings-save"), () => api.saveSettings(collect()));
    render(saved || loaded);
    setResult("Saved", "ok");
  } catch (err) {
    setResult(err.message, "error");
  }
}

async function pause(choice, button) {
  setText($("pause-error"), "");
  try {
    const settings = await busy(button, () => api.pause(choice));
    // Only the pause changes here; unsaved edits elsewhere in the form stay.
    if (settings) {
      if (loaded) loaded.pausedUntil = settings.pausedUntil;
      renderPaused(settings.pausedUntil);
    }
  } catch (err) {
    setText($("pause-error"), err.message);
  }
}

function renderPaused(until) {
  const el = $("paused-until");
  el.dataset.paused = isFuture(until) ? "true" : "false";
  setText(el, isFuture(until) ? `Notifications are paused until ${shortTime(until)}.` : "Notifications are not paused.");
}

function setResult(text, kind) {
  const el = $("settings-result");
  setText(el, text);
  el.dataset.kind = kind || "";
}
