// The prescriber's live waiting room: who is waiting, since when, and an Admit button.
// A new arrival raises the badge, is announced to screen readers, and (once the prescriber
// has switched sound on, which is also the user gesture browsers need) plays a short tone.
import { openVisitSocket } from "./call-core.js";
import { soundSwitch } from "./chime.js";

const panel = document.getElementById("waiting-panel");
const $ = (id) => document.getElementById(id);
const list = $("waiting-list");
const badge = $("waiting-count");
const empty = $("waiting-empty");
const announce = $("waiting-announce");
const connection = $("waiting-connection");
const soundButton = $("waiting-sound");
const baseTitle = document.title;
const waiting = new Map(); // visit_id -> {visit_id, patient_name, since, connected}
const chime = soundSwitch(soundButton, {
  storageKey: "telehealth.waitingSound",
  offText: "Play a sound when a patient arrives",
  onText: "Sound alerts are on (turn off)",
});

function minutesSince(iso) {
  const since = new Date(iso);
  const minutes = Math.max(0, Math.round((Date.now() - since.getTime()) / 60000));
  // In the prescriber's own zone (from their profile), like every other time on the page.
  const zone = panel.dataset.timezone || undefined;
  const clock = since.toLocaleTimeString([], { hour: "numeric", minute: "2-digit", timeZoneName: "short", timeZone: zone });
  return `since ${clock} (${minutes} min)`;
}

function render() {
  list.replaceChildren();
  for (const entry of waiting.values()) {
    const item = document.createElement("li");
    item.className = "waiting-item";
    item.dataset.visitId = String(entry.visit_id);
    const who = document.createElement("span");
    who.className = "waiting-who";
    const name = document.createElement("strong");
    name.textContent = entry.patient_name;
    const since = document.createElement("span");
    since.className = "muted waiting-since";
    since.dataset.since = entry.since;
    since.textContent = ` waiting ${minutesSince(entry.since)}`;
    who.append(name, since);
    if (entry.connected === false) {
      const lost = document.createElement("span");
      lost.className = "badge";
      lost.textContent = "connection lost";
      who.append(" ", lost);
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = "Admit";
    button.setAttribute("aria-label", `Admit ${entry.patient_name}`);
    button.addEventListener("click", () => {
      window.location.assign(`/visits/${entry.visit_id}/call?admit=1`);
    });
    item.append(who, button);
    list.append(item);
  }
  const count = waiting.size;
  empty.hidden = count > 0;
  badge.hidden = count === 0;
  badge.textContent = count ? `${count} waiting` : "";
  panel.classList.toggle("has-waiting", count > 0);
  document.title = count ? `(${count}) ${baseTitle}` : baseTitle;
}

function arrive(entry, { quiet = false } = {}) {
  const isNew = !waiting.has(entry.visit_id);
  waiting.set(entry.visit_id, { ...entry, connected: true });
  render();
  if (isNew && !quiet) {
    announce.textContent = `${entry.patient_name} is in the waiting room.`;
    panel.classList.remove("arrived");
    // Restart the highlight animation.
    void panel.offsetWidth;
    panel.classList.add("arrived");
    chime.play();
  }
}

const socket = openVisitSocket();
socket.on("connect", () => {
  connection.textContent = "";
  socket.emit("watch_dashboard", {}, (ack) => {
    if (!ack || !ack.ok) {
      connection.textContent = "The waiting room could not be loaded. Reload the page.";
      return;
    }
    const known = new Set(waiting.keys());
    const current = new Set();
    for (const entry of ack.waiting || []) {
      current.add(entry.visit_id);
      arrive(entry, { quiet: known.has(entry.visit_id) });
    }
    for (const id of known) if (!current.has(id)) waiting.delete(id);
    render();
  });
});
socket.on("waiting_room", (entry) => {
  if (entry && entry.visit_id) arrive(entry);
});
socket.on("visit_status", (data) => {
  if (!data || !waiting.has(data.visit_id)) return;
  if (data.status !== "waiting" || data.admitted) {
    waiting.delete(data.visit_id);
  } else if (data.patient_connected === false) {
    waiting.get(data.visit_id).connected = false;
  }
  render();
});
socket.on("disconnect", () => {
  connection.textContent = "Live updates paused: reconnecting…";
});
socket.on("connect_error", () => {
  connection.textContent = "Live updates paused: reconnecting…";
});

// Refresh the "waiting for N min" texts without rebuilding the list (keeps keyboard focus).
setInterval(() => {
  for (const el of list.querySelectorAll(".waiting-since")) {
    el.textContent = ` waiting ${minutesSince(el.dataset.since)}`;
  }
}, 30000);
render();
