// The sign-in page (/): the form posts JSON to /v1/login, then goes to `next` (a local path only)
// or to the account page.
import {
  api,
  clearMessage,
  markSignedIn,
  nextFromQuery,
  NOTICES,
  safeNext,
  showMessage,
} from './api.js';

const form = document.getElementById('signin-form');
const username = document.getElementById('username');
const password = document.getElementById('password');
const submit = document.getElementById('submit');
const errorSlot = document.getElementById('error');
const noticeSlot = document.getElementById('notice');

const SUBMIT_LABEL = submit.textContent;
const params = new URLSearchParams(window.location.search);
const target = safeNext(nextFromQuery(window.location.search));
let busy = false;
let lockedUntil = 0;
let lockTimer = 0;

// Why we are here (session expired, ended elsewhere, signed out): a fixed text chosen by key.
const reason = params.get('reason') ?? '';
if (Object.hasOwn(NOTICES, reason)) {
  showMessage(noticeSlot, NOTICES[reason].kind, NOTICES[reason].text);
  // A reload should not repeat it; anything else in the query (`next`) stays as it was.
  const rest = window.location.search.replace(/([?&])reason=[^&#]*&?/, '$1').replace(/[?&]$/, '');
  window.history.replaceState(null, '', `/${rest}${window.location.hash}`);
}

function humanSeconds(seconds) {
  if (seconds <= 90) return `${seconds} s`;
  return `${Math.ceil(seconds / 60)} min`;
}

function showError(text, field) {
  clearMessage(noticeSlot);
  showMessage(errorSlot, 'error', text);
  for (const input of [username, password]) {
    if (input === field) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

function setBusy(on) {
  busy = on;
  form.setAttribute('aria-busy', String(on));
  submit.disabled = on || Date.now() < lockedUntil;
  submit.textContent = on ? 'Signing in…' : SUBMIT_LABEL;
}

// After a 429: the button stays disabled, counting down, until the server will listen again.
function lockFor(seconds) {
  lockedUntil = Date.now() + seconds * 1000;
  window.clearInterval(lockTimer);
  const tick = () => {
    const left = Math.ceil((lockedUntil - Date.now()) / 1000);
    if (left <= 0) {
      window.clearInterval(lockTimer);
      lockedUntil = 0;
      submit.disabled = busy;
      submit.textContent = SUBMIT_LABEL;
      return;
    }
    submit.disabled = true;
    submit.textContent = `Try again in ${humanSeconds(left)}`;
  };
  tick();
  lockTimer = window.setInterval(tick, 1000);
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (busy || Date.now() < lockedUntil) return;
  const name = username.value.trim();
  if (!name) {
    showError('Enter your username.', username);
    username.focus();
    return;
  }
  if (!password.value) {
    showError('Enter your password.', password);
    password.focus();
    return;
  }
  clearMessage(errorSlot);
  setBusy(true);
  try {
    await api('POST', '/v1/login', {
      body: { username: name, password: password.value, mode: 'session' },
    });
    markSignedIn();
    password.value = '';
    window.location.assign(target); // stays busy until the next page replaces this one
    return;
  } catch (e) {
    setBusy(false);
    if (e.status === 401) {
      showError('Wrong username or password.', password);
      password.value = '';
      password.focus();
    } else if (e.status === 429) {
      const wait = e.retryAfter ?? 60;
      showError(`Too many attempts. Try again in ${humanSeconds(wait)}.`);
      lockFor(wait);
      password.focus(); // the button is disabled: keep the keyboard where it was
    } else if (e.status === 503) {
      showError('The server is busy right now. Try again in a moment.');
      if (e.retryAfter) lockFor(e.retryAfter);
    } else if (e.status === 0) {
      showError("Can't reach the server. Check your connection and try again.");
    } else {
      showError(`Sign-in failed: ${e.description}`);
    }
  }
});

submit.disabled = false;

// Already signed in: straight on. A passive check, so merely opening this page is not activity.
api('GET', '/v1/me', { passive: true }).then(
  () => window.location.replace(target),
  () => {}, // not signed in (or the server is away): the form is the answer
);
