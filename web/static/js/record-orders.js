// The order form: catalogue search (an accessible combobox over /api/medications), and the
// gate's refusal shown right where the order was typed, with every field kept as typed.
import { api } from "./api.js";
import { show, setText, when } from "./dom.js";
import { confirmAction } from "./confirm.js";

const SEARCH_MS = 200;

function scheduleWords(schedule) {
  return schedule ? `Schedule ${schedule} (federal)` : "Not federally controlled";
}

export function initOrders(root) {
  const form = root.querySelector("[data-order-form]");
  if (!form) return;
  const visitId = root.dataset.visitId;
  const search = form.querySelector("[data-med-search]");
  const hiddenId = form.querySelector("[data-med-id]");
  const options = form.querySelector("[data-med-options]");
  const chosen = form.querySelector("[data-med-chosen]");
  const refusal = form.querySelector("[data-order-refusal]");
  const refusalMessage = form.querySelector("[data-order-refusal-message]");
  const refusalAction = form.querySelector("[data-order-refusal-action]");
  const bookLink = form.querySelector("[data-order-book]");
  const success = form.querySelector("[data-order-success]");
  const submit = form.querySelector("[data-order-submit]");
  const orderList = root.querySelector("[data-order-list]");
  let results = [];
  let active = -1;
  let timer = null;
  let lastQuery = "";

  function closeOptions() {
    options.hidden = true;
    search.setAttribute("aria-expanded", "false");
    search.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    const items = [...options.children];
    items.forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (items[index]) {
      search.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    }
  }

  let chosenMed = null;

  function choose(med) {
    if (chosenMed && chosenMed.id !== med.id) {
      // Another drug: the last one's dose, schedule of taking and refusal do not carry over.
      for (const name of ["dose", "frequency"]) form.elements.namedItem(name).value = "";
      show(refusal, false);
      show(success, false);
    }
    chosenMed = med;
    hiddenId.value = med.id;
    search.value = med.name;
    setText(chosen, `${med.name}: ${scheduleWords(med.federal_schedule)}`);
    closeOptions();
    clearFieldErrors();
  }

  function renderOptions() {
    options.replaceChildren(...results.map((med, i) => {
      const item = document.createElement("li");
      item.id = `${options.id}-${i}`;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.dataset.medicationId = med.id;
      item.textContent = `${med.name} — ${scheduleWords(med.federal_schedule)}`;
      item.addEventListener("mousedown", (event) => event.preventDefault());
      item.addEventListener("click", () => { choose(med); search.focus(); });
      return item;
    }));
    if (!results.length) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No match in the catalogue. A drug that is not in the catalogue cannot be ordered.";
      options.replaceChildren(none);
    }
    options.hidden = false;
    search.setAttribute("aria-expanded", "true");
  }

  async function runSearch() {
    const q = search.value.trim();
    if (q.length < 2) { closeOptions(); return; }
    lastQuery = q;
    let found = [];
    try {
      found = (await api("GET", `/api/medications?q=${encodeURIComponent(q)}`)).medications;
    } catch {
      // Shown as no match; the next keystroke asks again.
    }
    if (q !== lastQuery || search.value.trim() !== q) return;  // typed on meanwhile
    results = found;
    renderOptions();
  }

  search.addEventListener("input", () => {
    hiddenId.value = "";
    setText(chosen, "");
    clearTimeout(timer);
    timer = setTimeout(runSearch, SEARCH_MS);
  });
  search.addEventListener("keydown", (event) => {
    if (options.hidden) {
      if (event.key === "ArrowDown" && search.value.trim().length >= 2) { runSearch(); event.preventDefault(); }
      return;
    }
    if (event.key === "ArrowDown") { highlight(Math.min(active + 1, results.length - 1)); event.preventDefault(); }
    else if (event.key === "ArrowUp") { highlight(Math.max(active - 1, 0)); event.preventDefault(); }
    else if (event.key === "Enter" && active >= 0 && results[active]) { choose(results[active]); event.preventDefault(); }
    else if (event.key === "Escape") { closeOptions(); event.preventDefault(); }
  });
  search.addEventListener("blur", () => setTimeout(closeOptions, 150));

  function clearFieldErrors() {
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  // `error`: an ApiError (the gate's refusal may carry `book_url`), or {message, field}.
  function showRefusal(error) {
    setText(refusalMessage, error.message);
    const bookUrl = error.details?.book_url;
    if (bookUrl) {
      // A new tab: booking must never take the prescriber away from the call.
      bookLink.href = bookUrl;
      bookLink.target = "_blank";
      bookLink.rel = "noopener";
      bookLink.textContent = "Book an in-person visit (opens in a new tab)";
      show(refusalAction, true);
    } else show(refusalAction, false);
    show(refusal, true);
    const field = error.field === "medication_id" ? search : error.field && form.elements.namedItem(error.field);
    if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
    else refusal.focus();
  }

  async function loadOrders() {
    if (!orderList) return;
    let orders;
    try {
      ({ orders } = await api("GET", `/api/visits/${visitId}/orders`));
    } catch {
      return;
    }
    if (!orders.length) return;
    orderList.replaceChildren(...orders.map((o) => {
      const item = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = o.name;
      const refills = o.refills ? `, ${o.refills} refill${o.refills === 1 ? "" : "s"}` : ", no refills";
      item.append(name, ` — ${o.dose}, ${o.route}, ${o.frequency}; quantity ${o.quantity}${refills} (${when(o.created_at)})`);
      return item;
    }));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(success, false);
    show(refusal, false);
    clearFieldErrors();
    if (!hiddenId.value) {
      showRefusal({ message: "Choose a medication from the catalogue list.", field: "medication_id" });
      return;
    }
    const data = new FormData(form);
    const refillsText = String(data.get("refills") || "0").trim();
    const body = {
      medication_id: hiddenId.value,
      dose: String(data.get("dose") || ""),
      route: String(data.get("route") || ""),
      frequency: String(data.get("frequency") || ""),
      quantity: String(data.get("quantity") || ""),
      refills: /^\d+$/.test(refillsText) ? Number(refillsText) : refillsText,
      instructions: String(data.get("instructions") || ""),
    };
    const days = String(data.get("days_supply") || "").trim();
    if (days) body.days_supply = /^\d+$/.test(days) ? Number(days) : days;
    if (data.get("indication")) body.indication = String(data.get("indication"));
    if (data.get("pdmp") === "checked") body.pdmp = { state: String(data.get("pdmp_state") || "") };
    if (data.get("pdmp") === "unavailable") body.pdmp = { unavailable: true };
    const routeField = form.elements.namedItem("route");
    const routeText = routeField?.selectedOptions?.[0]?.textContent || body.route;
    const refillsWords = body.refills === 0 ? "None" : String(body.refills);
    const sure = await confirmAction({
      title: "Review the order",
      text: "Check every part before it is placed.",
      confirm: "Confirm and place order",
      cancel: "Change it",
      danger: false,
      details: [
        ["Medication", search.value],
        ["Schedule", scheduleWords(chosenMed?.federal_schedule)],
        ["Dose", body.dose || "(none)"],
        ["Route", routeText],
        ["How often", body.frequency || "(none)"],
        ["Quantity", body.quantity || "(none)"],
        ["Refills", refillsWords],
        ["Instructions for the patient", body.instructions || "(none)"],
      ],
    });
    if (!sure) return;
    submit.disabled = true;
    try {
      await api("POST", `/api/visits/${visitId}/orders`, body);
    } catch (error) {
      submit.disabled = false;
      showRefusal(error);
      return;
    }
    submit.disabled = false;
    const name = search.value;
    form.reset();
    hiddenId.value = "";
    chosenMed = null;
    setText(chosen, "");
    setText(success, `Ordered ${name}.`);
    show(success, true);
    root.dispatchEvent(new CustomEvent("record:medications-changed"));
    loadOrders();
  });

  const evaluation = root.querySelector("[data-evaluation]");
  const evaluationForm = root.querySelector("[data-evaluation-form]");
  root.querySelector("[data-open-evaluation]")?.addEventListener("click", () => {
    evaluation.open = true;
    evaluationForm.elements.namedItem("date").focus();
  });
  evaluationForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorBox = evaluationForm.querySelector("[data-evaluation-error]");
    const okBox = evaluationForm.querySelector("[data-evaluation-success]");
    show(errorBox, false);
    show(okBox, false);
    const data = new FormData(evaluationForm);
    const body = {
      date: String(data.get("date") || ""),
      location: String(data.get("location") || ""),
      attestation: String(data.get("attestation") || ""),
    };
    let recorded;
    try {
      recorded = await api("POST", `/api/patients/${root.dataset.patientId}/in-person-evaluations`, body);
    } catch (error) {
      setText(errorBox, error.message);
      show(errorBox, true);
      const field = error.field && evaluationForm.elements.namedItem(error.field);
      if (field) field.focus();
      return;
    }
    evaluationForm.reset();
    setText(okBox, `In-person evaluation of ${recorded.date} recorded. You can place the order again.`);
    show(okBox, true);
  });

  loadOrders();
}
