// The scheduler's page: find a patient, browse a prescriber's week, book, move and cancel.
import { api } from "./api.js";
import { el, say } from "./dom.js";
import { MODALITIES, STATUSES, VISIT_TYPES } from "./visit-words.js";
import { confirmAction } from "./confirm.js";

const $ = (id) => document.getElementById(id);
const state = {
  patient: null,        // {id, full_name, date_of_birth, state, timezone}
  week: null,           // YYYY-MM-DD anchor, null = this week (server's clock)
  moving: null,         // a visit being rescheduled
  pending: null,        // the slot waiting for confirmation
  prescribers: [],
};
const status = $("status");

function prescriberId() { return Number($("prescriber").value) || null; }

async function loadPrescribers() {
  const data = await api("GET", "/api/prescribers");
  state.prescribers = data.prescribers;
  $("prescriber").replaceChildren(...data.prescribers.map((p) => el("option", {
    value: p.id,
    text: `${p.full_name} (${p.credential}; licensed in ${p.licensed_states.join(", ")})`,
  })));
}

async function searchPatients(event) {
  event.preventDefault();
  const q = $("patient-q").value.trim();
  const results = $("patient-results");
  try {
    const data = await api("GET", `/api/patients?q=${encodeURIComponent(q)}`);
    if (!data.patients.length) {
      results.replaceChildren(el("li", { class: "muted", text: "No patient matches." }));
      return;
    }
    results.replaceChildren(...data.patients.map((p) => el("li", {},
      el("button", {
        type: "button", class: "choice", dataset: { patientId: p.id },
        text: `${p.full_name} · born ${p.date_of_birth} · ${p.state} · ${p.timezone}`,
      }))));
    results.querySelectorAll("button").forEach((button, n) => {
      button.addEventListener("click", () => choosePatient(data.patients[n]));
    });
  } catch (error) {
    results.replaceChildren(el("li", { class: "error", text: error.message }));
  }
}

// The page's address carries the chosen patient, prescriber and modality, so a reload keeps
// them and a link (the refusal's, a colleague's) opens with them chosen.
function remember() {
  const params = new URLSearchParams(window.location.search);
  if (state.patient) params.set("patient_id", state.patient.id); else params.delete("patient_id");
  if (prescriberId()) params.set("prescriber_id", prescriberId());
  params.set("modality", $("modality").value);
  window.history.replaceState(null, "", `${window.location.pathname}?${params}`);
}

async function restore() {
  const params = new URLSearchParams(window.location.search);
  const prescriber = params.get("prescriber_id");
  if (prescriber && state.prescribers.some((p) => String(p.id) === prescriber)) {
    $("prescriber").value = prescriber;
  }
  const modality = params.get("modality");
  if (modality && [...$("modality").options].some((o) => o.value === modality)) {
    $("modality").value = modality;
  }
  const patientId = params.get("patient_id");
  if (/^\d+$/.test(patientId || "")) {
    try {
      choosePatient(await api("GET", `/api/patients/${patientId}`), { load: false });
    } catch (error) {
      say(status, "The patient in this link was not found. Search for them instead.", "error");
    }
  }
}

function choosePatient(patient, { load = true } = {}) {
  state.patient = patient;
  $("patient-chosen").replaceChildren(
    "Booking for ", el("strong", { text: patient.full_name }),
    ` (lives in ${patient.state}; times for them are shown in ${patient.timezone}).`);
  $("patient-results").replaceChildren();
  remember();
  if (load) loadWeek();
}

function slotButton(slot, prescriber = null) {
  // Shown as ":15" on its hour's row; the accessible name is the whole time.
  const minute = (slot.short_time || slot.time).match(/:\d\d/);
  const button = el("button", {
    type: "button", class: "slot free", dataset: { start: slot.start },
    "aria-label": `Free: ${slot.label}`, text: minute ? minute[0] : slot.time,
  });
  button.addEventListener("click", () => {
    if (prescriber) {
      // Side by side: the column chosen is the prescriber booked.
      if (state.moving && state.moving.prescriber_id !== prescriber.id) {
        say(status, "A move keeps the visit's prescriber: pick a time in their column.", "error");
        return;
      }
      $("prescriber").value = String(prescriber.id);
      remember();
    }
    pickSlot(slot);
  });
  return button;
}

