// Patient and prescriber home: upcoming visits, each time shown in the reader's own zone.
// What each visit offers (join, calendar, no-show) is what the server says it may (`can`).
import { api } from "./api.js";
import { el } from "./dom.js";
import { MODALITIES, STATUSES, VISIT_TYPES } from "./visit-words.js";

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
  if (visit.can?.join) {
    const href = role === "patient" ? `/visit/${visit.id}` : `/visits/${visit.id}/call`;
    const label = role === "patient" ? "Join" : "Open call";
    actions.append(el("a", {
      class: "button primary", href,
      "aria-label": `${label}: visit at ${visit.display.start}`, text: label,
    }));
  }
  if (visit.can?.calendar) {
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
        await api("POST", `/api/visits/${visit.id}/noshow`);
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
    // Upcoming: the server leaves out visits that are over or called off.
    const data = await api("GET", "/api/visits?upcoming=1");
    const visits = data.visits;
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
