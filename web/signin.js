// The sign-in page (/): the form posts JSON to /v1/login, then goes to `next` (a local path only)
// or to the account page. For an account with two-step verification the server answers
// `mfa_required` with a ticket, and the page asks for the code (or a recovery code), which it
// posts with the ticket to /v1/login/mfa. `mfa=required` in the query (a proxy's step-up: the page
// behind `next` needs a sign-in with a second factor) means: sign in again, even when a session
// exists, and say why.
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

const codeForm = document.getElementById('code-form');
const code = document.getElementById('code');
const recovery = document.getElementById('recovery');
const codeField = document.getElementById('code-field');
const recoveryField = document.getElementById('recovery-field');
const codeLede = document.getElementById('code-lede');
const codeSubmit = document.getElementById('code-submit');
const codeError = document.getElementById('code-error');
const useRecovery = document.getElementById('use-recovery');
const startOver = document.getElementById('start-over');
const lede = document.querySelector('.signin-lede');

const SUBMIT_LABEL = submit.textContent;
const params = new URLSearchParams(window.location.search);
const target = safeNext(nextFromQuery(window.location.search));
const stepUp = params.get('mfa') === 'required';
let ticket = null; // the second step's ticket, while it is asked for
let withRecovery = false;
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

if (stepUp) {
  showMessage(
    noticeSlot,
    'info',
    'The page you asked for needs two-step verification. Sign in with your password and code.',
  );
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
    password.value = '';
    signedIn(false);
    return;
  } catch (e) {
    setBusy(false);
    if (e.status === 401 && e.code === 'mfa_required' && typeof e.data?.mfa_ticket === 'string') {
      password.value = '';
      askForCode(e.data.mfa_ticket);
    } else if (e.status === 401) {
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

// Signed in: on to `target`, unless the page there wants a second factor this sign-in did not
// pass (the account has none): then the way to one is the account page, not a loop.
function signedIn(withSecondFactor) {
  markSignedIn();
  if (stepUp && !withSecondFactor) {
    clearMessage(noticeSlot);
    form.hidden = true;
    codeForm.hidden = true;
    showMessage(
      noticeSlot,
      'info',
      'You are signed in, but the page you asked for needs two-step verification, which your ' +
        'account does not have yet. Set it up on your account page, then sign in again.',
    );
    const link = document.createElement('a');
    link.href = '/account';
    link.className = 'button button-primary button-block';
    link.textContent = 'Go to your account';
    noticeSlot.after(link);
    link.focus();
    return;
  }
  window.location.assign(target); // stays busy until the next page replaces this one
}

// ---- the second step ------------------------------------------------------------------------------

function showCodeError(text) {
  showMessage(codeError, 'error', text);
  (withRecovery ? recovery : code).setAttribute('aria-invalid', 'true');
}

function chooseRecovery(on) {
  withRecovery = on;
  codeField.hidden = on;
  recoveryField.hidden = !on;
  code.required = !on;
  recovery.required = on;
  codeLede.textContent = on
    ? 'Enter one of the recovery codes you saved when you set up two-step verification. Each works once.'
    : 'Enter the 6-digit code from your authenticator app.';
  useRecovery.textContent = on ? 'Use the authenticator app instead' : 'Use a recovery code instead';
  clearMessage(codeError);
  (on ? recovery : code).focus();
}

function askForCode(newTicket) {
  ticket = newTicket;
  form.hidden = true;
  codeForm.hidden = false;
  clearMessage(noticeSlot);
  document.getElementById('signin-title').textContent = 'Two-step verification';
  lede.hidden = true;
  chooseRecovery(false);
}

function backToPassword(message) {
  ticket = null;
  code.value = '';
  recovery.value = '';
  codeForm.hidden = true;
  form.hidden = false;
  document.getElementById('signin-title').textContent = 'Sign in';
  lede.hidden = false;
  if (message) showError(message);
  password.focus();
}

useRecovery.addEventListener('click', () => chooseRecovery(!withRecovery));
startOver.addEventListener('click', () => backToPassword(''));

let codeBusy = false;
codeForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (codeBusy || !ticket) return;
  const value = (withRecovery ? recovery : code).value.trim();
  if (!withRecovery && !/^[0-9]{6}$/.test(value)) {
    showCodeError('Enter the 6 digits your app shows.');
    code.focus();
    return;
  }
  if (withRecovery && value.replace(/[\s-]/g, '').length !== 16) {
    showCodeError('A recovery code has 16 letters and digits.');
    recovery.focus();
    return;
  }
  clearMessage(codeError);
  codeBusy = true;
  codeSubmit.disabled = true;
  codeSubmit.textContent = 'Verifying…';
  codeForm.setAttribute('aria-busy', 'true');
  try {
    const body = withRecovery ? { mfa_ticket: ticket, recovery_code: value } : { mfa_ticket: ticket, code: value };
    await api('POST', '/v1/login/mfa', { body });
    code.value = '';
    recovery.value = '';
    signedIn(true);
    return;
  } catch (e) {
    codeBusy = false;
    codeSubmit.disabled = false;
    codeSubmit.textContent = 'Verify';
    codeForm.setAttribute('aria-busy', 'false');
    if (e.status === 401 && e.code === 'invalid_ticket') {
      backToPassword('That took too long, or the sign-in was replaced by another. Sign in again.');
    } else if (e.status === 401) {
      showCodeError(withRecovery ? 'That recovery code is wrong or was used already.' : 'Wrong code. Check your app and try again.');
      (withRecovery ? recovery : code).select();
    } else if (e.status === 429) {
      const wait = e.retryAfter ?? 60;
      showCodeError(`Too many attempts. Try again in ${humanSeconds(wait)}.`);
    } else if (e.status === 503) {
      showCodeError('The server is busy right now. Try again in a moment.');
    } else if (e.status === 0) {
      showCodeError("Can't reach the server. Check your connection and try again.");
    } else {
      showCodeError(`Verification failed: ${e.description}`);
    }
  }
});

submit.disabled = false;

// Already signed in: straight on. A passive check, so merely opening this page is not activity.
// Not for a step-up: the session there is the one that lacks the second factor.
if (!stepUp) {
  api('GET', '/v1/me', { passive: true }).then(
    () => window.location.replace(target),
    () => {}, // not signed in (or the server is away): the form is the answer
  );
}
