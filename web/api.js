// What both pages share: calls to tessera's JSON API, the CSRF token, and the sign-in redirects.
//
// Security notes:
// - The session lives in an HttpOnly cookie: no script here can read it, and none tries.
// - The CSRF token is kept in memory only (learnt from GET /v1/me on every load), never in
//   storage, and sent as X-CSRF-Token on every state-changing request.
// - The only thing kept in localStorage is a flag saying "this browser was signed in", so that a
//   session found dead later is reported as ended rather than never started. It is no secret.

let csrfToken = null;

// Unix seconds at which the current session ends unless used (X-Auth-Expires-At), once known.
export let sessionExpiresAt = null;

export function setCsrfToken(token) {
  csrfToken = typeof token === 'string' && token ? token : null;
}

export class ApiError extends Error {
  constructor(status, code, description, retryAfter, data = null) {
    super(description || code);
    this.status = status; // 0: the server could not be reached
    this.code = code;
    this.description = description;
    this.retryAfter = retryAfter; // seconds, from Retry-After, or null
    this.data = data; // the answer's JSON body, when it had one (mfa_ticket, ...)
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

// Calls the API and returns the parsed JSON answer (null for 204), or throws an ApiError.
// `passive`: the request does not count as activity (Tessera-Passive: 1), for background polling.
export async function api(method, path, { body, passive = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!SAFE_METHODS.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (passive) headers['Tessera-Passive'] = '1';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch {
    throw new ApiError(0, 'network', "can't reach the server", null);
  }
  const expires = Number(res.headers.get('X-Auth-Expires-At'));
  if (Number.isFinite(expires) && expires > 0) sessionExpiresAt = expires;
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const retry = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
    throw new ApiError(
      res.status,
      typeof data?.error === 'string' ? data.error : 'server_error',
      typeof data?.error_description === 'string' ? data.error_description : `HTTP ${res.status}`,
      Number.isFinite(retry) && retry >= 0 ? retry : null,
      data,
    );
  }
  return data;
}

// ---- "was signed in" flag -------------------------------------------------------------------

const SIGNED_IN_KEY = 'tessera.signed-in';

export function markSignedIn() {
  try {
    localStorage.setItem(SIGNED_IN_KEY, '1');
  } catch {
    // Storage may be off; the only loss is a less specific message later.
  }
}

export function clearSignedIn() {
  try {
    localStorage.removeItem(SIGNED_IN_KEY);
  } catch {
    // As above.
  }
}

export function wasSignedIn() {
  try {
    return localStorage.getItem(SIGNED_IN_KEY) === '1';
  } catch {
    return false;
  }
}

// ---- messages on the sign-in page -------------------------------------------------------------

// Why the user is on the sign-in page (the `reason` query parameter). Only these fixed texts are
// ever shown: the parameter selects one, it is never displayed itself.
export const NOTICES = {
  expired: { kind: 'info', text: 'Your session expired. Sign in again to continue.' },
  ended: {
    kind: 'info',
    text:
      'You were signed out: this session was ended from another device or by an administrator. ' +
      'Sign in again to continue.',
  },
  'signed-out': { kind: 'success', text: 'You have signed out.' },
};

// The sign-in page's URL after the session ended for `reason` (a key of NOTICES, or '').
export function signInUrl(reason = '') {
  return reason ? `/?reason=${encodeURIComponent(reason)}` : '/';
}

// The reason to give for a 401 from the API: tessera says "session expired" when the idle or
// absolute timeout ended the session; anything else means it was revoked (or never existed).
export function reasonFor(error, hadSession) {
  if (error?.description === 'session expired') return 'expired';
  return hadSession ? 'ended' : '';
}

// The `next` parameter of a query string. A reverse proxy puts the original request there as it
// came, not encoded (nginx: `return 302 /?next=$request_uri`), so when `next` is the last
// parameter its value runs to the end: "/?next=/app/r?a=1&b=2" means "/app/r?a=1&b=2". A value
// that starts "%2F" was encoded as a whole (encodeURIComponent) and is decoded once.
export function nextFromQuery(search) {
  const m = /[?&]next=([^#]*)$/.exec(search);
  if (!m) return new URLSearchParams(search).get('next');
  if (!/^%2f/i.test(m[1])) return m[1];
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

// Where to go after signing in: `next` when it is a path on this site, else the account page.
// This stops an open redirect: /?next=//evil.example would otherwise send a freshly signed-in
// user to a look-alike page.
export function safeNext(next, fallback = '/account') {
  if (typeof next !== 'string' || next.length === 0 || next.length > 2048) return fallback;
  // One leading "/" only: "//host" and "/\host" both name another host to a browser.
  if (next[0] !== '/' || next[1] === '/' || next[1] === '\\') return fallback;
  // URL parsing turns "\" into "/" and drops tabs and newlines ("/\t/evil.example"): refuse any.
  if (/[\\\u0000-\u001f\u007f]/.test(next)) return fallback;
  let url;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return fallback;
  }
  if (url.origin !== window.location.origin) return fallback;
  if (url.pathname === '/') return fallback; // not back to this page
  return url.pathname + url.search + url.hash;
}

// ---- small DOM helpers --------------------------------------------------------------------------

// Shows `text` in a message slot (a live region that stays in the page), as plain text.
export function showMessage(slot, kind, text) {
  const p = document.createElement('p');
  p.className = `message message-${kind}`;
  p.textContent = text;
  slot.replaceChildren(p);
}

export function clearMessage(slot) {
  slot.replaceChildren();
}
