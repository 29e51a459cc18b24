// Open safety alerts, live: a new one appears without a reload (socket `safety_alert`), is
// announced to screen readers, highlighted and (once switched on) heard; it stays until
// acknowledged with what was done and a note.
import { openVisitSocket } from "./call-core.js";
import { soundSwitch } from "./chime.js";
import { api } from "./api.js";

const panel = document.querySelector("[data-alerts-panel]");
const $ = (id) => document.getElementById(id);
const list = $("alerts-list");
const badge = $("alerts-count");
const empty = $("alerts-empty");
const announce = $("alerts-announce");
const template = $("alert-item-template");
const baseTitle = document.title;

const chime = soundSwitch($("alerts-sound"), {
  storageKey: "telehealth.alertSound",
  offText: "Play a sound for new safety alerts",
  onText: "Safety alert sounds are on (turn off)",
});

function count() {
  const n = list.querySelectorAll(".alert-item").length;
  badge.hidden = n === 0;
  badge.textContent = String(n);
  empty.hidden = n > 0;
  panel.classList.toggle("has-alerts", n > 0);
  document.title = n ? `(${n} alert${n > 1 ? "s" : ""}) ${baseTitle.replace(/^\(\d+ alerts?\) /, "")}` : baseTitle;
}

function wire(item) {
  const form = item.querySelector("[data-ack-form]");
  const error = item.querySelector("[data-ack-error]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const chosen = form.querySelector("input[name=action]:checked");
    const note = form.querySelector("textarea[name=note]").value.trim();
    if (!chosen || !note) {
      error.textContent = "Choose what you did and write a short note, then acknowledge.";
      error.hidden = false;
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    let refused = null;
    try {
      await api("POST", `/api/alerts/${item.dataset.alertId}/acknowledge`, { action: chosen.value, note });
    } catch (err) {
      if (err.code !== "already_acknowledged") refused = err;
    }
    button.disabled = false;
    if (!refused) {
      const name = item.querySelector("[data-alert-patient]").textContent;
      item.remove();
      announce.textContent = `Safety alert for ${name} acknowledged.`;
      for (const inline of document.querySelectorAll(`[data-record-alert="${item.dataset.alertId}"]`)) inline.remove();
      count();
      return;
    }
    error.textContent = refused.message;
    error.hidden = false;
  });
}

function arrive(data) {
  let item = list.querySelector(`[data-alert-id="${data.alert_id}"]`);
  const isNew = !item;
  if (!item) {
    item = template.content.firstElementChild.cloneNode(true);
    item.dataset.alertId = String(data.alert_id);
    wire(item);
    list.prepend(item);
  }
  item.querySelector("[data-alert-patient]").textContent = data.patient_name;
  item.querySelector("[data-alert-record]").href = `/visits/${data.visit_id}/record`;
  const when = new Date(data.created_at).toLocaleString([], {
    day: "numeric", month: "long", hour: "numeric", minute: "2-digit", timeZoneName: "short",
    timeZone: document.body.dataset.timezone || undefined,
  });
  item.querySelector("[data-alert-when]").textContent = ` on ${when}`;
  item.querySelector("[data-alert-escalated]").hidden = !data.escalated;
  count();
  if (isNew) {
    announce.textContent = `Safety alert: ${data.patient_name} answered the self-harm question above "Not at all". It needs your attention today.`;
    panel.classList.remove("arrived");
    void panel.offsetWidth;
    panel.classList.add("arrived");
    chime.play();
  }
}

for (const item of list.querySelectorAll(".alert-item")) wire(item);
count();

// On the call page the call owns (and at its end closes) its socket: keep a separate one.
const socket = openVisitSocket({ separate: Boolean(document.getElementById("call-app")) });
socket.on("connect", () => socket.emit("watch_dashboard", {}, () => {}));
socket.on("safety_alert", (data) => {
  if (data && data.alert_id) arrive(data);
});
