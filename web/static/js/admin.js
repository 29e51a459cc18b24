// Admin home: list accounts, create one, unlock or deactivate.
import { api } from "./api.js";
import { el } from "./dom.js";
import { confirmAction } from "./confirm.js";

const tbody = document.querySelector("#accounts tbody");
const status = document.getElementById("accounts-status");
const form = document.getElementById("new-account");
const errorBox = document.getElementById("new-account-error");
const okBox = document.getElementById("new-account-ok");

async function load() {
  try {
    const { users } = await api("GET", "/api/users");
    tbody.replaceChildren(...users.map(row));
    status.textContent = `${users.length} accounts`;
  } catch (err) {
    status.textContent = err.message;
  }
}

function row(user) {
  const state = !user.active ? "deactivated" : user.locked ? "locked" : "active";
  const actions = el("td");
  if (user.locked) actions.append(button("Unlock", user, { unlock: true }));
  if (user.active && user.can_deactivate) actions.append(button("Deactivate", user, { active: false }));
  if (!user.active) actions.append(button("Reactivate", user, { active: true }));
  return el("tr", {}, el("td", {}, user.id), el("td", {}, user.username), el("td", {}, user.full_name),
    el("td", {}, user.role), el("td", {}, state), actions);
}

function button(label, user, change) {
  return el("button", {
    type: "button", "aria-label": `${label} ${user.username}`,
    onclick: async () => {
      if (change.active === false) {
        const sure = await confirmAction({
          title: `Deactivate ${user.username}?`,
          text: `${user.full_name} is signed out everywhere at once and cannot sign in until `
            + "an administrator reactivates the account.",
          confirm: "Deactivate",
          cancel: "Keep active",
        });
        if (!sure) return;
      }
      try {
        await api("PATCH", `/api/users/${user.id}`, change);
        await load();
      } catch (err) {
        status.textContent = err.message;
      }
    },
  }, label);
}

function showRoleFields() {
  const role = form.role.value;
  for (const set of form.querySelectorAll("fieldset[data-for]")) {
    set.hidden = !set.dataset.for.split(" ").includes(role);
  }
  // A physician assistant practises under a supervising psychiatrist, chosen by name.
  const superRow = document.getElementById("na-super-row");
  superRow.hidden = form.credential.value !== "PA";
  superRow.querySelector("select").disabled = superRow.hidden;
}

async function loadSupervisors() {
  const select = document.getElementById("na-super");
  try {
    const { users } = await api("GET", "/api/users?role=prescriber");
    select.append(...users.filter((u) => u.active).map((u) => el("option", { value: u.id },
      `${u.full_name} (${u.username})`)));
  } catch (err) {
    status.textContent = err.message;
  }
}

form.role.addEventListener("change", showRoleFields);
form.credential.addEventListener("change", showRoleFields);
loadSupervisors();
showRoleFields();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  okBox.hidden = true;
  const body = {};
  for (const input of form.querySelectorAll("input, select")) {
    if (input.closest("[hidden]") || input.disabled || !input.name || input.value === "") continue;
    if (input.hasAttribute("data-list")) body[input.name] = input.value.split(",").map((s) => s.trim()).filter(Boolean);
    else if (input.hasAttribute("data-int")) body[input.name] = Number(input.value);
    else body[input.name] = input.value;
  }
  try {
    const { id } = await api("POST", "/api/users", body);
    okBox.textContent = `Created ${body.username} (id ${id}).`;
    okBox.hidden = false;
    form.reset();
    showRoleFields();
    await load();
  } catch (err) {
    errorBox.textContent = err.message;
    errorBox.hidden = false;
    const input = err.field && form.querySelector(`[name="${err.field}"]`);
    if (input) input.focus();
  }
});

load();
