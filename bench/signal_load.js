// Load generator for the visits protocol over Socket.IO (WebSocket transport), the same for
// the platform and for the Node baseline. Each visit has two participants; each sends a
// ~1 KiB signal every 100 ms to the other. Prints one JSON line of results.
//   node bench/signal_load.js '{"url", "visits": [ids], "tokens": {"patient", "prescriber"},
//                               "seconds", "pid"}'
"use strict";
const fs = require("node:fs");
const { io } = require("socket.io-client");

const cfg = JSON.parse(process.argv[2]);
const SECONDS = cfg.seconds || 10;
const GRACE_MS = 3000;
const PERIOD_MS = 100;
const PAD = "x".repeat(1000);

function procStat(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime, clock ticks
}
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connect(role, visitId) {
  const token = cfg.tokens ? cfg.tokens[role] : null;
  return new Promise((resolve, reject) => {
    const socket = io(cfg.url + "/visits", {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      auth: { role },
      extraHeaders: token ? { Cookie: `th_session=${token}` } : {},
    });
    socket.once("connect_error", (e) => reject(new Error(`connect ${role} ${visitId}: ${e.message}`)));
    socket.once("connect", () => {
      socket.emit("join", { visit_id: visitId }, (ack) => {
        if (ack && ack.ok) resolve(socket);
        else reject(new Error(`join ${visitId}: ${JSON.stringify(ack)}`));
      });
    });
  });
}

async function main() {
  const pid = cfg.pid;
  const rssBefore = rssKiB(pid);
  const participants = [];
  const pairs = [];
  for (const visitId of cfg.visits) pairs.push(visitId);
  // Bounded concurrency while connecting and joining.
  for (let i = 0; i < pairs.length; i += 10) {
    const batch = pairs.slice(i, i + 10);
    const sockets = await Promise.all(
      batch.flatMap((v) => [connect("patient", v), connect("prescriber", v)].map((p, k) =>
        p.then((s) => ({ socket: s, visitId: v, role: k ? "prescriber" : "patient" })))),
    );
    participants.push(...sockets);
  }
  await sleep(2000);
  const rssIdle = rssKiB(pid);
  const latencies = [];
  let sent = 0;
  let received = 0;
  let misordered = 0;
  const lastSeen = new Map();
  for (const p of participants) {
    p.socket.on("signal", (data) => {
      const text = data.candidate && data.candidate.candidate;
      if (!text) return;
      const [, stamp, seq] = /^t=(\d+\.\d+);n=(\d+);/.exec(text) || [];
      if (stamp === undefined) return;
      latencies.push(performance.now() - Number(stamp));
      received += 1;
      if (Number(seq) <= (lastSeen.get(p) || -1)) misordered += 1;
      lastSeen.set(p, Number(seq));
    });
  }
  const cpuStart = procStat(pid);
  const t0 = performance.now();
  const timers = [];
  for (const p of participants) {
    let n = 0;
    const send = () => {
      p.socket.emit("signal", {
        visit_id: p.visitId,
        candidate: {
          candidate: `t=${performance.now().toFixed(3)};n=${n++};${PAD}`,
          sdpMid: "0",
          sdpMLineIndex: 0,
        },
      });
      sent += 1;
    };
    timers.push(setTimeout(() => timers.push(setInterval(send, PERIOD_MS)), Math.random() * PERIOD_MS));
  }
  await sleep(SECONDS * 1000);
  for (const t of timers) clearInterval(t);
  const sendSeconds = (performance.now() - t0) / 1000;
  await sleep(GRACE_MS);
  const cpuTicks = procStat(pid) - cpuStart;
  latencies.sort((a, b) => a - b);
  const q = (f) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * f))] : null);
  for (const p of participants) p.socket.close();
  const out = {
    visits: cfg.visits.length,
    participants: participants.length,
    sent,
    received,
    lost: sent - received,
    misordered,
    rate: sent / sendSeconds,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    max_ms: latencies.length ? latencies[latencies.length - 1] : null,
    cpu_ms_per_message: received ? (cpuTicks * 10) / received : null, // 100 ticks a second
    cpu_share: cpuTicks / 100 / (sendSeconds + GRACE_MS / 1000),
    idle_kib_per_participant: (rssIdle - rssBefore) / participants.length,
  };
  console.log(JSON.stringify(out));
  process.exit(0);
}
main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
