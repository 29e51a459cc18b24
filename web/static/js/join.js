// The invitation link's page: date of birth → POST /api/join → the visit page.
// The token is read from the address bar and sent in the JSON body only.

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

function errorMessage(data, fallback) {
  return (data && data.error && data.error.message) || fallback;
}

const form = document.getElementById("join-form");
const error = document.getElementById("join-error");
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
  const { ok, status, data } = await postJson("/api/join", {
    token,
    date_of_birth: dob.value,
  }).catch(() => ({ ok: false, status: 0, data: {} }));
  button.disabled = false;
  if (ok) {
    const id = data.visit_id || (data.visit && data.visit.id) || data.id;
    // replace(): the link page leaves the history, so Back does not return to it.
    // The questionnaires the visit asks come first (`next`), then the device check.
    window.location.replace(data.next || (id ? `/visit/${id}` : "/"));
    return;
  }
  if (status === 404) {
    fail("We could not open a visit with this link and date of birth. Check the date; " +
      "if it is right, the link may have expired: call the practice for a new one.");
  } else if (status === 409 || status === 429) {
    // The date of birth was right (or no longer matters): the message says what to do.
    error.textContent = errorMessage(data, "This visit cannot be joined now. Call the practice.");
    error.hidden = false;
  } else if (status === 0) {
    fail("Could not reach the server. Check your internet connection and try again.");
  } else {
    fail(errorMessage(data, "Something went wrong. Try again in a moment."));
  }
});
