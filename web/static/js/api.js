// Calling the JSON API from the pages. One core (`call` in record-api.js never throws and
// answers {ok, status, data, error}); this module adds the throwing form and a DOM builder.
import { api as call } from "./record-api.js";

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `The server answered ${status}.`);
    this.status = status;
    this.code = (error && error.code) || "error";
    this.body = { error };
  }
}

// Throws ApiError on failure; on an idle logoff goes to the sign-in page.
export async function api(method, url, body) {
  const result = await call(method, url, body);
  if (result.ok) return result.data;
  if (result.status === 401 && result.error.code === "session_expired") {
    window.location.assign("/login?expired=1");
  }
  throw new ApiError(result.status, result.error);
}

// el("button", {class, text, dataset: {...}, onclick: fn, "aria-label": "..."}, ...children)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
