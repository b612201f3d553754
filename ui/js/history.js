// The history list: one query at a time, paged with beforeId, then kept
// current by inbox events instead of reloading.

import { api } from "./api.js";
import { $, h, setText, show, busy, isBusy } from "./dom.js";
import { KNOWN_KINDS, kindLabel } from "./format.js";
import { buildRow, fillRow } from "./row.js";
import { closeDetails, currentDetailsId, dropDetailsFor, initDetails, isDetailsOpen, refreshDetails, showDetails } from "./details.js";

const PAGE_SIZE = 50;
const SEARCH_DELAY_MS = 200;

const filters = { kind: "", search: "", unreadOnly: false };
let items = [];
const rows = new Map();
let hasMore = false;
let loaded = false;
// Bumped on every reload so answers to superseded queries are dropped.
let generation = 0;
let searchTimer = 0;
// Changes that arrive while a page is on its way are applied once it lands;
// the page may or may not already contain them, and applying twice is harmless.
let pending = false;
let queued = [];
// The last load failed (e.g. no agent answered): a reset tries again.
let failed = false;

export function initHistory() {
  initDetails({ onClose: afterDetailsClosed });
  KNOWN_KINDS.forEach(addKindOption);

  $("history-filter-type").addEventListener("change", (e) => {
    filters.kind = e.target.value;
    reloadHistory();
  });
  $("history-search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    const value = e.target.value.trim();
    searchTimer = setTimeout(() => {
      if (value === filters.search) return;
      filters.search = value;
      reloadHistory();
    }, SEARCH_DELAY_MS);
  });
  $("history-unread-only").addEventListener("change", (e) => {
    filters.unreadOnly = e.target.checked;
    reloadHistory();
  });
  $("history-more").addEventListener("click", loadMore);
  $("mark-all-read").addEventListener("click", markAllRead);

  const list = $("history-list");
  list.addEventListener("click", onListClick);
  list.addEventListener("keydown", onListKeydown);
}

export function historyLoaded() {
  return loaded;
}

function query(beforeId) {
  const q = { limit: PAGE_SIZE };
  if (filters.kind) q.kind = filters.kind;
  if (filters.unreadOnly) q.unreadOnly = true;
  if (filters.search) q.search = filters.search;
  if (beforeId !== undefined) q.beforeId = beforeId;
  return q;
}

export async function reloadHistory() {
  const mine = ++generation;
  const list = $("history-list");
  list.setAttribute("aria-busy", "true");
  pending = true;
  queued = [];
  setError("");
  try {
    const page = await api.history(query());
    if (mine !== generation) return;
    items = [];
    rows.clear();
    list.replaceChildren();
    appendPage(page);
    loaded = true;
    failed = false;
  } catch (err) {
    if (mine === generation) {
      failed = true;
      setError(err.message);
    }
  } finally {
    if (mine === generation) {
      pending = false;
      list.removeAttribute("aria-busy");
      const replay = queued;
      queued = [];
      if (loaded) replay.forEach(applyInbox);
      refreshChrome();
    }
  }
}

// Forget everything, e.g. after signing out, so the next account starts clean.
export function clearHistory() {
  generation++;
  items = [];
  rows.clear();
  hasMore = false;
  loaded = false;
  pending = false;
  failed = false;
  queued = [];
  $("history-list").removeAttribute("aria-busy");
  $("history-list").replaceChildren();
  closeDetails(false);
  refreshChrome();
}

async function loadMore() {
  if (!items.length) return reloadHistory();
  const mine = generation;
  const last = items[items.length - 1];
  setError("");
  try {
    await busy($("history-more"), async () => {
      const page = await api.history(query(last.id));
      if (mine !== generation) return;
      const firstNew = items.length;
      const hadFocus = document.activeElement === $("history-more");
      appendPage(page);
      // The button may vanish after the last page; keep keyboard users in the list.
      if (hadFocus && items[firstNew]) focusRow(rows.get(items[firstNew].id));
    });
  } catch (err) {
    if (mine === generation) setError(err.message);
  }
  refreshChrome();
}

function appendPage(page) {
  const list = $("history-list");
  const fragment = document.createDocumentFragment();
  for (const item of page || []) {
    if (rows.has(item.id)) continue;
    addKindOption(item.kind);
    items.push(item);
    const row = renderRow(item);
    rows.set(item.id, row);
    fragment.append(row);
  }
  list.append(fragment);
  hasMore = (page || []).length >= PAGE_SIZE;
}

// ---- live updates -------------------------------------------------------

export function applyInbox(change) {
  if (!change) return;
  if (change.kind === "reset") {
    closeDetails(false);
    // Not loaded yet: the first visit to History loads the new account's list.
    if (loaded || pending || failed) reloadHistory();
    return;
  }
  if (pending) {
    queued.push(change);
    return;
  }
  if (!loaded) return;
  switch (change.kind) {
    case "added":
      (change.items || []).forEach(insertLive);
      break;
    case "read":
      setRead(change.ids || [], Boolean(change.read));
      break;
    case "deleted":
      removeIds(change.ids || []);
      break;
    default:
      return;
  }
  refreshChrome();
}

function matches(item) {
  if (filters.kind && item.kind !== filters.kind) return false;
  if (filters.unreadOnly && item.read) return false;
  if (filters.search) {
    const needle = filters.search.toLowerCase();
    const hay = `${item.title || ""}\n${item.message || ""}`.toLowerCase();
    if (hay.indexOf(needle) === -1) return false;
  }
  return true;
}

