// The note editor: autosave (debounced, carrying the version it is based on), conflict
// resolution that never drops what was typed, signing and addenda.
import { api } from "./api.js";
import { show, setText, when } from "./dom.js";
import { confirmAction } from "./confirm.js";

const SECTIONS = ["subjective", "objective", "assessment", "plan"];
const LABELS = { subjective: "Subjective", objective: "Objective", assessment: "Assessment", plan: "Plan" };
const AUTOSAVE_MS = 800;
const RETRY_MS = 5000;

// A draft not yet saved is kept in this tab's sessionStorage (gone when the tab closes, so
// no PHI lingers on a shared workstation), so a reload during an outage loses nothing.
function draftStore(visitId) {
  const key = `telehealth:note-draft:${visitId}`;
  return {
    read() {
      try { return JSON.parse(sessionStorage.getItem(key) || "null"); } catch { return null; }
    },
    write(values, version) {
      try { sessionStorage.setItem(key, JSON.stringify({ values, version })); } catch { /* full or disabled */ }
    },
    clear() {
      try { sessionStorage.removeItem(key); } catch { /* disabled */ }
    },
  };
}

export function initNote(root) {
  const visitId = root.dataset.visitId;
  const url = `/api/visits/${visitId}/note`;
  const form = root.querySelector("[data-note-form]");
  const fields = Object.fromEntries(SECTIONS.map((name) => [name, form.elements.namedItem(name)]));
  const status = root.querySelector("[data-note-status]");
  const errorBox = root.querySelector("[data-note-error]");
  const conflict = root.querySelector("[data-note-conflict]");
  const signButton = root.querySelector("[data-note-sign]");
  const signedBox = root.querySelector("[data-note-signed]");
  const addenda = root.querySelector("[data-addenda]");
  const addendaList = root.querySelector("[data-addenda-list]");
  const addendumForm = root.querySelector("[data-addendum-form]");
  const addendumError = root.querySelector("[data-addendum-error]");

  const state = {
    version: 0, editable: root.dataset.canWrite === "true", dirty: false, saving: null,
    timer: null, conflict: null,
  };
  const drafts = draftStore(visitId);

  const values = () => Object.fromEntries(SECTIONS.map((name) => [name, fields[name].value]));
  const fill = (source) => SECTIONS.forEach((name) => { fields[name].value = source[name] || ""; });
  const setEditable = (editable) => {
    state.editable = editable;
    SECTIONS.forEach((name) => { fields[name].readOnly = !editable; });
    show(signButton, editable);
  };

  function renderAddenda(list, canAdd) {
    addendaList.replaceChildren(...list.map((a) => {
      const item = document.createElement("li");
      const text = document.createElement("p");
      text.className = "prewrap";
      text.textContent = a.text;
      const meta = document.createElement("p");
      meta.className = "muted";
      meta.textContent = `Signed ${when(a.signed_at)}`;
      item.append(text, meta);
      return item;
    }));
    show(addenda, list.length > 0 || canAdd);
    show(addendumForm, canAdd);
  }

  function render(note) {
    state.version = note.version;
    if (!state.dirty) fill(note);
    const perms = note.permissions || {};
    const signed = note.status === "signed";
    setEditable(Boolean(perms.can_edit));
    show(signedBox, signed);
    if (signed) setText(signedBox, `Signed ${when(note.signed_at)}. The note is locked; add an addendum to correct or add to it.`);
    else if (note.updated_at) setText(status, `Saved ${when(note.updated_at)}`);
    renderAddenda(note.addenda || [], Boolean(perms.can_add_addendum));
  }

  async function load() {
    let note;
    try { note = await api("GET", url); } catch (error) { show(errorBox, true); setText(errorBox, error.message); return; }
    render(note);
    const draft = drafts.read();
    if (draft && state.editable && SECTIONS.some((name) => (draft.values[name] || "") !== fields[name].value)) {
      // Text typed before a reload that never reached the server: put it back and save it,
      // based on the version it was typed against (a newer save elsewhere shows both).
      fill(draft.values);
      state.version = draft.version;
      state.dirty = true;
      setText(status, "Restored text that was not saved yet");
      schedule();
    } else if (draft) {
      drafts.clear();
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(save, AUTOSAVE_MS);
  }

  async function save() {
    clearTimeout(state.timer);
    if (!state.dirty || !state.editable || state.conflict) return state.saving;
    if (state.saving) { await state.saving; return save(); }
    const sent = values();
    setText(status, "Saving…");
    state.saving = (async () => {
      let saved;
      try {
        saved = await api("PUT", url, { ...sent, version: state.version });
      } catch (error) {
        await notSaved(error);
        return;
      }
      state.version = saved.version;
      const changedSince = SECTIONS.some((name) => fields[name].value !== sent[name]);
      state.dirty = changedSince;
      if (!changedSince) drafts.clear();
      show(errorBox, false);
      setText(status, changedSince ? "Unsaved changes" : `Saved ${when(saved.updated_at)}`);
      if (changedSince) schedule();
    })();
    try { await state.saving; } finally { state.saving = null; }
    return null;
  }

  async function notSaved(error) {
    if (error.code === "stale_version") {
      showConflict(error.details.current);
    } else if (error.code === "note_signed") {
      state.dirty = false;
      setText(status, "");
      await load();
      show(errorBox, true);
      setText(errorBox, `${error.message} Your unsaved text was not applied.`);
    } else if (error.offline) {
      // The connection dropped: keep the text, keep trying.
      setText(status, "Not saved yet: no connection. Retrying…");
      clearTimeout(state.timer);
      state.timer = setTimeout(save, RETRY_MS);
    } else {
      setText(status, "Not saved");
      show(errorBox, true);
      setText(errorBox, error.message);
    }
  }

  function showConflict(current) {
    state.conflict = current;
    setText(status, "Not saved: changed elsewhere");
    setText(conflict.querySelector("[data-conflict-version]"), `(version ${current.version})`);
    const list = conflict.querySelector("[data-conflict-theirs]");
    list.replaceChildren(...SECTIONS.flatMap((name) => {
      const term = document.createElement("dt");
      term.textContent = LABELS[name];
      const detail = document.createElement("dd");
      detail.className = "prewrap";
      detail.textContent = current[name] || "(empty)";
      return [term, detail];
    }));
    show(conflict, true);
    conflict.querySelector("[data-conflict-keep-mine]").focus();
  }

  conflict.querySelector("[data-conflict-keep-mine]").addEventListener("click", () => {
    state.version = state.conflict.version;
    state.conflict = null;
    show(conflict, false);
    state.dirty = true;
    save();
  });
  conflict.querySelector("[data-conflict-take-theirs]").addEventListener("click", () => {
    const current = state.conflict;
    state.conflict = null;
    show(conflict, false);
    fill(current);
    state.version = current.version;
    state.dirty = false;
    drafts.clear();
    setText(status, `Showing the saved version ${current.version}`);
  });

  form.addEventListener("input", (event) => {
    if (!SECTIONS.includes(event.target.name) || !state.editable) return;
    state.dirty = true;
    drafts.write(values(), state.version);
    if (!state.conflict) setText(status, "Unsaved changes");
    schedule();
  });
  window.addEventListener("online", () => { if (state.dirty) save(); });
  form.addEventListener("submit", (event) => event.preventDefault());

  signButton?.addEventListener("click", async () => {
    const sure = await confirmAction({
      title: "Sign and lock this note?",
      text: "Once signed, the note cannot be changed, only added to with an addendum. "
        + "The patient's visit summary is made from it, and they are emailed that it is ready.",
      confirm: "Sign note",
      danger: false,
    });
    if (!sure) return;
    signButton.disabled = true;
    await save();
    if (state.conflict || state.dirty) { signButton.disabled = false; return; }
    try {
      await api("POST", `${url}/sign`, { version: state.version });
    } catch (error) {
      signButton.disabled = false;
      show(errorBox, true);
      setText(errorBox, error.message);
      return;
    }
    signButton.disabled = false;
    drafts.clear();
    show(errorBox, false);
    await load();
    signedBox.focus?.();
  });

  addendumForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = addendumForm.elements.namedItem("text");
    try {
      await api("POST", `${url}/addenda`, { text: text.value });
    } catch (error) {
      show(addendumError, true);
      setText(addendumError, error.message);
      return;
    }
    text.value = "";
    show(addendumError, false);
    await load();
  });

  window.addEventListener("beforeunload", (event) => {
    if (state.dirty || state.saving) { save(); event.preventDefault(); }
  });

  load();
}
