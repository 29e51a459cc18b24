// Automatic logoff, as the user sees it: activity on the page (or an active call) keeps the
// server session alive; a minute before the idle limit a notice appears; at the limit the
// page goes to the sign-in page. The server enforces the limit on its own either way.
import { api, sessionEnded } from "./api.js";

const minutes = Number(document.body.dataset.idleMinutes || 15);
const limit = minutes * 60_000;
let lastActivity = Date.now();
let lastPing = Date.now();
let notice = null;

for (const type of ["pointerdown", "keydown", "touchstart", "wheel"]) {
  addEventListener(type, () => { lastActivity = Date.now(); hideNotice(); }, { passive: true, capture: true });
}

function inCall() {
  // Call pages set data-in-call="1" while media is connected: a visit is attended.
  return document.body.dataset.inCall === "1";
}

function showNotice(secondsLeft) {
  if (!notice) {
    notice = document.createElement("div");
    notice.className = "notice idle-notice";
    notice.setAttribute("role", "alert");
    document.body.prepend(notice);
  }
  notice.textContent = `You will be signed out in ${secondsLeft} seconds because of inactivity. Press any key or tap to stay signed in.`;
}

function hideNotice() {
  if (notice) { notice.remove(); notice = null; }
}

async function ping() {
  lastPing = Date.now();
  try {
    await api("GET", "/api/me");
  } catch {
    // Offline for a moment: the next tick tries again. (A 401: api() has gone to sign-in.)
  }
}

setInterval(() => {
  const now = Date.now();
  if (inCall()) lastActivity = now;
  const idleFor = now - lastActivity;
  if (idleFor >= limit) {
    sessionEnded("session_expired");
    return;
  }
  if (limit - idleFor <= 60_000) showNotice(Math.ceil((limit - idleFor) / 1000));
  if (lastActivity > lastPing && now - lastPing >= 60_000) ping();
}, 5_000);
