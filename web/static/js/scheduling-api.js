// Small helpers shared by the scheduling pages: JSON calls and safe DOM building.

export async function api(url, { method = "GET", body } = {}) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    throw new Error("Signed out.");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = data.error?.message || `The request failed (${response.status}).`;
    const error = new Error(message);
    error.code = data.error?.code;
    error.status = response.status;
    throw error;
  }
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

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
