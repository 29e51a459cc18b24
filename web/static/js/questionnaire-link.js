// The reminder email's link: date of birth → POST /api/questionnaire-link → the questions.
import { dateOfBirthForm } from "./dob-form.js";

dateOfBirthForm({
  form: document.getElementById("ql-form"),
  error: document.getElementById("ql-error"),
  input: document.getElementById("date_of_birth"),
  url: "/api/questionnaire-link",
  answered(data, error, show) {
    if (!error) window.location.replace(data.next);
    else show(error.message);
  },
});