// Free times of one hour share a row ("10 AM  :00 :15 :30 :45"), so a day fits on a screen.
function hourRows(items) {
  const rows = [];
  for (const item of items) {
    if (!item.slot) { rows.push(el("li", { class: "visit-li" }, item.node)); continue; }
    const hour = (item.slot.short_time || item.slot.time).replace(/:\d\d/, "");
    const last = rows[rows.length - 1];
    if (last && last.dataset.hour === hour) { last.append(item.node); continue; }
    rows.push(el("li", { class: "hour-row", dataset: { hour } },
      el("span", { class: "hour", "aria-hidden": "true", text: hour }), item.node));
  }
  return rows;
}

function visitBlock(visit) {
  const block = el("div", { class: `slot booked ${visit.status}`, dataset: { visitId: visit.id } },
    el("span", { class: "slot-time", text: `${visit.time} · ${visit.minutes} min` }),
    el("strong", { text: visit.patient.full_name }),
    el("span", {}, `${VISIT_TYPES[visit.visit_type]} · `
      + `${MODALITIES[visit.modality]} `),
    el("span", { class: `badge ${visit.status}`, text: STATUSES[visit.status] }),
    el("span", { class: "muted", text: ` Patient's time: ${visit.display.patient_start}` }));
  const actions = el("span", { class: "slot-actions" });
  const who = `the visit of ${visit.patient.full_name} at ${visit.display.start}`;
  if (visit.join_url) block.append(linkBox(visit));
  if (visit.can?.invite) {
    const again = el("button", { type: "button", class: "link",
      "aria-label": `Send the invitation for ${who} again`, text: "Send invitation again" });
    again.addEventListener("click", async () => {
      again.disabled = true;
      try {
        await api("POST", `/api/visits/${visit.id}/invite`);
        say(status, `The invitation for ${who} was sent again to the patient's email.`, "success");
      } catch (error) { say(status, error.message, "error"); }
      again.disabled = false;
    });
    actions.append(again);
  }
  if (visit.can?.reschedule) {
    const move = el("button", { type: "button", class: "link", "aria-label": `Move ${who}`,
      text: "Move" });
    move.addEventListener("click", () => startMove(visit));
    actions.append(move);
  }
  if (visit.can?.cancel) {
    const cancel = el("button", { type: "button", class: "link", "aria-label": `Cancel ${who}`,
      text: "Cancel" });
    cancel.addEventListener("click", () => showCancel(block, visit));
    actions.append(cancel);
  }
  if (visit.can?.noshow) {
    const noshow = el("button", { type: "button", class: "link",
      "aria-label": `Mark ${who} as a no-show`, text: "No-show" });
    noshow.addEventListener("click", async () => {
      try {
        await api("POST", `/api/visits/${visit.id}/noshow`);
        await loadWeek();
        say(status, `Marked ${who} as a no-show.`, "success");
      } catch (error) { say(status, error.message, "error"); }
    });
    actions.append(noshow);
  }
  if (actions.childElementCount) block.append(actions);
  return block;
}

// The visit's current join link, always on show, with a copy button: the link is never lost.
function linkBox(visit) {
  const id = `link-${visit.id}`;
  const input = el("input", { id, type: "text", readonly: true, value: visit.join_url,
    class: "join-link" });
  const copy = el("button", { type: "button", class: "link",
    "aria-label": `Copy the join link of ${visit.patient.full_name}'s visit`, text: "Copy link" });
  const done = el("span", { class: "muted", role: "status" });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(visit.join_url);
    } catch {
      input.select();
      document.execCommand("copy");
    }
    done.textContent = "Copied.";
  });
  return el("span", { class: "join-link-box" },
    el("label", { for: id, text: "Join link" }), input, copy, done);
}

