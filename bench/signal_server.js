// The Node baseline: a Socket.IO server relaying the visits protocol's `join` and `signal`
// events the way the platform does (one room per seat; the signal goes to the other seat).
// No database and no checks: what the same transport costs on its own.
//   node bench/signal_server.js PORT
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 8090);
const server = http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end('{"status":"ok"}');
});
const io = new Server(server, { perMessageDeflate: false, pingInterval: 20000, pingTimeout: 20000 });
const other = { patient: "prescriber", prescriber: "patient" };

io.of("/visits").on("connection", (socket) => {
  const role = socket.handshake.auth && socket.handshake.auth.role === "prescriber" ? "prescriber" : "patient";
  let visitId = null;
  socket.on("join", (payload, ack) => {
    visitId = payload.visit_id;
    socket.join(`visit:${visitId}`);
    socket.join(`seat:${visitId}:${role}`);
    if (typeof ack === "function") ack({ ok: true, role, status: "waiting" });
  });
  socket.on("signal", (payload, ack) => {
    if (payload.visit_id !== visitId) return;
    const { visit_id, ...rest } = payload;
    socket.to(`seat:${visitId}:${other[role]}`).emit("signal", { visit_id, from: role, ...rest });
    if (typeof ack === "function") ack({ ok: true });
  });
});
server.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