// Order used by the shell: unread before read, each newest (highest id) first.
function before(a, b) {
  if (Boolean(a.read) !== Boolean(b.read)) return !a.read;
  return a.id > b.id;
}

function insertLive(item) {
  addKindOption(item.kind);
  if (rows.has(item.id)) {
    replaceItem(item);
    return;
  }
  if (!matches(item)) return;
  const index = items.findIndex((other) => before(item, other));
  // Past the end of what is loaded it belongs to a later page; "Load more" will bring it.
  if (index === -1 && hasMore) return;
  const row = renderRow(item);
  rows.set(item.id, row);
  if (index === -1) {
    items.push(item);
    $("history-list").append(row);
  } else {
    const anchor = rows.get(items[index].id);
    items.splice(index, 0, item);
    $("history-list").insertBefore(row, anchor);
  }
  row.classList.add("fresh");
}

function replaceItem(item) {
  const index = items.findIndex((x) => x.id === item.id);
  if (index === -1) return;
  items[index] = item;
  updateRow(rows.get(item.id), item);
  refreshDetails(item);
}

function setRead(ids, read) {
  const gone = [];
  for (const id of ids) {
    const index = items.findIndex((x) => x.id === id);
    if (index === -1) continue;
    const item = Object.assign({}, items[index], { read });
    items[index] = item;
    refreshDetails(item);
    if (filters.unreadOnly && read) gone.push(id);
    else updateRow(rows.get(id), item);
  }
  // Rows stay where they are so nothing moves under the pointer, except in
  // "Unread only", where a read item no longer belongs.
  if (gone.length) removeIds(gone, true);
}

function removeIds(ids, keepDetails) {
  const focused = document.activeElement;
  let refocus = null;
  for (const id of ids) {
    const row = rows.get(id);
    if (!row) continue;
    if (row.contains(focused)) refocus = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    rows.delete(id);
    items = items.filter((x) => x.id !== id);
  }
  if (!keepDetails) dropDetailsFor(ids);
  if (refocus) focusRow(refocus);
  else if (focused && !document.body.contains(focused)) $("history-list").focus();
}

// ---- rendering ----------------------------------------------------------

function renderRow(item) {
  return buildRow(item, currentDetailsId() === item.id);
}

function updateRow(row, item) {
  if (row) fillRow(row, item, currentDetailsId() === item.id);
}

function refreshChrome() {
  const empty = $("history-empty");
  const filtered = Boolean(filters.kind || filters.search || filters.unreadOnly);
  setText(empty, filtered ? "Nothing matches these filters." : "No notifications yet. New ones appear here as they arrive.");
  show(empty, loaded && items.length === 0);
  show($("history-more"), loaded && hasMore && items.length > 0);
}

function addKindOption(kind) {
  if (!kind) return;
  const select = $("history-filter-type");
  for (const option of select.options) if (option.value === kind) return;
  select.append(h("option", { value: kind, text: kindLabel(kind) }));
}

function setError(message) {
  setText($("history-error"), message);
}

// ---- interaction --------------------------------------------------------

function itemOf(target) {
  const row = target.closest("li.item");
  if (!row) return null;
  const id = Number(row.dataset.id);
  return items.find((x) => x.id === id) || null;
}

function onListClick(e) {
  const target = e.target;
  const item = itemOf(target);
  if (!item) return;
  if (target.closest(".mark-read")) toggleRead(item, target.closest(".mark-read"));
  else if (target.closest(".delete")) deleteItem(item, target.closest(".delete"));
  else if (target.closest(".item-open")) openItem(item, false);
}

function onListKeydown(e) {
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
  const row = e.target.closest("li.item");
  if (!row) return;
  const next = e.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
  if (next) {
    e.preventDefault();
    focusRow(next);
  }
}

function focusRow(row) {
  const button = row && row.querySelector(".item-open");
  if (button) button.focus();
}

function once(button, work) {
  return busy(button, work).catch((err) => setError(err.message));
}

function toggleRead(item, button) {
  setError("");
  return once(button, async () => {
    const read = !item.read;
    await api.markRead([item.id], read);
    setRead([item.id], read);
    refreshChrome();
  });
}

function deleteItem(item, button) {
  setError("");
  return once(button, async () => {
    await api.deleteItems([item.id]);
    removeIds([item.id]);
    refreshChrome();
  });
}

async function markAllRead() {
  if (isBusy($("mark-all-read"))) return;
  setError("");
  try {
    await busy($("mark-all-read"), () => api.markAllRead());
    setRead(items.filter((x) => !x.read).map((x) => x.id), true);
    refreshChrome();
  } catch (err) {
    setError(err.message);
  }
}

// ---- details ------------------------------------------------------------

export function openItem(item, fromShell, url) {
  const previous = currentDetailsId();
  if (previous !== null && rows.has(previous)) rows.get(previous).classList.remove("selected");
  const known = items.find((x) => x.id === item.id);
  if (fromShell && known) replaceItem(Object.assign({}, known, item));
  showDetails(known && !fromShell ? known : item, url);
  const row = rows.get(item.id);
  if (row) row.classList.add("selected");
  // When the panel covers the list (narrow window) focus must follow it.
  if (fromShell || listCovered()) $("details").focus();
}

export function closeDetailsIfOpen() {
  if (!isDetailsOpen()) return false;
  closeDetails(true);
  return true;
}

function afterDetailsClosed(id, restoreFocus) {
  const row = id !== null ? rows.get(id) : null;
  if (row) row.classList.remove("selected");
  if (restoreFocus && row) focusRow(row);
}

function listCovered() {
  return window.matchMedia("(max-width: 959px)").matches;
}
