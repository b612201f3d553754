// Turning shell values into short human text.

const KIND_LABELS = {
  login_notification: "Login alert",
  order_update: "Order update",
  new_order: "New order",
  payment_update: "Payment update",
  announcement: "Announcement",
  notification: "Notification",
};

export const KNOWN_KINDS = Object.keys(KIND_LABELS);

export function kindLabel(kind) {
  if (!kind) return "Notification";
  if (KIND_LABELS[kind]) return KIND_LABELS[kind];
  const words = String(kind).replace(/[_-]+/g, " ").trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : "Notification";
}

const SEVERITY_LABELS = { info: "Info", success: "Success", warning: "Warning", critical: "Critical" };

export function severityLabel(severity) {
  return SEVERITY_LABELS[severity] || kindLabel(severity || "info");
}

// Severity goes into a class name, so only known values get through.
export function severityClass(severity) {
  return SEVERITY_LABELS[severity] ? severity : "info";
}

function toDate(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayTimeFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });

export function dateTime(value, fallback = "—") {
  const date = toDate(value);
  return date ? fullFormat.format(date) : fallback;
}

// Compact form for list rows: the time for today, the day and time otherwise.
export function shortTime(value) {
  const date = toDate(value);
  if (!date) return "";
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay ? timeFormat.format(date) : dayTimeFormat.format(date);
}

export function secondsUntil(value) {
  const date = toDate(value);
  if (!date) return null;
  return Math.ceil((date.getTime() - Date.now()) / 1000);
}

export function isFuture(value) {
  const date = toDate(value);
  return Boolean(date) && date.getTime() > Date.now();
}

export function prettyJson(value) {
  try {
    return JSON.stringify(value, null, 2);
  } catch (_) {
    return String(value);
  }
}

export function isEmptyData(value) {
  if (value === null || value === undefined) return true;
  if (typeof value === "object" && !Array.isArray(value)) return Object.keys(value).length === 0;
  if (Array.isArray(value)) return value.length === 0;
  return false;
}
