// Patient and prescriber home: upcoming visits, each time shown in the reader's own zone.
import { api, el, MODALITIES, STATUSES, VISIT_TYPES } from "./scheduling-api.js";

const list = document.getElementById("visits");
const todayList = document.getElementById("visits-today");
const zoneNote = document.getElementById("zone-note");
const role = list?.dataset.role;

function visitItem(visit) {
  const who = role === "patient" ? visit.prescriber.full_name : visit.patient.full_name;
  const item = el("li", { class: "visit-item", dataset: { visitId: visit.id } },
    el("div", { class: "visit-when" },
      el("strong", { class: "visit-time", text: visit.display.start })),
    el("div", { class: "visit-what" },
      `${VISIT_TYPES[visit.visit_type] || visit.visit_type} · ${MODALITIES[visit.modality]} · `
        + `with ${who} `,
      el("span", { class: `badge ${visit.status}`, text: STATUSES[visit.status] || visit.status })),
  );
  const actions = el("div", { class: "actions" });
  const active = ["booked", "waiting", "in_progress"].includes(visit.status);
  if (active && visit.modality === "telehealth") {
    const href = role === "patient" ? `/visit/${visit.id}` : `/visits/${visit.id}/call`;
    const label = role === "patient" ? "Join" : "Open call";
    actions.append(el("a", {
      class: "button primary", href,
      "aria-label": `${label}: visit at ${visit.display.start}`, text: label,
    }));
  }
  if (active) {
    actions.append(el("a", {
      class: "button", href: `/api/visits/${visit.id}/calendar.ics`, download: `visit-${visit.id}.ics`,
      "aria-label": `Add the visit at ${visit.display.start} to your calendar`,
      text: "Add to calendar",
    }));
  }
  if (visit.can?.noshow) {
    const noshow = el("button", { type: "button",
      "aria-label": `Mark the visit at ${visit.display.start} as a no-show`, text: "No-show" });
    noshow.addEventListener("click", async () => {
      noshow.disabled = true;
      try {
        await api(`/api/visits/${visit.id}/noshow`, { method: "POST" });
        await load();
      } catch (error) {
        noshow.disabled = false;
        item.append(el("p", { class: "error", role: "alert", text: error.message }));
      }
    });
    actions.append(noshow);
  }
  item.append(actions);
  return item;
}

function fill(node, visits, emptyText) {
  if (!node) return;
  node.replaceChildren(...(visits.length ? visits.map(visitItem)
    : [el("li", { class: "muted", text: emptyText })]));
}

async function load() {
  try {
    const data = await api("/api/visits?upcoming=1");
    const visits = data.visits.filter((v) => ["booked", "waiting", "in_progress"].includes(v.status));
    if (zoneNote && data.timezone) {
      zoneNote.textContent = `Times are shown in your time zone (${data.timezone}).`;
    }
    if (todayList) {
      const localDate = (v) => v.display.date;
      fill(todayList, visits.filter((v) => localDate(v) === data.today), "No visits today.");
      fill(list, visits.filter((v) => localDate(v) !== data.today), "No upcoming visits.");
    } else {
      fill(list, visits, "You have no upcoming visits.");
    }
  } catch (error) {
    list.replaceChildren(el("li", { class: "error", text: error.message }));
  }
}

if (list) load();
