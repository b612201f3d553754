// A server with only the seed's contract: Express, socket.io v4 and JWT, as
// ../shared/seed/socketio-push-flow.md draws it. No refresh, no catch-up, no
// event ids. Herald must work against it and say what it lacks.
//
//   node seed-server.mjs PORT
//
// Users: alice@example.com / alice-password (id "u1"), admin@example.com /
// admin-password (id "u2", role admin). A test hook stands in for the seed's
// business events: POST /test/emit {to: "user_u1" | "admin", event, payload}.
// Prints "listening PORT" when ready.
import express from "express";
import { createServer } from "node:http";
import { Server } from "socket.io";
import jwt from "jsonwebtoken";

const port = Number(process.argv[2] ?? 0);
const secret = "seed-secret";
const users = [
  { id: "u1", email: "alice@example.com", name: "Alice", role: "user", password: "alice-password" },
  { id: "u2", email: "admin@example.com", name: "Admin", role: "admin", password: "admin-password" },
];
const tokenLife = process.env.SEED_TOKEN_LIFE ?? "1h";

const app = express();
app.use(express.json());
const http = createServer(app);
const io = new Server(http, { cors: { origin: "*" } });

app.post("/api/auth/login", (req, res) => {
  const { email, password } = req.body ?? {};
  const user = users.find((u) => u.email === email && u.password === password);
  if (!user) return res.status(401).json({ message: "Invalid credentials" });
  const token = jwt.sign({ id: user.id, email: user.email, role: user.role }, secret, { expiresIn: tokenLife });
  const { password: _, ...publicUser } = user;
  res.json({ token, user: publicUser });
  // The seed's login alert, to the user's other sessions.
  io.to(`user_${user.id}`).emit("login_notification", {
    type: "login_notification",
    title: "🔐 New Login Detected",
    message: "Login from Local network",
    loginInfo: { ip: req.ip, device: req.get("user-agent") ?? "unknown", location: "Local network", time: new Date().toISOString() },
  });
});

app.post("/test/emit", (req, res) => {
  const { to, event, payload } = req.body ?? {};
  io.to(to).emit(event, payload);
  res.json({ ok: true });
});

io.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (!token) {
    const err = new Error("Authentication required");
    err.data = { code: "NO_TOKEN" };
    return next(err);
  }
  try {
    socket.user = jwt.verify(token, secret);
    next();
  } catch (e) {
    const err = new Error(e.message);
    err.data = { code: e.name === "TokenExpiredError" ? "EXPIRED" : "BAD_TOKEN" };
    next(err);
  }
});

io.on("connection", (socket) => {
  socket.join(`user_${socket.user.id}`);
  if (socket.user.role === "admin") socket.join("admin");
});

http.listen(port, "127.0.0.1", () => console.log(`listening ${http.address().port}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
