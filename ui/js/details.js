// The details panel of one history item, shown beside (or, when narrow, over) the list.

import { api } from "./api.js";
import { $, setText, show, busy } from "./dom.js";
import { dateTime, isEmptyData, kindLabel, prettyJson, severityClass, severityLabel } from "./format.js";

let current = null;
let onClose = () => {};

export function initDetails(options) {
  onClose = options.onClose;
  $("details-close").addEventListener("click", () => closeDetails(true));
  $("details-open-link").addEventListener("click", openLink);
}

export function currentDetailsId() {
  return current ? current.id : null;
}

export function isDetailsOpen() {
  return !$("details").hidden;
}

export function showDetails(item, url) {
  current = item;
  const link = url || item.url || null;
  setText($("details-title"), item.title || "(no title)");
  setText($("details-message"), item.message || "");
  show($("details-message"), Boolean(item.message));
  setText($("details-kind"), kindLabel(item.kind));
  setText($("details-severity"), severityLabel(item.severity));
  $("details-severity").className = `sev-text sev-${severityClass(item.severity)}`;
  setText($("details-created"), dateTime(item.createdAt));
  setText($("details-received"), dateTime(item.receivedAt));
  setText($("details-data"), isEmptyData(item.data) ? "No extra data." : prettyJson(item.data));
  $("details-data").classList.toggle("muted", isEmptyData(item.data));
  setText($("details-url"), link || "");
  show($("details-link-row"), Boolean(link));
  setText($("details-error"), "");
  const panel = $("details");
  panel.dataset.id = String(item.id);
  show(panel, true);
  $("history-panes").classList.add("has-details");
}

export function refreshDetails(item) {
  if (current && item && current.id === item.id) current = item;
}

export function closeDetails(restoreFocus) {
  if (!current && $("details").hidden) return;
  const id = current ? current.id : null;
  current = null;
  show($("details"), false);
  delete $("details").dataset.id;
  $("history-panes").classList.remove("has-details");
  onClose(id, restoreFocus);
}

// Called when the shown item is deleted elsewhere.
export function dropDetailsFor(ids) {
  if (current && ids.indexOf(current.id) !== -1) closeDetails(false);
}

function openLink() {
  if (!current) return;
  const id = current.id;
  setText($("details-error"), "");
  busy($("details-open-link"), () => api.openLink(id)).catch((err) => {
    setText($("details-error"), err.message);
  });
}
