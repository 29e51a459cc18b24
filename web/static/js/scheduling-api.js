// Small helpers shared by the scheduling pages: JSON calls and safe DOM building.
import { el } from "./api.js";
import { api as call } from "./record-api.js";

// The scheduling pages call api(url, {method, body}); a signed-out page goes to sign-in.
export async function api(url, { method = "GET", body } = {}) {
  const result = await call(method, url, body);
  if (result.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
  }
  if (result.ok) return result.data;
  const error = new Error(result.error.message);
  error.code = result.error.code;
  error.status = result.status;
  throw error;
}

export { el };

export const VISIT_TYPES = { initial_evaluation: "Initial evaluation", follow_up: "Follow-up" };
export const MODALITIES = { telehealth: "Video", in_person: "In person" };
export const STATUSES = {
  booked: "Booked", waiting: "Waiting", in_progress: "In progress", finished: "Finished",
  cancelled: "Cancelled", noshow: "No-show",
};

export function say(node, message, kind = "notice") {
  node.replaceChildren();
  if (!message) return;
  node.append(el("p", { class: kind, text: message }));
}