function showCancel(block, visit) {
  if (block.querySelector("form")) return;
  const id = `reason-${visit.id}`;
  const form = el("form", { class: "cancel-form" },
    el("label", { for: id, text: "Reason for cancelling" }),
    el("input", { id, name: "reason", required: true, maxlength: 500 }),
    el("button", { type: "submit", class: "danger", text: "Cancel visit" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sure = await confirmAction({
      title: `Cancel ${visit.patient.full_name}'s visit?`,
      text: `The visit at ${visit.display.start} is cancelled, its time is freed and its join `
        + "link stops working. The patient is emailed.",
      confirm: "Cancel visit",
      cancel: "Keep the visit",
    });
    if (!sure) return;
    try {
      await api("POST", `/api/visits/${visit.id}/cancel`, { reason: form.reason.value });
      await loadWeek();
      say(status, `Cancelled the visit of ${visit.patient.full_name} at ${visit.display.start}.`,
        "success");
    } catch (error) { say(status, error.message, "error"); }
  });
  block.append(form);
  form.reason.focus();
}

function startMove(visit) {
  state.moving = visit;
  state.pending = null;
  $("confirm").hidden = true;
  $("move-text").textContent = `Moving ${visit.patient.full_name}'s visit at `
    + `${visit.display.start}: pick a free time.`;
  $("move-banner").hidden = false;
  $("visit-type").value = visit.visit_type;
  loadWeek();
}

function stopMove() {
  state.moving = null;
  $("move-banner").hidden = true;
  loadWeek();
}

async function pickSlot(slot) {
  if (state.moving) {
    const visit = state.moving;
    const sure = await confirmAction({
      title: `Move ${visit.patient.full_name}'s visit?`,
      text: `From ${visit.display.start} to ${slot.label}. The old join link stops working; `
        + "the patient is emailed the new time and link.",
      confirm: "Move visit",
      cancel: "Go back",
      danger: false,
    });
    if (!sure) return;
    try {
      const moved = await api("POST", `/api/visits/${visit.id}/reschedule`, { start: slot.start });
      state.moving = null;
      $("move-banner").hidden = true;
      await loadWeek();
      say(status, `Moved ${visit.patient.full_name}'s visit to ${moved.display.start} `
        + `(their time: ${moved.display.patient_start}).`, "success");
      if (moved.join_url) {
        status.append(el("p", {}, "The old link no longer works. New join link: ",
          el("a", { href: moved.join_url, text: moved.join_url })));
      }
    } catch (error) { say(status, error.message, "error"); await loadWeek(); }
    return;
  }
  if (!state.patient) {
    say(status, "Find and choose the patient first (step 1).", "error");
    $("patient-q").focus();
    return;
  }
  state.pending = slot;
  const p = state.prescribers.find((x) => x.id === prescriberId());
  const type = $("visit-type");
  const modality = $("modality");
  const patientTime = slot.patient_label || "see the visit once booked";
  $("confirm-text").textContent = `${type.options[type.selectedIndex].text}, `
    + `${MODALITIES[modality.value].toLowerCase()}, for ${state.patient.full_name} with `
    + `${p ? p.full_name : "the prescriber"} on ${slot.label}. The patient's time: ${patientTime}.`;
  $("confirm").hidden = false;
  $("confirm-h").focus();
}

async function confirmBooking() {
  const slot = state.pending;
  if (!slot || !state.patient) return;
  const button = $("confirm-book");
  button.disabled = true;
  try {
    const visit = await api("POST", "/api/visits", {
      patient_id: state.patient.id, prescriber_id: prescriberId(), start: slot.start,
      visit_type: $("visit-type").value, modality: $("modality").value,
    });
    state.pending = null;
    $("confirm").hidden = true;
    await loadWeek();
    say(status, `Booked ${state.patient.full_name} for ${visit.display.start} `
      + `(their time: ${visit.display.patient_start}).`, "success");
    if (visit.join_url) {
      status.append(el("p", {}, "Join link for the patient: ",
        el("a", { href: visit.join_url, text: visit.join_url })));
    }
  } catch (error) {
    say(status, error.message, "error");
    if (error.code === "slot_taken") await loadWeek();
  } finally {
    button.disabled = false;
  }
}

function dayColumn(day, label, prescriber = null) {
  const items = [
    ...day.slots.map((s) => ({ at: s.start, node: slotButton(s, prescriber), slot: s })),
    ...day.visits.map((v) => ({ at: v.start, node: visitBlock(v) })),
  ].sort((a, b) => new Date(a.at) - new Date(b.at));
  return el("section", { class: `day${day.past ? " past" : ""}`, "aria-label": label,
    dataset: { date: day.date } },
    el("h3", { text: label }),
    items.length ? el("ul", { class: "day-items" }, ...hourRows(items))
      : el("p", { class: "muted", text: day.past ? "Past." : "No free time." }));
}

// Every prescriber's same day, side by side (each in their own time zone).
async function loadDay(ticket) {
  const weekNode = $("week");
  weekNode.setAttribute("aria-busy", "true");
  try {
    const base = { visit_type: $("visit-type").value };
    if (state.day) base.week = state.day;
    if (state.patient && !state.moving) base.patient_id = state.patient.id;
    if ($("show-cancelled").checked) base.include_cancelled = "1";
    const weeks = await Promise.all(state.prescribers.map((p) => api("GET",
      `/api/schedule/week?${new URLSearchParams({ ...base, prescriber_id: p.id })}`)));
    if (ticket !== drawing) return;
    if (!state.day) {
      const today = weeks[0]?.days.find((d) => !d.past);
      state.day = today ? today.date : weeks[0]?.week_start;
    }
    const columns = weeks.map((week) => {
      const day = week.days.find((d) => d.date === state.day) || week.days[0];
      const label = `${week.prescriber.full_name}, ${day.label}${day.past ? " (past)" : ""}`;
      return dayColumn(day, label, week.prescriber);
    });
    const shown = weeks[0]?.days.find((d) => d.date === state.day);
    $("week-label").textContent = shown ? `${shown.label}, all prescribers` : "";
    $("zone-note").textContent = "Each column is in its prescriber's time zone.";
    weekNode.replaceChildren(...columns);
  } catch (error) {
    weekNode.replaceChildren(el("p", { class: "error", text: error.message }));
  } finally {
    weekNode.removeAttribute("aria-busy");
  }
}

function shiftDay(days) {
  const next = new Date(`${state.day}T12:00:00Z`);
  next.setUTCDate(next.getUTCDate() + days);
  state.day = next.toISOString().slice(0, 10);
  loadWeek();
}

// Only the newest request draws the week: an older answer arriving late (the week asked for
// before the patient was chosen) must not replace it.
let drawing = 0;

async function loadWeek() {
  const ticket = ++drawing;
  if ($("side-by-side").checked) { await loadDay(ticket); return; }
  const id = prescriberId();
  if (!id) return;
  const params = new URLSearchParams({ prescriber_id: id, visit_type: $("visit-type").value });
  if (state.week) params.set("week", state.week);
  if (state.patient && !state.moving) params.set("patient_id", state.patient.id);
  if ($("show-cancelled").checked) params.set("include_cancelled", "1");
  const weekNode = $("week");
  weekNode.setAttribute("aria-busy", "true");
  try {
    const data = await api("GET", `/api/schedule/week?${params}`);
    if (ticket !== drawing) return;
    state.week = data.week_start;
    state.prevWeek = data.prev_week;
    state.nextWeek = data.next_week;
    $("week-label").textContent = data.label;
    $("zone-note").textContent = `Times are in ${data.prescriber.full_name}'s time zone, `
      + `${data.timezone}.`;
    const edit = $("edit-hours");
    edit.href = `/prescribers/${data.prescriber.id}/availability`;
    edit.textContent = `Edit ${data.prescriber.full_name}'s hours`;
    edit.hidden = false;
    weekNode.replaceChildren(...data.days.map((day) => dayColumn(day,
      day.past ? `${day.label} (past)` : day.label)));
  } catch (error) {
    weekNode.replaceChildren(el("p", { class: "error", text: error.message }));
  } finally {
    weekNode.removeAttribute("aria-busy");
  }
}

async function start() {
  $("patient-search").addEventListener("submit", searchPatients);
  $("prescriber").addEventListener("change", () => { state.pending = null; remember(); loadWeek(); });
  $("modality").addEventListener("change", remember);
  $("visit-type").addEventListener("change", () => loadWeek());
  $("show-cancelled").addEventListener("change", () => loadWeek());
  $("prev-week").addEventListener("click", () => {
    if ($("side-by-side").checked) { shiftDay(-1); return; }
    state.week = state.prevWeek; loadWeek();
  });
  $("next-week").addEventListener("click", () => {
    if ($("side-by-side").checked) { shiftDay(1); return; }
    state.week = state.nextWeek; loadWeek();
  });
  $("side-by-side").addEventListener("change", () => {
    const on = $("side-by-side").checked;
    $("prev-week").textContent = on ? "\u2190 Previous day" : "\u2190 Previous week";
    $("next-week").textContent = on ? "Next day \u2192" : "Next week \u2192";
    $("week").classList.toggle("side-by-side", on);
    $("edit-hours").hidden = on;
    loadWeek();
  });
  $("move-stop").addEventListener("click", stopMove);
  $("confirm-book").addEventListener("click", confirmBooking);
  $("confirm-cancel").addEventListener("click", () => {
    state.pending = null; $("confirm").hidden = true;
  });
  try {
    await loadPrescribers();
    await restore();
    await loadWeek();
  } catch (error) {
    say(status, error.message, "error");
  }
}

start();
