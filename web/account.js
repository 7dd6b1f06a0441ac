// The account page (/account): who is signed in, two-step verification and the password
// (security.js), every active session (cookie and token alike), ending one or all others, signing
// out. A dead session (expired, revoked elsewhere) sends the page back to sign-in with a message
// instead of failing silently.
import {
  api,
  clearMessage,
  clearSignedIn,
  markSignedIn,
  reasonFor,
  sessionExpiresAt,
  setCsrfToken,
  showMessage,
  signInUrl,
  wasSignedIn,
} from './api.js';
import { initSecurity } from './security.js';
import { describeUserAgent } from './ua.js';

const POLL_MS = 30_000;

const $ = (id) => document.getElementById(id);
const main = $('main');
const statusSlot = $('status');
const errorSlot = $('error');
const list = $('sessions');
const rowTemplate = $('session-row');
const endOthers = $('end-others');
const signOut = $('sign-out');

let me = null; // GET /v1/me, once loaded
let renderedKey = '';
let pollTimer = 0;
let leaving = false;

// ---- time ---------------------------------------------------------------------------------------

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

function relativeText(unixSeconds) {
  const diff = unixSeconds - Date.now() / 1000; // negative: in the past
  const abs = Math.abs(diff);
  if (abs < 45) return diff <= 0 ? 'just now' : relative.format(Math.round(diff), 'second');
  if (abs < 3600) return relative.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(diff / 3600), 'hour');
  if (abs < 30 * 86400) return relative.format(Math.round(diff / 86400), 'day');
  return absolute.format(new Date(unixSeconds * 1000));
}

// Fills a <time>: machine-readable datetime, the full local time as its tooltip.
function setTime(el, unixSeconds, style) {
  const date = new Date(unixSeconds * 1000);
  el.dateTime = date.toISOString();
  el.title = absolute.format(date);
  el.textContent = style === 'relative' ? relativeText(unixSeconds) : absolute.format(date);
  el.dataset.unix = String(unixSeconds);
  el.dataset.style = style;
}

function refreshRelativeTimes() {
  for (const el of document.querySelectorAll('time[data-style="relative"]')) {
    el.textContent = relativeText(Number(el.dataset.unix));
  }
}

// ---- leaving ------------------------------------------------------------------------------------

// The session is gone (401): back to sign-in, saying why.
function leave(error) {
  if (leaving) return;
  leaving = true;
  window.clearTimeout(pollTimer);
  const reason = reasonFor(error, me !== null || wasSignedIn());
  clearSignedIn();
  window.location.replace(signInUrl(reason));
}

function fail(action, error) {
  if (error.status === 401) return leave(error);
  const why =
    error.status === 0
      ? "can't reach the server. Check your connection and try again."
      : error.status === 503
        ? 'the server is busy right now. Try again in a moment.'
        : `${error.description ?? error.message}.`;
  clearMessage(statusSlot);
  showMessage(errorSlot, 'error', `Couldn't ${action}: ${why}`);
}

function announce(text) {
  clearMessage(errorSlot);
  showMessage(statusSlot, 'success', text);
}

// ---- rendering ----------------------------------------------------------------------------------

function renderMe(user) {
  $('username').textContent = user.username;
  $('topbar-user').textContent = user.username;
  $('avatar').textContent = (Array.from(user.username)[0] ?? '?').toUpperCase();
  $('sub').textContent = user.sub;
  const roles = Array.isArray(user.roles) ? user.roles : [];
  $('roles').replaceChildren(
    ...(roles.length ? roles : ['no roles']).map((role) => {
      const chip = document.createElement('span');
      chip.className = roles.length ? 'chip' : 'chip chip-empty';
      chip.textContent = role;
      return chip;
    }),
  );
  renderExpiry();
}

function renderExpiry() {
  if (!sessionExpiresAt) return;
  setTime($('expires'), sessionExpiresAt, 'absolute');
  const note = $('expires-note');
  note.textContent = `(${relativeText(sessionExpiresAt)})`;
}

function sessionLabel(s) {
  return s.kind === 'token' && !s.user_agent ? 'API client' : describeUserAgent(s.user_agent).label;
}

function buildRow(s) {
  const row = rowTemplate.content.firstElementChild.cloneNode(true);
  const ua = describeUserAgent(s.user_agent);
  const label = sessionLabel(s);
  row.dataset.id = s.id;
  row.dataset.device = s.kind === 'token' ? 'api' : ua.mobile ? 'phone' : 'desktop';
  if (s.current) row.classList.add('session-current');

  const device = row.querySelector('.session-device');
  device.textContent = label; // textContent: the user agent is whatever the client sent
  device.title = s.user_agent || 'No user agent was sent';
  row.querySelector('.badge-current').hidden = !s.current;
  row.querySelector('.badge-token').hidden = s.kind !== 'token';
  row.querySelector('.session-ip').textContent = s.ip || 'unknown address';

  const seen = row.querySelector('.session-seen');
  if (s.current) {
    seen.textContent = 'Active now';
  } else {
    const time = document.createElement('time');
    setTime(time, s.last_seen_at, 'relative');
    seen.replaceChildren('Last active ', time);
  }
  setTime(row.querySelector('.session-created'), s.created_at, 'absolute');

  const button = row.querySelector('.session-end');
  button.setAttribute(
    'aria-label',
    s.current ? `Sign out of this device (${label})` : `Sign out ${label}, ${s.ip || 'unknown address'}`,
  );
  button.addEventListener('click', () => (s.current ? doSignOut() : endSession(s, label, button)));
  return row;
}

