// Element building that only ever sets text, so server data cannot become markup.

export function $(id) {
  return document.getElementById(id);
}

// h("li", { class: "item", dataset: { id: 3 } }, "text", childNode)
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "text") el.textContent = value;
      else if (key in el && typeof value !== "string") el[key] = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function setText(el, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function show(el, visible) {
  el.hidden = !visible;
}

// While a command runs its button ignores further presses. It is marked busy
// rather than disabled, because disabling the focused button would throw
// keyboard focus back to the page.
export function isBusy(button) {
  return button.getAttribute("aria-busy") === "true";
}

export async function busy(button, work) {
  if (isBusy(button)) return undefined;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.removeAttribute("aria-busy");
  }
}
