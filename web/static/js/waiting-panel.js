// The prescriber's live waiting room: who is waiting, since when, and an Admit button.
// A new arrival raises the badge, is announced to screen readers, and (once the prescriber
// has switched sound on, which is also the user gesture browsers need) plays a short tone.
import { openVisitSocket } from "./call-core.js";

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
const SOUND_KEY = "telehealth.waitingSound";

let audio = null;
let soundOn = false;

function setSound(on) {
  soundOn = on;
  soundButton.setAttribute("aria-pressed", String(on));
  soundButton.textContent = on ? "Sound alerts are on (turn off)" : "Play a sound when a patient arrives";
  try {
    window.localStorage.setItem(SOUND_KEY, on ? "on" : "off");
  } catch {
    // Private browsing: the choice lasts for this page only.
  }
}

function ensureAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  if (!audio) audio = new Context();
  if (audio.state === "suspended") audio.resume();
  return audio;
}

function tone() {
  if (!soundOn) return;
  const context = ensureAudio();
  if (!context || context.state !== "running") return;
  const start = context.currentTime;
  for (const [offset, pitch] of [[0, 660], [0.22, 880]]) {
    const osc = context.createOscillator();
    const gain = context.createGain();
    osc.type = "sine";
    osc.frequency.value = pitch;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
    osc.connect(gain).connect(context.destination);
    osc.start(start + offset);
    osc.stop(start + offset + 0.2);
  }
}

soundButton.addEventListener("click", () => {
  const on = !soundOn;
  if (on) ensureAudio();
  setSound(on);
  if (on) tone();
});

// Remembered "on": the first click or key press anywhere unlocks audio again.
try {
  if (window.localStorage.getItem(SOUND_KEY) === "on") {
    setSound(true);
    const unlock = () => ensureAudio();
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
  }
} catch {
  // Storage unavailable: sound stays off until switched on.
}

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
    tone();
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