function renderSessions(sessions) {
  const sorted = [...sessions].sort(
    (a, b) => Number(b.current) - Number(a.current) || b.last_seen_at - a.last_seen_at,
  );
  const others = sorted.filter((s) => !s.current).length;
  $('sessions-summary').textContent =
    sorted.length === 1
      ? 'Only this device is signed in.'
      : `${sorted.length} active sessions: this device and ${others} other${others === 1 ? '' : 's'}.`;
  endOthers.disabled = others === 0;

  const key = JSON.stringify(sorted);
  if (key === renderedKey) {
    refreshRelativeTimes();
    return;
  }
  renderedKey = key;
  // Keep keyboard focus on the same session's button across a refresh.
  const focusedId = document.activeElement?.closest?.('.session')?.dataset.id;
  list.replaceChildren(...sorted.map(buildRow));
  if (focusedId) {
    list.querySelector(`.session[data-id="${CSS.escape(focusedId)}"] .session-end`)?.focus();
  }
}

// ---- loading and polling ------------------------------------------------------------------------

async function loadSessions({ passive }) {
  const sessions = await api('GET', '/v1/sessions', { passive });
  if (!Array.isArray(sessions)) throw new Error('unexpected answer from /v1/sessions');
  renderSessions(sessions);
  renderExpiry();
}

// A passive look every 30 s (and when the tab comes back into view, and right after the session
// would end if idle): the list stays current, and a session ended elsewhere is noticed.
function schedule() {
  window.clearTimeout(pollTimer);
  let delay = POLL_MS;
  if (sessionExpiresAt) {
    const untilExpiry = sessionExpiresAt * 1000 - Date.now() + 1000;
    delay = Math.max(1000, Math.min(delay, untilExpiry));
  }
  pollTimer = window.setTimeout(poll, delay);
}

async function poll() {
  if (leaving || me === null) return;
  try {
    await loadSessions({ passive: true });
    if (errorSlot.querySelector('.message-offline')) clearMessage(errorSlot);
  } catch (e) {
    if (e.status === 401) return leave(e);
    if (e.status === 0 || e.status === 503) {
      showMessage(errorSlot, 'error', "Can't reach the server right now. Retrying…");
      errorSlot.firstElementChild.classList.add('message-offline');
    }
  }
  schedule();
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') poll();
});
window.addEventListener('pageshow', (event) => {
  if (event.persisted) poll(); // back from the back/forward cache: look again
});

// ---- actions ------------------------------------------------------------------------------------

async function endSession(s, label, button) {
  button.disabled = true;
  button.textContent = 'Signing out…';
  try {
    await api('DELETE', `/v1/sessions/${encodeURIComponent(s.id)}`);
    announce(`Signed out ${label} (${s.ip || 'unknown address'}).`);
  } catch (e) {
    if (e.status !== 404) {
      // 404: already gone; the refresh below shows that.
      button.disabled = false;
      button.textContent = 'Sign out';
      return fail('sign out that session', e);
    }
  }
  // Focus would be lost with the row: put it on the list's heading.
  $('sessions-title').focus();
  try {
    await loadSessions({ passive: false });
  } catch (e) {
    fail('refresh the list', e);
  }
}

async function endAllOthers() {
  endOthers.disabled = true;
  const label = endOthers.textContent;
  endOthers.textContent = 'Signing out…';
  try {
    const answer = await api('DELETE', '/v1/sessions');
    const n = Number(answer?.revoked) || 0;
    announce(
      n === 0
        ? 'No other device was signed in.'
        : `Signed out of ${n} other device${n === 1 ? '' : 's'}.`,
    );
    await loadSessions({ passive: false });
  } catch (e) {
    fail('sign out the other devices', e);
  } finally {
    endOthers.textContent = label;
    endOthers.disabled = list.querySelectorAll('.session:not(.session-current)').length === 0;
  }
}

async function doSignOut() {
  signOut.disabled = true;
  signOut.textContent = 'Signing out…';
  try {
    await api('POST', '/v1/logout');
  } catch (e) {
    if (e.status !== 401) {
      signOut.disabled = false;
      signOut.textContent = 'Sign out';
      return fail('sign out', e);
    }
    // 401: the session had already ended; signing out is done either way.
  }
  leaving = true;
  window.clearTimeout(pollTimer);
  clearSignedIn();
  window.location.replace(signInUrl('signed-out'));
}

endOthers.addEventListener('click', endAllOthers);
signOut.addEventListener('click', doSignOut);

// ---- start --------------------------------------------------------------------------------------

async function start() {
  try {
    me = await api('GET', '/v1/me'); // opening the page is activity
  } catch (e) {
    $('loading').hidden = true;
    main.removeAttribute('aria-busy');
    return fail('load your account', e);
  }
  setCsrfToken(me.csrf_token);
  markSignedIn();
  renderMe(me);
  try {
    await loadSessions({ passive: true }); // the /v1/me above already counted
  } catch (e) {
    fail('load your sessions', e);
  }
  await initSecurity(fail, () => loadSessions({ passive: true }).catch((e) => fail('load your sessions', e)));
  $('loading').hidden = true;
  $('content').hidden = false;
  main.removeAttribute('aria-busy');
  signOut.disabled = false;
  schedule();
}

start();
