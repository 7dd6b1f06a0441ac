// The account page's security cards: two-step verification (set up with a QR code and a first
// code, recovery codes shown once, turned off with the password) and changing the password.
// Secrets and codes live only in the page while it shows them: never in storage, never in a URL.
import { api, clearMessage, showMessage } from './api.js';

const $ = (id) => document.getElementById(id);

let onFailure = () => {};
let onSessionsChanged = () => {};

// ---- two-step verification ----------------------------------------------------------------------

const state = $('mfa-state');
const message = $('mfa-message');
const start = $('mfa-start');
const setup = $('mfa-setup');
const qr = $('mfa-qr');
const secret = $('mfa-secret');
const setupCode = $('mfa-code');
const setupError = $('mfa-setup-error');
const confirm = $('mfa-confirm');
const cancel = $('mfa-cancel');
const codesBox = $('mfa-codes');
const codeList = $('mfa-code-list');
const copy = $('mfa-copy');
const done = $('mfa-done');
const remove = $('mfa-remove');
const removePassword = $('mfa-password');
const removeError = $('mfa-remove-error');
const removeSubmit = $('mfa-remove-submit');

let shownCodes = [];

function showState(status) {
  const on = status.enabled;
  state.textContent = on
    ? `On. Signing in asks for a code from your authenticator app. Recovery codes left: ${status.recovery_codes_left}.`
    : 'Off. Add a second step to signing in: a code from an authenticator app on your phone.';
  start.hidden = on;
  remove.hidden = !on;
  setup.hidden = true;
  codesBox.hidden = true;
}

async function refresh() {
  try {
    showState(await api('GET', '/v1/me/totp', { passive: true }));
  } catch (e) {
    onFailure('load your two-step verification', e);
  }
}

start.addEventListener('click', async () => {
  clearMessage(message);
  start.disabled = true;
  try {
    const enrolment = await api('POST', '/v1/me/totp', { body: {} });
    // The SVG as an image (CSP allows data: images, and no markup enters the page).
    qr.src = `data:image/svg+xml;base64,${btoa(enrolment.qr_svg)}`;
    secret.textContent = enrolment.secret.replace(/(.{4})/g, '$1 ').trim();
    setupCode.value = '';
    clearMessage(setupError);
    start.hidden = true;
    setup.hidden = false;
    setupCode.focus();
  } catch (e) {
    onFailure('start setting up two-step verification', e);
  } finally {
    start.disabled = false;
  }
});

cancel.addEventListener('click', () => {
  setup.hidden = true;
  qr.removeAttribute('src');
  secret.textContent = '';
  start.hidden = false;
  start.focus();
});

setup.addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = setupCode.value.trim();
  if (!/^[0-9]{6}$/.test(value)) {
    showMessage(setupError, 'error', 'Enter the 6 digits your app shows.');
    setupCode.setAttribute('aria-invalid', 'true');
    setupCode.focus();
    return;
  }
  confirm.disabled = true;
  try {
    const answer = await api('POST', '/v1/me/totp/confirm', { body: { code: value } });
    setupCode.removeAttribute('aria-invalid');
    setup.hidden = true;
    qr.removeAttribute('src');
    secret.textContent = '';
    shownCodes = answer.recovery_codes;
    codeList.replaceChildren(
      ...shownCodes.map((c) => {
        const li = document.createElement('li');
        li.textContent = c;
        return li;
      }),
    );
    codesBox.hidden = false;
    state.textContent = 'On. Signing in asks for a code from your authenticator app.';
    showMessage(message, 'success', 'Two-step verification is on. Your other devices were signed out.');
    copy.focus();
    onSessionsChanged();
  } catch (e) {
    if (e.status === 400 && e.code === 'invalid_code') {
      showMessage(setupError, 'error', "That code didn't match. Check the time on your phone and try the next one.");
      setupCode.setAttribute('aria-invalid', 'true');
      setupCode.select();
    } else {
      onFailure('turn on two-step verification', e);
    }
  } finally {
    confirm.disabled = false;
  }
});

copy.addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(`${shownCodes.join('\n')}\n`);
    copy.textContent = 'Copied';
  } catch {
    copy.textContent = 'Select and copy them by hand';
  }
});

done.addEventListener('click', () => {
  shownCodes = [];
  codeList.replaceChildren();
  copy.textContent = 'Copy codes';
  refresh();
});

remove.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!removePassword.value) {
    showMessage(removeError, 'error', 'Enter your password.');
    removePassword.focus();
    return;
  }
  removeSubmit.disabled = true;
  try {
    await api('DELETE', '/v1/me/totp', { body: { password: removePassword.value } });
    removePassword.value = '';
    clearMessage(removeError);
    showMessage(message, 'success', 'Two-step verification is off. Your other devices were signed out.');
    await refresh();
    onSessionsChanged();
    start.focus();
  } catch (e) {
    removePassword.value = '';
    if (e.status === 401 && e.code === 'invalid_credentials') {
      showMessage(removeError, 'error', 'Wrong password.');
      removePassword.focus();
    } else if (e.status === 429) {
      showMessage(removeError, 'error', `Too many attempts. Try again in ${e.retryAfter ?? 60} s.`);
    } else {
      onFailure('turn off two-step verification', e);
    }
  } finally {
    removeSubmit.disabled = false;
  }
});

// ---- changing the password ----------------------------------------------------------------------

const passwordForm = $('password-form');
const current = $('current-password');
const fresh = $('new-password');
const passwordError = $('password-error');
const passwordSubmit = $('password-submit');

passwordForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearMessage(passwordError);
  for (const input of [current, fresh]) input.removeAttribute('aria-invalid');
  if (!current.value || !fresh.value) {
    showMessage(passwordError, 'error', 'Enter your current password and a new one.');
    (current.value ? fresh : current).focus();
    return;
  }
  passwordSubmit.disabled = true;
  try {
    await api('POST', '/v1/me/password', {
      body: { current_password: current.value, new_password: fresh.value },
    });
    current.value = '';
    fresh.value = '';
    showMessage(passwordError, 'success', 'Password changed. Your other devices were signed out.');
    onSessionsChanged();
  } catch (e) {
    if (e.status === 401 && e.code === 'invalid_credentials') {
      current.value = '';
      current.setAttribute('aria-invalid', 'true');
      showMessage(passwordError, 'error', 'Your current password is wrong.');
      current.focus();
    } else if (e.status === 400) {
      // The server says which rule the new password breaks (too short, too common, ...).
      fresh.setAttribute('aria-invalid', 'true');
      showMessage(passwordError, 'error', `Choose another password: ${e.description}.`);
      fresh.focus();
    } else if (e.status === 429) {
      showMessage(passwordError, 'error', `Too many attempts. Try again in ${e.retryAfter ?? 60} s.`);
    } else {
      onFailure('change your password', e);
    }
  } finally {
    passwordSubmit.disabled = false;
  }
});

// `fail(action, error)`: the page's handler of errors it cannot show here (a dead session, the
// server away); `sessionsChanged()`: reloads the session list after other sessions ended.
export function initSecurity(fail, sessionsChanged) {
  onFailure = fail;
  onSessionsChanged = sessionsChanged;
  return refresh();
}
