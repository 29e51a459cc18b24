// The questionnaires before a visit (PHQ-9, GAD-7, ...), phone-sized.
//
// Every answer is kept on this device at once (localStorage) and sent as a draft; a reload,
// a lost network or a closed tab loses nothing, and what did not reach the server is sent
// when the page can. Submitting is one request; the server scores it. If a safety question
// (PHQ-9 item 9) is answered above 0, the crisis resources show at once on submitting,
// from the page itself, whatever the network does.
import { api } from "./api.js";

const app = document.getElementById("q-app");
const visitId = app.dataset.visitId;
const status = document.getElementById("q-status");
const crisis = document.getElementById("crisis");
const forms = [...document.querySelectorAll("form.questionnaire")];
const RETRY_MS = 4000;

const key = (instrument) => `telehealth.q.${visitId}.${instrument}`;

function loadLocal(instrument) {
  try {
    return JSON.parse(window.localStorage.getItem(key(instrument)) || "null");
  } catch {
    return null;
  }
}

function saveLocal(instrument, state) {
  try {
    window.localStorage.setItem(key(instrument), JSON.stringify(state));
  } catch {
    // Private browsing or a full store: the server draft still holds the answers.
  }
}

function clearLocal(instrument) {
  try {
    window.localStorage.removeItem(key(instrument));
  } catch {
    // Nothing to clear.
  }
}

function say(text) {
  status.textContent = text;
}

// A draft or a submission: answers {data} or {error}, never throws (a draft in flight is
// awaited by the submission that follows it).
async function send(instrument, body) {
  try {
    return { data: await api("PUT", `/api/visits/${visitId}/questionnaires/${instrument}`, body) };
  } catch (error) {
    return { error };
  }
}

function showCrisis({ told }) {
  crisis.hidden = false;
  document.getElementById("crisis-told").hidden = !told;
  if (document.activeElement !== crisis) crisis.focus();
  crisis.scrollIntoView({ block: "start" });
}

function answersOf(form) {
  const answers = {};
  for (const input of form.querySelectorAll("input[type=radio]:checked")) {
    const item = input.closest("[data-item]").dataset.item;
    answers[item] = Number(input.value);
  }
  return answers;
}

function finishedAll() {
  return forms.every((f) => f.dataset.status === "submitted");
}

function showFinished() {
  if (!finishedAll()) return;
  const done = document.getElementById("q-finished");
  done.hidden = false;
  const later = document.getElementById("q-later");
  if (later) later.hidden = true;
  const heading = done.querySelector("h2");
  if (crisis.hidden && heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

class Questionnaire {
  constructor(form) {
    this.form = form;
    this.instrument = form.dataset.instrument;
    this.name = form.dataset.name;
    this.safety = (form.dataset.safety || "").split(",").filter(Boolean);
    this.error = form.querySelector("[data-q-error]");
    this.unsent = false; // answers on this device the server has not confirmed
    this.sending = null;
    this.restore();
    form.addEventListener("change", () => this.changed());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  restore() {
    const local = loadLocal(this.instrument);
    if (!local || this.form.dataset.status === "submitted") {
      if (this.form.dataset.status === "submitted") clearLocal(this.instrument);
      return;
    }
    // This device's answers are the newest: they were kept before the server heard of them.
    for (const [item, value] of Object.entries(local.answers || {})) {
      const input = this.form.querySelector(`input[name="${this.instrument}-${item}"][value="${value}"]`);
      if (input) input.checked = true;
    }
    if (local.unsent) {
      this.unsent = true;
      this.flush();
    }
  }

  changed() {
    this.error.hidden = true;
    this.unsent = true;
    saveLocal(this.instrument, { answers: answersOf(this.form), unsent: true });
    this.flush();
  }

  async flush() {
    if (this.sending || !this.unsent || this.form.dataset.status === "submitted") return;
    const answers = answersOf(this.form);
    this.unsent = false;
    this.sending = send(this.instrument, { answers, submit: false });
    const { error } = await this.sending;
    this.sending = null;
    if (!error) {
      if (!this.unsent) saveLocal(this.instrument, { answers, unsent: false });
      say("Your answers are saved.");
      if (this.unsent) this.flush();
      return;
    }
    if (error.code === "already_submitted") {
      this.markSubmitted();
      return;
    }
    this.unsent = true;
    if (error.offline) {
      say("You are offline. Your answers are kept on this device and will be sent when you are back online.");
    } else {
      say(error.message);
    }
  }

  safetyAnswered() {
    const answers = answersOf(this.form);
    return this.safety.some((item) => (answers[item] || 0) > 0);
  }

  async submit() {
    this.error.hidden = true;
    const answers = answersOf(this.form);
    const missing = [...this.form.querySelectorAll("[data-item]")].filter(
      (fieldset) => answers[fieldset.dataset.item] === undefined,
    );
    if (missing.length) {
      const numbers = missing.map((m) => m.dataset.item).join(", ");
      this.fail(`Answer every question before you send: question${missing.length > 1 ? "s" : ""} ${numbers} ${missing.length > 1 ? "are" : "is"} still unanswered.`);
      const first = missing[0].querySelector("input");
      if (first) first.focus();
      return;
    }
    // Help is shown at once, before and whatever the answer from the server.
    const needsHelp = this.safetyAnswered();
    if (needsHelp) showCrisis({ told: false });
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    if (this.sending) await this.sending;
    const { data, error } = await send(this.instrument, { answers, submit: true });
    button.disabled = false;
    if (!error || error.code === "already_submitted") {
      if (data && data.safety_alert) showCrisis({ told: true });
      this.markSubmitted();
      return;
    }
    this.unsent = true;
    saveLocal(this.instrument, { answers, unsent: true });
    if (error.offline) {
      this.fail("Could not send: you seem to be offline. Your answers are kept on this device; press the button again when you are back online.");
    } else {
      this.fail(error.message);
    }
  }

  fail(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  markSubmitted() {
    this.form.dataset.status = "submitted";
    this.unsent = false;
    clearLocal(this.instrument);
    this.form.querySelector("[data-q-items]").hidden = true;
    this.form.querySelector("[data-q-done]").hidden = false;
    say(`Your ${this.name} answers were sent. Thank you.`);
    showFinished();
  }
}

const questionnaires = forms.map((form) => new Questionnaire(form));
const flushAll = () => questionnaires.forEach((q) => q.flush());
window.addEventListener("online", flushAll);
setInterval(flushAll, RETRY_MS);
showFinished();
