// The Node peer of Herald's engine: the official socket.io-client v4 (from
// tests/compat), connected as a seed frontend connects, timing each event
// on CLOCK_MONOTONIC (process.hrtime), the clock the bench reads too.
//
//   node client.mjs URL TOKEN latency     one line per event: {"id", "t"}
//   node client.mjs URL TOKEN count N     one line when N events arrived:
//                                         {"done", "distinct", "first", "last"}
//   node client.mjs URL TOKEN idle        connect and do nothing
//
// Prints {"connected": true} once connected; exits when stdin closes.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../../tests/compat/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [url, token, mode, n] = process.argv.slice(2);
const want = Number(n ?? 0);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const now = () => process.hrtime.bigint().toString();

const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
socket.on("connect", () => say({ connected: true }));
socket.on("connect_error", (err) => say({ connect_error: err.message }));
socket.on("disconnect", (reason) => say({ disconnect: reason }));

if (mode === "latency") {
  socket.onAny((_event, payload) => {
    const t = now();
    if (payload?.id !== undefined) say({ id: payload.id, t });
  });
} else if (mode === "count") {
  const seen = new Set();
  let first = null;
  let count = 0;
  socket.onAny((_event, payload) => {
    const t = now();
    if (payload?.id === undefined) return;
    first ??= t;
    count += 1;
    seen.add(payload.id);
    if (count === want) say({ done: count, distinct: seen.size, first, last: t });
  });
}

process.stdin.resume();
process.stdin.on("end", () => {
  socket.close();
  process.exit(0);
});
