// The pages' one way to call the JSON API.
//
// api(method, url, body?, {keepalive, signingIn}?) answers the JSON body of a 2xx answer
// (null for a 204) and throws an ApiError for anything else, with the server's `code`,
// `message` and `field` (and the whole error object as `details`, for extras such as a
// stale note's `current` or a refused order's `book_url`). A failed connection is an
// ApiError too, with status 0 and code "network".
//
// What the server expects of a call from a page: the body as JSON with
// `Content-Type: application/json` (the CSRF defence of JSON routes: a cross-site form
// cannot send that type), from the same origin, with the session cookie.
//
// A 401 means the session ended (idle logoff, its lifetime, a moved visit, signed out
// elsewhere): the one reaction is sessionEnded(), which sends the person to the sign-in
// page, and that page says why. A call that signs in (`signingIn`: a link page's date of
// birth) is the exception: its 401 is its answer, for the page to show.

export class ApiError extends Error {
  // `explained`: the server sent an error object (not a proxy's page or a dropped line).
  constructor(status, error, { explained = false } = {}) {
    super(error.message);
    this.name = "ApiError";
    this.status = status;
    this.code = error.code;
    this.field = error.field ?? null;
    this.details = error;
    this.explained = explained;
  }

  get offline() {
    return this.status === 0;
  }

  // The server's own message, or the page's words for what went wrong when it sent none.
  messageOr(fallback) {
    return this.explained ? this.message : fallback;
  }
}

const NETWORK = {
  code: "network",
  message: "Could not reach the server. Check your connection and try again; nothing you typed is lost.",
};

// Where the sign-in page is told why the session ended (it shows the matching notice).
const SIGN_IN_AGAIN = {
  session_expired: "/login?expired=1",
  visit_changed: "/login?visit_changed=1",
};
let leaving = false;

export function sessionEnded(code, signIn) {
  if (leaving) return;
  leaving = true;
  const here = `${window.location.pathname}${window.location.search}`;
  // The server names the page that explains this ending (a site path only); else by code.
  const named = typeof signIn === "string" && /^\/login\?[\w=&]*$/.test(signIn) ? signIn : null;
  window.location.assign(named || SIGN_IN_AGAIN[code] || `/login?signed_out=1&next=${encodeURIComponent(here)}`);
}

export async function api(method, url, body, { keepalive = false, signingIn = false } = {}) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin", keepalive };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError(0, NETWORK);
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.ok) return data;
  const explained = Boolean(data && data.error);
  const error = explained ? data.error : {
    code: `http_${response.status}`, message: `The server answered ${response.status}. Try again.`,
  };
  if (response.status === 401 && !signingIn) sessionEnded(error.code, error.sign_in);
  throw new ApiError(response.status, error, { explained });
}
