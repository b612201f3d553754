// One history row. Built once, then refilled in place when the item changes,
// so focus and scroll position survive live updates.

import { h, setText } from "./dom.js";
import { kindLabel, severityClass, shortTime } from "./format.js";

export function buildRow(item, selected) {
  const titleId = `item-title-${item.id}`;
  const row = h("li", { class: "item", dataset: { id: String(item.id), kind: String(item.kind || "") } },
    h("button", { type: "button", class: "item-open", "aria-controls": "details" },
      h("span", { class: "item-top" },
        h("span", { class: "unread-dot", "aria-hidden": "true" }),
        h("span", { class: "sr-only unread-text" }),
        h("span", { class: "item-title", id: titleId }),
        h("time", { class: "item-time" })),
      h("span", { class: "item-bottom" },
        h("span", { class: "item-kind" }),
        h("span", { class: "item-preview" }))),
    h("span", { class: "item-actions" },
      // The title describes each action, so a screen reader hears which item it acts on.
      h("button", { type: "button", class: "mark-read", "aria-describedby": titleId }),
      h("button", { type: "button", class: "delete", "aria-describedby": titleId, text: "Delete" })));
  fillRow(row, item, selected);
  return row;
}

export function fillRow(row, item, selected) {
  row.className = `item sev-${severityClass(item.severity)}${item.read ? "" : " unread"}${selected ? " selected" : ""}`;
  row.dataset.kind = String(item.kind || "");
  setText(row.querySelector(".item-title"), item.title || "(no title)");
  setText(row.querySelector(".unread-text"), item.read ? "" : "Unread: ");
  const when = item.receivedAt || item.createdAt || "";
  const time = row.querySelector(".item-time");
  setText(time, shortTime(when));
  time.setAttribute("datetime", when);
  setText(row.querySelector(".item-kind"), kindLabel(item.kind));
  setText(row.querySelector(".item-preview"), item.message || "");
  setText(row.querySelector(".mark-read"), item.read ? "Mark unread" : "Mark read");
}
