// The visit record panel's one way to call the JSON API: never throws, always answers
// {ok, status, data} or {ok: false, status, error: {code, message, ...}}.

export async function api(method, url, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    return {
      ok: false, status: 0,
      error: { code: "network", message: "Could not reach the server. Check your connection and try again; nothing you typed is lost." },
    };
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.ok) return { ok: true, status: response.status, data };
  const error = (data && data.error) || { code: `http_${response.status}`, message: `The server answered ${response.status}. Try again.` };
  return { ok: false, status: response.status, error };
}

export function show(element, visible) {
  if (element) element.hidden = !visible;
}

export function setText(element, text) {
  if (element) element.textContent = text;
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
