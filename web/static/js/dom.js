// Small DOM helpers shared by the pages: safe building (text is never parsed as HTML),
// showing and hiding, a status line, and times for people to read.

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

export function show(element, visible) {
  if (element) element.hidden = !visible;
}

export function setText(element, text) {
  if (element) element.textContent = text;
}

// One message in a status area: kind "notice", "success" or "error" (its CSS class).
export function say(node, message, kind = "notice") {
  node.replaceChildren();
  if (!message) return;
  node.append(el("p", { class: kind, text: message }));
}

// A time for people to read, in their own zone (from their profile, which the page puts on
// <body>; the browser's zone when it has none), with the zone named.
export function when(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
    timeZoneName: "short", timeZone: document.body.dataset.timezone || undefined,
  });
}
