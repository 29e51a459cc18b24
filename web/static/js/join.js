// The invitation link's page: date of birth → POST /api/join → the visit page (or its
// questionnaires first).
import { dateOfBirthForm } from "./dob-form.js";

dateOfBirthForm({
  form: document.getElementById("join-form"),
  error: document.getElementById("join-error"),
  input: document.getElementById("date_of_birth"),
  url: "/api/join",
  answered(data, error, show) {
    if (!error) {
      const id = data.visit_id || (data.visit && data.visit.id) || data.id;
      // replace(): the link page leaves the history, so Back does not return to it.
      // The questionnaires the visit asks come first (`next`), then the device check.
      window.location.replace(data.next || (id ? `/visit/${id}` : "/"));
    } else if (error.status === 404) {
      show("We could not open a visit with this link and date of birth. Check the date; " +
        "if it is right, the link may have expired: call the practice for a new one.");
    } else if (error.status === 409 || error.status === 429) {
      // The date of birth was right (or no longer matters): the message says what to do.
      show(error.message || "This visit cannot be joined now. Call the practice.", { focus: false });
    } else {
      show(error.message || "Something went wrong. Try again in a moment.");
    }
  },
});
