// Signs in to a Herald-compatible server and prints every event it pushes,
// using the official socket.io client, as a seed frontend would.
//
//   node watch.mjs URL EMAIL PASSWORD [--json] [--polling]
//   node watch.mjs URL --token TOKEN [--json] [--polling]    (skip the login)
//
// --polling connects as a seed frontend's default does: HTTP long-polling
// first, then the upgrade to WebSocket (without it: WebSocket only).
//
// With --json every line is one JSON object: {"connected": id},
// {"event": name, "payload": ...}, {"connect_error": {...}}, {"disconnect": reason}.
import { io } from "socket.io-client";

const [url, email, password, ...flags] = process.argv.slice(2);
if (!url || !email || !password) {
  console.error("usage: node watch.mjs URL EMAIL PASSWORD [--json] [--polling]");
  process.exit(2);
}
const json = flags.includes("--json");
const transports = flags.includes("--polling") ? ["polling", "websocket"] : ["websocket"];
const say = (obj, text) => console.log(json ? JSON.stringify(obj) : text);

async function login() {
  const response = await fetch(new URL("/api/auth/login", url), {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": "herald-compat-watch" },
    body: JSON.stringify({ email, password }),
  });
  const body = await response.json();
  if (!response.ok) {
    console.error(`login failed (${response.status}): ${JSON.stringify(body)}`);
    process.exit(1);
  }
  return body.token;
}
const token = email === "--token" ? password : await login();

const socket = io(url, { auth: { token }, transports, reconnection: false });
socket.on("connect", () => say({ connected: socket.id }, `connected as ${email} (${socket.id})`));
socket.on("connect_error", (err) =>
  say({ connect_error: { message: err.message, data: err.data ?? null } }, `connect_error: ${err.message}`),
);
socket.on("disconnect", (reason) => say({ disconnect: reason }, `disconnected: ${reason}`));
socket.onAny((event, payload) =>
  (json || !event.startsWith("herald_")) &&
  say({ event, payload }, `#${payload?.id ?? "?"} ${event}: ${payload?.title ?? ""} - ${payload?.message ?? ""}`),
);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    socket.close();
    process.exit(0);
  });
}
