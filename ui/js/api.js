// The only module that touches the shell. Every command rejects with a
// `{ kind, message }` object, so callers can always show `err.message`; while
// Herald's agent is not running, that kind is "agentUnavailable".

const tauri = window.__TAURI__;

function toError(raw) {
  if (raw && typeof raw === "object" && typeof raw.message === "string") {
    return { kind: typeof raw.kind === "string" ? raw.kind : "internal", message: raw.message };
  }
  // The IPC layer itself (unknown command, denied permission) rejects with a bare string.
  const text = typeof raw === "string" && raw ? raw : "Something went wrong. Try again.";
  return { kind: "internal", message: text };
}

export function available() {
  return Boolean(tauri && tauri.core && tauri.event);
}

export function call(command, args) {
  if (!available()) {
    return Promise.reject(toError("Herald's window is not connected to the app."));
  }
  let pending;
  try {
    pending = tauri.core.invoke(command, args || {});
  } catch (raw) {
    return Promise.reject(toError(raw));
  }
  return Promise.resolve(pending).catch((raw) => {
    throw toError(raw);
  });
}

export function on(event, handler) {
  if (!available()) return;
  const wrapped = (message) => {
    try {
      handler(message ? message.payload : undefined);
    } catch (err) {
      console.error(`Handling "${event}" failed`, err);
    }
  };
  Promise.resolve(tauri.event.listen(event, wrapped)).catch((err) => {
    console.error(`Listening for "${event}" failed`, err);
  });
}

export function closeWindow() {
  try {
    const win = tauri && tauri.window && tauri.window.getCurrentWindow();
    if (win) Promise.resolve(win.close()).catch(() => {});
  } catch (_) {
    // Outside the app there is no window to close; nothing to do.
  }
}

export const api = {
  status: () => call("status"),
  signIn: (server, email, password, insecureHttp, caPem) =>
    call("sign_in", { server, email, password, insecureHttp, caPem }),
  signOut: () => call("sign_out"),
  history: (query) => call("history", { query }),
  item: (id) => call("item", { id }),
  markRead: (ids, read) => call("mark_read", { ids, read }),
  markAllRead: () => call("mark_all_read"),
  deleteItems: (ids) => call("delete_items", { ids }),
  openLink: (id) => call("open_link", { id }),
  settings: () => call("settings"),
  saveSettings: (settings) => call("save_settings", { settings }),
  pause: (choice) => call("pause", { choice }),
  reconnectNow: () => call("reconnect_now"),
  doctor: () => call("doctor"),
  sendTest: () => call("send_test"),
  defaults: () => call("defaults"),
  startAgent: () => call("start_agent"),
};
