// The reminder email's link: date of birth → POST /api/questionnaire-link → the questions.
// The token is read from the address bar and sent in the JSON body only.
import { api } from "./record-api.js";

const form = document.getElementById("ql-form");
const error = document.getElementById("ql-error");
const dob = document.getElementById("date_of_birth");
const token = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "");

function fail(message) {
  error.textContent = message;
  error.hidden = false;
  dob.setAttribute("aria-invalid", "true");
  dob.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  dob.removeAttribute("aria-invalid");
  if (!dob.value) {
    fail("Enter your date of birth.");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  const result = await api("POST", "/api/questionnaire-link", { token, date_of_birth: dob.value });
  button.disabled = false;
  if (result.ok) {
    window.location.replace(result.data.next);
  } else if (result.status === 0) {
    fail("Could not reach the server. Check your internet connection and try again.");
  } else {
    fail(result.error.message);
  }
});
