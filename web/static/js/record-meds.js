// The patient's allergies and medication list, with the history of each line.
import { api } from "./api.js";
import { show, setText, when } from "./dom.js";

const KIND_WORDS = { started: "Started", dose_changed: "Dose changed", renewed: "Renewed", stopped: "Stopped" };

function line(med, canStop, onStop) {
  const item = document.createElement("li");
  item.className = "med";
  item.dataset.medicationId = med.medication_id;
  const title = document.createElement("p");
  const name = document.createElement("strong");
  name.textContent = med.name;
  title.append(name, ` — ${med.dose}, ${med.route}, ${med.frequency}`);
  item.append(title);

  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `History (${med.history.length})`;
  const list = document.createElement("ol");
  list.append(...med.history.map((h) => {
    const entry = document.createElement("li");
    const dose = h.dose ? ` ${h.dose}${h.frequency ? `, ${h.frequency}` : ""}` : "";
    entry.textContent = `${KIND_WORDS[h.kind] || h.kind}${dose} — ${h.by || "unknown"}, ${when(h.at)}`;
    return entry;
  }));
  details.append(summary, list);
  item.append(details);

  if (canStop && med.status === "active") {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = `Stop ${med.name}`;
    button.addEventListener("click", () => onStop(med, button));
    item.append(button);
  }
  return item;
}

export function initMeds(root) {
  const patientId = root.dataset.patientId;
  const url = `/api/patients/${patientId}/medications`;
  const canChange = root.dataset.canOrder === "true";
  const allergies = root.querySelector("[data-allergies]");
  const current = root.querySelector("[data-med-list]");
  const stoppedWrap = root.querySelector("[data-med-stopped-wrap]");
  const stopped = root.querySelector("[data-med-stopped]");
  const errorBox = root.querySelector("[data-med-error]");

  async function stop(med, button) {
    button.disabled = true;
    try {
      await api("POST", `${url}/${med.id}/stop`);
    } catch (error) {
      button.disabled = false;
      show(errorBox, true);
      setText(errorBox, error.message);
      return;
    }
    show(errorBox, false);
    await load();
  }

  async function load() {
    let data;
    try {
      data = await api("GET", url);
    } catch (error) {
      show(errorBox, true);
      setText(errorBox, error.message);
      return;
    }
    setText(allergies, data.allergies.length ? data.allergies.join(", ") : "None recorded");
    const active = data.medications.filter((m) => m.status === "active");
    const old = data.medications.filter((m) => m.status !== "active");
    if (active.length) current.replaceChildren(...active.map((m) => line(m, canChange, stop)));
    else {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No current medications.";
      current.replaceChildren(none);
    }
    stopped.replaceChildren(...old.map((m) => line(m, false, stop)));
    show(stoppedWrap, old.length > 0);
  }

  root.addEventListener("record:medications-changed", load);
  load();
}
