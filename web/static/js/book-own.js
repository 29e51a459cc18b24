// The prescriber's own booking page: free times on their calendar, a confirmation, booked.
import { api } from "./api.js";
import { el, say } from "./dom.js";
import { MODALITIES, VISIT_TYPES } from "./visit-words.js";
import { confirmAction } from "./confirm.js";

const $ = (id) => document.getElementById(id);
const app = $("book-app");
const status = $("status");
const state = { week: null, prev: null, next: null };

async function book(slot) {
  const modality = $("modality").value;
  const type = $("visit-type").value;
  const sure = await confirmAction({
    title: "Book this visit?",
    text: `${VISIT_TYPES[type]}, ${MODALITIES[modality].toLowerCase()}, for `
      + `${app.dataset.patientName} on ${slot.label}. The patient's time: `
      + `${slot.patient_label || slot.label}.`,
    confirm: "Book visit",
    danger: false,
  });
  if (!sure) return;
  try {
    const visit = await api("POST", "/api/visits", {
      patient_id: Number(app.dataset.patientId), prescriber_id: Number(app.dataset.prescriberId),
      start: slot.start, visit_type: type, modality,
    });
    await load();
    say(status, `Booked ${app.dataset.patientName} for ${visit.display.start} `
      + `(${MODALITIES[visit.modality].toLowerCase()}). You can close this tab.`, "success");
  } catch (error) {
    say(status, error.message, "error");
    if (error.code === "slot_taken") await load();
  }
}

async function load() {
  const params = new URLSearchParams({
    prescriber_id: app.dataset.prescriberId, patient_id: app.dataset.patientId,
    visit_type: $("visit-type").value,
  });
  if (state.week) params.set("week", state.week);
  const week = $("week");
  week.setAttribute("aria-busy", "true");
  try {
    const data = await api("GET", `/api/schedule/week?${params}`);
    state.week = data.week_start;
    state.prev = data.prev_week;
    state.next = data.next_week;
    $("week-label").textContent = data.label;
    $("zone-note").textContent = `Times are in your time zone, ${data.timezone}.`;
    week.replaceChildren(...data.days.map((day) => {
      const buttons = day.slots.map((slot) => {
        const button = el("button", { type: "button", class: "slot free",
          "aria-label": `Book ${slot.label}`, text: slot.short_time || slot.time });
        button.addEventListener("click", () => book(slot));
        return el("li", {}, button);
      });
      return el("section", { class: "day", "aria-label": day.label },
        el("h2", { class: "day-title", text: day.label }),
        buttons.length ? el("ul", { class: "day-items" }, ...buttons)
          : el("p", { class: "muted", text: "No free time." }));
    }));
  } catch (error) {
    week.replaceChildren(el("p", { class: "error", text: error.message }));
  } finally {
    week.removeAttribute("aria-busy");
  }
}

$("visit-type").addEventListener("change", load);
$("prev-week").addEventListener("click", () => { state.week = state.prev; load(); });
$("next-week").addEventListener("click", () => { state.week = state.next; load(); });
load();
