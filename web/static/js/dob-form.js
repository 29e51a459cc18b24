// The date-of-birth form of a link page (the join link, the questionnaire link): checks the
// field, posts the link's token with the date, then hands the answer to the page.
// The token is read from the address bar and sent in the JSON body only.
// `answered(data, null, show)` after a success, `answered(null, error, show)` after a refusal
// (an ApiError: its `status`, `code` and `message` say what to do).
import { api } from "./api.js";

export function dateOfBirthForm({ form, error, input, url, answered }) {
  const token = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "");

  // `focus`: the field is what to fix (a wrong or missing date), so it takes the focus.
  function show(message, { focus = true } = {}) {
    error.textContent = message;
    error.hidden = false;
    if (focus) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    if (!input.value) {
      show("Enter your date of birth.");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    let data;
    try {
      data = await api("POST", url, { token, date_of_birth: input.value }, { signingIn: true });
    } catch (error) {
      button.disabled = false;
      if (error.offline) show("Could not reach the server. Check your internet connection and try again.");
      else answered(null, error, show);
      return;
    }
    button.disabled = false;
    answered(data, null, show);
  });
}
