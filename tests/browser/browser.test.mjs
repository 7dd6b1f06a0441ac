// The web pages in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by the npm
// package playwright-core, against the real `tessera serve`. Sign-in, the account page and its
// session list, ending sessions from another device, signing out, CSRF from a second loopback
// origin, error and throttling messages, the cookie as the browser stores it, and screenshots of
// both pages (build/screenshots/ in the repo root) at desktop and phone width, light and dark.
//
// Run by ctest (test browser) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/browser/browser.test.mjs
// It fails, never skips, when Chromium or node_modules is missing: run scripts/install-deps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { BIN, startServer, tessera } from '../integration/tessera.mjs';
import { base32Decode, totp } from '../integration/totp.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.TESSERA_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS =
  process.env.TESSERA_SCREENSHOTS || path.join(HERE, '..', '..', 'build', 'screenshots');
const PASSWORD = 'correct horse battery';
const COOKIE = '__Host-tessera_session';

// Fixed user agents, so the session list shows (and the test can name) each device.
const UA = {
  linuxChrome:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 ' +
    'Safari/537.36',
  iphoneSafari:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like ' +
    'Gecko) Version/18.5 Mobile/15E148 Safari/604.1',
  windowsFirefox: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0',
};
// Reduced motion: no transition is caught half-way in a screenshot.
const DESKTOP = { viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' };
const PHONE = {
  viewport: { width: 390, height: 844 },
  reducedMotion: 'reduce',
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
  "require-trusted-types-for 'script'; trusted-types 'none'";

let chromium, browser, dir, server, base, attacker, attackerBase;
const contexts = [];

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
  assert.ok(fs.existsSync(CHROMIUM),
            `${CHROMIUM} is missing: run scripts/install-deps (Debian packages chromium ` +
            'chromium-driver)');
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    assert.fail(`playwright-core is missing (${e.message}): run scripts/install-deps ` +
                '(npm ci in tests/browser)');
  }
  fs.mkdirSync(SCREENSHOTS, { recursive: true });

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-browser-'));
  const data = path.join(dir, 'data');
  // One account per test, so each test's session list holds only its own devices.
  const users = [['alice', ['admin', 'ops']], ['bob', []], ['carol', []], ['dave', ['admin', 'ops']],
                 ['erin', []], ['frank', []], ['grace', []], ['heidi', ['admin']], ['ivan', []],
                 ['judy', []]];
  for (const [name, roles] of users) {
    const args = ['user', 'add', name, '--password-stdin', '--data', data];
    for (const r of roles) args.push('--role', r);
    const r = tessera(args, PASSWORD + '\n');
    assert.equal(r.code, 0, r.err);
  }
  // Two failures a minute per account, so the throttling message shows after two wrong
  // passwords; a generous per-address budget, since every test signs in from 127.0.0.1.
  server = await startServer(data, {
    TESSERA_THROTTLE_LOGIN_PER_USER: '2/min',
    TESSERA_THROTTLE_LOGIN_PER_IP: '1000/min',
  });
  base = server.url.replace(/\/$/, '');

  // The attacker: another origin on the same loopback address (another port). 127.0.0.1 on two
  // ports is the same *site*, so SameSite=Lax still sends the cookie: only tessera's Origin and
  // X-CSRF-Token checks stand in the way.
  attacker = http.createServer((req, res) => {
    const pages = {
      '/form': `<!doctype html><title>win a prize</title>
        <form id="f" method="post" action="${base}/v1/logout">
          <input type="hidden" name="x" value="1">
        </form>
        <script>document.getElementById('f').submit();</script>`,
      '/fetch': `<!doctype html><title>loading</title>
        <script>
          const opts = { credentials: 'include', mode: 'no-cors' };
          Promise.allSettled([
            fetch('${base}/v1/logout', { method: 'POST', ...opts }),
            fetch('${base}/v1/logout', { method: 'POST', credentials: 'include',
                                          headers: { 'X-CSRF-Token': 'guess' } }),
            fetch('${base}/v1/sessions', { method: 'DELETE', credentials: 'include' }),
            fetch('${base}/v1/me', { credentials: 'include' }).then((r) => r.json()),
          ]).then((results) => {
            window.results = results.map((r) => r.status);
            document.title = 'done';
          });
        </script>`,
    };
    const page = pages[req.url];
    res.writeHead(page ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page ?? 'not found');
  });
  await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerBase = `http://127.0.0.1:${attacker.address().port}`;

  // playwright-core gives every launch a fresh temporary profile (user-data dir).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close();
  if (attacker) attacker.close();
  if (server) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  // Under ASan/UBSan (make test), whatever the pages made the server do must be clean.
  if (server) assert.doesNotMatch(server.output(), /Sanitizer|runtime error:/);
});

// A new browser context (its own cookie jar: another device), whose pages on tessera's origin
// record script errors and CSP violations; `problems()` lists them.
async function device(options = {}) {
  const context = await browser.newContext({ ...DESKTOP, ...options });
  contexts.push(context);
  context.setDefaultTimeout(20000);
  const problems = [];
  context.on('page', (page) => {
    const ours = () => page.url().startsWith(`${base}/`);
    page.on('pageerror', (e) => { if (ours()) problems.push(`page error: ${e.message}`); });
    page.on('console', (m) => {
      // A fetch answered 401/403/429 is logged as "Failed to load resource": expected here.
      if (ours() && m.type() === 'error' && !/Failed to load resource/.test(m.text())) {
        problems.push(`console: ${m.text()}`);
      }
    });
  });
  const page = await context.newPage();
  return { context, page, problems: () => problems };
}

async function signIn(page, username = 'alice', password = PASSWORD) {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/account`);
  await accountLoaded(page, username);
}

async function accountLoaded(page, username = 'alice') {
  await page.getByRole('heading', { name: `Signed in as ${username}` }).waitFor();
  await page.locator('#sessions .session').first().waitFor();
}

function sessionRows(page) {
  return page.locator('#sessions .session');
}

// A screenshot under SCREENSHOTS; `toContent`: cut below the page's content (the account page,
// whose background otherwise runs on to the bottom of the window).
async function shot(page, name, { toContent = false } = {}) {
  const file = path.join(SCREENSHOTS, name);
  if (!toContent) return page.screenshot({ path: file, fullPage: true });
  const size = await page.evaluate(() => ({
    width: document.documentElement.clientWidth,
    height: Math.ceil(document.querySelector('main').getBoundingClientRect().bottom),
  }));
  return page.screenshot({ path: file, fullPage: true, clip: { x: 0, y: 0, ...size } });
}

async function sessionCookie(context) {
  return (await context.cookies(base)).find((c) => c.name === COOKIE);
}

test('pages and assets carry their types and a strict CSP; nothing else is served', async () => {
  const expect = {
    '/': 'text/html; charset=utf-8',
    '/account': 'text/html; charset=utf-8',
    '/assets/app.css': 'text/css; charset=utf-8',
    '/assets/api.js': 'text/javascript; charset=utf-8',
    '/assets/signin.js': 'text/javascript; charset=utf-8',
    '/assets/account.js': 'text/javascript; charset=utf-8',
    '/assets/ua.js': 'text/javascript; charset=utf-8',
    '/assets/security.js': 'text/javascript; charset=utf-8',
    '/assets/logo.svg': 'image/svg+xml',
  };
  for (const [p, type] of Object.entries(expect)) {
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(base + p, { method });
      assert.equal(res.status, 200, `${method} ${p}`);
      assert.equal(res.headers.get('content-type'), type, p);
      assert.equal(res.headers.get('content-security-policy'), CSP, p);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', p);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', p);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', p);
      assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin', p);
      assert.equal(res.headers.get('cache-control'), 'no-store', p);
      const body = await res.text();
      if (method === 'HEAD') assert.equal(body, '');
      else assert.ok(body.length > 0);
    }
  }
  const html = await (await fetch(`${base}/`)).text();
  assert.doesNotMatch(html, /<script>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
  for (const p of ['/index.html', '/account.html', '/account/', '/assets/', '/assets/index.html',
                   '/assets/../account.html', '/assets/%2e%2e/index.html', '/assets/nope.js',
                   '/assets/app.css/x', '/favicon.ico']) {
    const res = await fetch(base + p);
    assert.equal(res.status, 404, p);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8', p);
  }
  const post = await fetch(`${base}/`, { method: 'POST' });
  assert.equal(post.status, 404);
});

test('sign in with the keyboard; the page never sees the cookie, which is HttpOnly, Secure, Lax',
     async () => {
  const { context, page, problems } = await device({ userAgent: UA.linuxChrome });
  await page.goto(`${base}/`);
  await page.locator('#submit:enabled').waitFor();
  await shot(page, 'signin-desktop.png');

  // Keyboard only: the username field has focus on load; Tab, type, Enter.
  await page.waitForFunction(() => document.activeElement?.id === 'username');
  await page.keyboard.type('dave');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/account`);
  await accountLoaded(page, 'dave');

  const rows = sessionRows(page);
  assert.equal(await rows.count(), 1);
  await assert.doesNotReject(rows.first().getByText('This device').waitFor());
  assert.match(await rows.first().innerText(), /Chrome on Linux/);
  assert.match(await rows.first().innerText(), /127\.0\.0\.1/);
  assert.doesNotMatch(await rows.first().innerText(), /API token/);
  assert.match(await page.locator('#roles').textContent(), /admin.*ops/);

  // The cookie as the browser keeps it.
  const cookie = await sessionCookie(context);
  assert.ok(cookie, 'the session cookie is stored over http://127.0.0.1');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.equal(cookie.path, '/');
  assert.equal(cookie.domain, '127.0.0.1', 'host-only (no Domain attribute)');
  assert.ok(cookie.name.startsWith('__Host-'));

  // What the page's script can see: not the cookie, and nothing secret in storage.
  const seen = await page.evaluate(async () => ({
    cookie: document.cookie,
    storage: JSON.stringify({ ...localStorage, ...sessionStorage }),
    csrf: (await (await fetch('/v1/me')).json()).csrf_token,
  }));
  assert.doesNotMatch(seen.cookie, /tessera_session/);
  assert.ok(!seen.storage.includes(cookie.value), 'the cookie value is not in storage');
  assert.ok(seen.csrf && !seen.storage.includes(seen.csrf), 'the CSRF token is not in storage');

  // Signed in, the sign-in page goes straight on.
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/account`);
  await accountLoaded(page, 'dave');
  assert.deepEqual(problems(), []);
  await context.close();
});

test('a second device signs in; the first ends it; its next navigation lands on sign-in',
     async () => {
  const a = await device({ userAgent: UA.linuxChrome });
  const b = await device({ ...PHONE, userAgent: UA.iphoneSafari });
  await signIn(a.page);
  await signIn(b.page);
  assert.equal(await sessionRows(b.page).count(), 2);
  await shot(b.page, 'account-phone.png');

  await a.page.reload();
  await accountLoaded(a.page);
  const rows = sessionRows(a.page);
  assert.equal(await rows.count(), 2);
  assert.match(await a.page.locator('#sessions-summary').textContent(), /2 active sessions/);
  // The current device first, marked; the phone described from its user agent.
  assert.match(await rows.nth(0).innerText(), /Chrome on Linux[\s\S]*This device/);
  assert.match(await rows.nth(1).innerText(), /Safari on iPhone/);
  assert.doesNotMatch(await rows.nth(1).innerText(), /This device/);
  assert.equal(await rows.nth(1).locator('.session-device').getAttribute('title'), UA.iphoneSafari);
  assert.match(await rows.nth(1).locator('time').first().getAttribute('datetime'),
               /^\d{4}-\d\d-\d\dT/);
  await shot(a.page, 'account-desktop.png', { toContent: true }); // also docs/screenshots/

  const end = a.page.getByRole('button', { name: /^Sign out Safari on iPhone/ });
  await end.click();
  await a.page.getByRole('status').getByText('Signed out Safari on iPhone').waitFor();
  await a.page.waitForFunction(() => document.querySelectorAll('#sessions .session').length === 1);
  assert.equal(await a.page.locator('#end-others').isDisabled(), true);

  // The phone's next navigation: back to sign-in, told why.
  await b.page.goto(`${base}/account`);
  await b.page.waitForURL(`${base}/`);
  const notice = b.page.getByRole('status');
  await notice.getByText('this session was ended from another device').waitFor();
  await b.page.locator('#submit:enabled').waitFor();
  await shot(b.page, 'signin-phone.png');

  // The first device is untouched.
  await a.page.reload();
  await accountLoaded(a.page);
  assert.deepEqual(a.problems(), []);
  assert.deepEqual(b.problems(), []);
  await a.context.close();
  await b.context.close();
});

test('"sign out of all other devices" ends them (an open page notices); sign out ends this one',
     async () => {
  const a = await device({ userAgent: UA.linuxChrome });
  const b = await device({ ...PHONE, userAgent: UA.iphoneSafari });
  const c = await device({ userAgent: UA.windowsFirefox });
  await signIn(a.page, 'carol');
  await signIn(b.page, 'carol');
  await signIn(c.page, 'carol');
  await a.page.reload();
  await accountLoaded(a.page, 'carol');
  assert.equal(await sessionRows(a.page).count(), 3);

  await a.page.getByRole('button', { name: 'Sign out of all other devices' }).click();
  await a.page.getByRole('status').getByText('Signed out of 2 other devices.').waitFor();
  await a.page.waitForFunction(() => document.querySelectorAll('#sessions .session').length === 1);
  assert.equal(await a.page.locator('#end-others').isDisabled(), true);

  // The phone's page stays open: the next look (here: the tab becoming visible) notices.
  await b.page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await b.page.waitForURL(`${base}/`);
  await b.page.getByRole('status').getByText('this session was ended from another device')
    .waitFor();
  // The other one navigates.
  await c.page.goto(`${base}/account`);
  await c.page.waitForURL(`${base}/`);
  await c.page.getByRole('status').getByText('this session was ended from another device')
    .waitFor();

  // Sign out: back to sign-in, the cookie gone from the jar, the account page closed.
  await a.page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await a.page.waitForURL(`${base}/`);
  await a.page.getByRole('status').getByText('You have signed out.').waitFor();
  assert.equal(await sessionCookie(a.context), undefined);
  await a.page.goto(`${base}/account`);
  await a.page.waitForURL(`${base}/`);
  await a.page.locator('#submit:enabled').waitFor();
  assert.equal(await a.page.locator('#notice').textContent(), '', 'never signed in: no message');
  for (const d of [a, b, c]) {
    assert.deepEqual(d.problems(), []);
    await d.context.close();
  }
});

test('CSRF: a form post and fetches from another loopback origin do not end the session',
     async () => {
  const a = await device();
  await signIn(a.page, 'erin');
  const evil = await a.context.newPage();

  // Auto-submitted cross-origin form: the browser sends the cookie (same site), tessera refuses.
  const answer = evil.waitForResponse(`${base}/v1/logout`);
  await evil.goto(`${attackerBase}/form`);
  const res = await answer;
  assert.equal(res.status(), 403, 'the cookie reached tessera and the CSRF check refused it');
  assert.equal((await res.json()).error, 'csrf_failed');
  assert.equal(res.headers()['set-cookie'], undefined, 'the cookie is not cleared');

  // The same form from another *site* (localhost is not 127.0.0.1): SameSite=Lax keeps the
  // cookie back, and the Origin check still refuses, so the answer cannot clear the cookie.
  const crossSite = attackerBase.replace('127.0.0.1', 'localhost');
  const answer2 = evil.waitForResponse(`${base}/v1/logout`);
  await evil.goto(`${crossSite}/form`);
  const res2 = await answer2;
  assert.equal(res2.status(), 403);
  assert.equal(res2.headers()['set-cookie'], undefined, 'no forced sign-out');
  assert.ok(await sessionCookie(a.context), 'the browser kept its cookie');

  // fetch with credentials: 'include' (a simple no-cors POST, one with a guessed token, a DELETE).
  await evil.goto(`${attackerBase}/fetch`);
  await evil.waitForFunction(() => document.title === 'done');
  // The DELETE and the custom header need a CORS preflight, which tessera never grants; reading
  // /v1/me cross-origin is refused too.
  assert.deepEqual(await evil.evaluate(() => window.results),
                   ['fulfilled', 'rejected', 'rejected', 'rejected']);
  await evil.close();

  // Still signed in, on the same session.
  assert.ok(await sessionCookie(a.context));
  await a.page.reload();
  await accountLoaded(a.page, 'erin');
  const me = await a.page.evaluate(async () => (await fetch('/v1/me')).status);
  assert.equal(me, 200);
  assert.deepEqual(a.problems(), []);
  await a.context.close();
});

test('wrong password and throttling show clear messages', async () => {
  const { context, page, problems } = await device();
  await page.goto(`${base}/`);
  const error = page.getByRole('alert');
  const password = page.getByLabel('Password');
  const submit = page.locator('#submit');
  await page.getByLabel('Username').fill('bob');
  for (let i = 0; i < 2; i++) {
    await password.fill('not the password');
    await submit.click();
    await error.getByText('Wrong username or password.').waitFor();
    await page.waitForFunction(() => !document.getElementById('submit').disabled);
    assert.equal(await password.inputValue(), '', 'the wrong password is cleared');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
    assert.equal(await password.getAttribute('aria-invalid'), 'true');
    await page.evaluate(() => document.getElementById('error').replaceChildren());
  }
  // Past the limit: even the right password gets the throttling answer, and the button waits.
  await password.fill(PASSWORD);
  await submit.click();
  await error.getByText(/^Too many attempts\. Try again in \d+ s\.$/).waitFor();
  assert.equal(await submit.isDisabled(), true);
  assert.match(await submit.textContent(), /^Try again in \d+ s$/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
  assert.equal(page.url(), `${base}/`);
  await shot(page, 'signin-throttled.png');

  // A blank username (empty fields are the browser's own `required` check): a message, no request.
  await page.goto(`${base}/`);
  await page.locator('#submit:enabled').waitFor();
  await page.getByLabel('Username').fill('   ');
  await password.fill('anything at all');
  await submit.click();
  await error.getByText('Enter your username.').waitFor();
  assert.deepEqual(problems(), []);
  await context.close();
});

test('after sign-in, `next` is followed only when it is a path on this site', async () => {
  const { context, page, problems } = await device();
  await page.goto(`${base}/?next=${encodeURIComponent('/account?tab=sessions#list')}`);
  await page.getByLabel('Username').fill('frank');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/account?tab=sessions#list`);
  await accountLoaded(page, 'frank');

  const verdicts = await page.evaluate(async () => {
    const { safeNext } = await import('/assets/api.js');
    const cases = ['/account', '/app/x?y=1#z', '/%2F%2Fevil.example', '//evil.example',
                   '/\\evil.example', '\\\\evil.example', '/\t/evil.example', '/\n/evil.example',
                   'https://evil.example/', 'javascript:alert(1)', 'evil.example', '', '/',
                   '/?next=//evil', ' /account', null];
    return Object.fromEntries(cases.map((c) => [String(c), safeNext(c)]));
  });
  assert.deepEqual(verdicts, {
    '/account': '/account',
    '/app/x?y=1#z': '/app/x?y=1#z',
    '/%2F%2Fevil.example': '/%2F%2Fevil.example',
    '//evil.example': '/account',
    '/\\evil.example': '/account',
    '\\\\evil.example': '/account',
    '/\t/evil.example': '/account',
    '/\n/evil.example': '/account',
    'https://evil.example/': '/account',
    'javascript:alert(1)': '/account',
    'evil.example': '/account',
    '': '/account',
    '/': '/account',
    '/?next=//evil': '/account',
    ' /account': '/account',
    null: '/account',
  });
  // nginx's `return 302 /?next=$request_uri` does not encode: the value runs to the end.
  const queries = await page.evaluate(async () => {
    const { nextFromQuery } = await import('/assets/api.js');
    return ['?next=/app/reports?year=2024&q=a+b', '?next=%2Faccount%3Ftab%3D1%23x',
            '?reason=ended&next=/x', '?next=%2F%2Fevil.example', '?next=%2F%E0%A4%A', '', '?a=1']
      .map(nextFromQuery);
  });
  assert.deepEqual(queries, ['/app/reports?year=2024&q=a+b', '/account?tab=1#x', '/x',
                             '//evil.example', null, null, null]);
  // Signed in already, the sign-in page follows the same rule at once.
  for (const [query, lands] of [[`next=${encodeURIComponent('//evil.example/')}`, '/account'],
                                ['next=https://evil.example/', '/account'],
                                ['next=/\\evil.example', '/account'],
                                ['next=//evil.example', '/account'],
                                ['next=/healthz?a=1&b=2', '/healthz?a=1&b=2']]) {
    await page.goto(`${base}/?${query}`);
    await page.waitForURL(`${base}${lands}`);
  }

  const labels = await page.evaluate(async (ua) => {
    const { describeUserAgent } = await import('/assets/ua.js');
    return [...Object.values(ua), '', 'curl/8.5.0', 'python-requests/2.31',
            'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) ' +
            'Chrome/126.0 Mobile Safari/537.36',
            'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like ' +
            'Gecko) Version/17.5 Safari/605.1.15',
            'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) ' +
            'Chrome/126.0 Safari/537.36 Edg/126.0',
            '<img src=x onerror=alert(1)>']
      .map((s) => { const d = describeUserAgent(s); return `${d.label}${d.mobile ? ' (mobile)' : ''}`; });
  }, UA);
  assert.deepEqual(labels, ['Chrome on Linux', 'Safari on iPhone (mobile)', 'Firefox on Windows',
                            'Unknown device', 'curl', 'Python', 'Chrome on Android (mobile)',
                            'Safari on macOS', 'Edge on Windows', '<img']);
  assert.deepEqual(problems(), []);
  await context.close();
});

test('a hostile user agent shows as text, never as markup', async () => {
  const hostile = '<img src=x onerror="window.pwned=1">Evil/1.0 <b>bold</b>';
  const a = await device();
  const h = await device({ userAgent: hostile });
  await signIn(a.page, 'grace');
  await signIn(h.page, 'grace');
  await a.page.reload();
  await accountLoaded(a.page, 'grace');
  const row = sessionRows(a.page).nth(1);
  assert.equal(await row.locator('.session-device').getAttribute('title'), hostile);
  assert.equal(await row.locator('img, b').count(), 0);
  assert.equal(await a.page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(a.problems(), []);
  await a.context.close();
  await h.context.close();
});

test('an idle session that expires sends the open page to sign-in, saying so', async () => {
  // A server of its own with a 3 s idle timeout. The page's background checks are passive, so
  // they do not keep the session alive; the one due right after the expiry time notices.
  const data = path.join(dir, 'idle-data');
  const r = tessera(['user', 'add', 'ivan', '--password-stdin', '--data', data], PASSWORD + '\n');
  assert.equal(r.code, 0, r.err);
  const idle = await startServer(data, { TESSERA_SESSION_IDLE_TIMEOUT: '3s' });
  try {
    const idleBase = idle.url.replace(/\/$/, '');
    const { context, page } = await device();
    await page.goto(`${idleBase}/`);
    await page.getByLabel('Username').fill('ivan');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${idleBase}/account`);
    // Not waiting for the page to finish loading: on a slow machine the session may already
    // have ended by then, which must end the same way.
    await page.waitForURL(`${idleBase}/`, { timeout: 15000 });
    await page.getByRole('status').getByText('Your session expired. Sign in again to continue.')
      .waitFor();
    await context.close();
  } finally {
    idle.child.kill('SIGTERM');
    await idle.exited;
  }
  assert.doesNotMatch(idle.output(), /Sanitizer|runtime error:/);
});

test('two-step verification: set up with the QR code on a phone, recovery codes once, sign in with a code or a recovery code, turn off',
     async () => {
  const phone = await device({ ...PHONE, userAgent: UA.iphoneSafari });
  await phone.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const { page } = phone;
  await signIn(page, 'ivan');
  const state = page.locator('#mfa-state');
  await state.filter({ hasText: 'Off.' }).waitFor();
  await page.getByRole('button', { name: 'Set up two-step verification' }).click();
  const qr = page.getByRole('img', { name: 'QR code of the key for your authenticator app' });
  await qr.waitFor();
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code renders');
  const key = (await page.locator('#mfa-secret').textContent()).replace(/\s+/g, '');
  assert.match(key, /^[A-Z2-7]{32}$/);
  const secret = base32Decode(key);
  await shot(page, 'totp-setup-phone.png', { toContent: true });
  await page.getByLabel('Code from the app').fill('000000' === totp(secret) ? '111111' : '000000');
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#mfa-setup-error').filter({ hasText: "didn't match" }).waitFor();
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
  await codes.first().waitFor();
  const recovery = await codes.allTextContents();
  assert.equal(recovery.length, 10);
  for (const c of recovery) assert.match(c, /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
  await state.filter({ hasText: 'On.' }).waitFor();
  await shot(page, 'totp-recovery-codes-phone.png', { toContent: true });
  await page.getByRole('button', { name: 'Copy codes' }).click();
  await page.getByRole('button', { name: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `${recovery.join('\n')}\n`);
  await page.getByRole('button', { name: 'I saved them' }).click();
  await state.filter({ hasText: 'Recovery codes left: 10' }).waitFor();
  assert.equal(await codes.count(), 0, 'the codes are gone from the page');

  // Another device: the password, then the code.
  const laptop = await device({ userAgent: UA.windowsFirefox });
  await laptop.page.goto(`${base}/`);
  await laptop.page.getByLabel('Username').fill('ivan');
  await laptop.page.getByLabel('Password').fill(PASSWORD);
  await laptop.page.getByRole('button', { name: 'Sign in' }).click();
  await laptop.page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  const code = laptop.page.getByLabel('Authentication code');
  assert.equal(await code.evaluate((el) => document.activeElement === el), true, 'focus on the code');
  await shot(laptop.page, 'signin-code-desktop.png');
  await code.fill(totp(secret, { steps: 5 }));
  await laptop.page.getByRole('button', { name: 'Verify' }).click();
  await laptop.page.locator('#code-error').filter({ hasText: 'Wrong code' }).waitFor();
  await code.fill(totp(secret, { steps: 1 }));  // the confirming code's step is spent
  await laptop.page.getByRole('button', { name: 'Verify' }).click();
  await laptop.page.waitForURL(`${base}/account`);
  await accountLoaded(laptop.page, 'ivan');
  const me = await laptop.page.evaluate(() => fetch('/v1/me').then((r) => r.json()));
  assert.deepEqual(me.amr, ['pwd', 'otp']);

  // A third: a recovery code, typed in capitals.
  const tablet = await device({ userAgent: UA.linuxChrome });
  await tablet.page.goto(`${base}/`);
  await tablet.page.getByLabel('Username').fill('ivan');
  await tablet.page.getByLabel('Password').fill(PASSWORD);
  await tablet.page.getByRole('button', { name: 'Sign in' }).click();
  await tablet.page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await tablet.page.getByLabel('Recovery code').fill(recovery[0].toUpperCase());
  await tablet.page.getByRole('button', { name: 'Verify' }).click();
  await tablet.page.waitForURL(`${base}/account`);
  await accountLoaded(tablet.page, 'ivan');
  await tablet.page.locator('#mfa-state').filter({ hasText: 'Recovery codes left: 9' }).waitFor();

  // Off again, from the phone, with the password: the other devices are signed out.
  await page.getByLabel('Password, to turn two-step verification off').fill(PASSWORD);
  await page.getByRole('button', { name: 'Turn off' }).click();
  await state.filter({ hasText: 'Off.' }).waitFor();
  await laptop.page.reload();
  await laptop.page.waitForURL(`${base}/`);
  await laptop.page.getByRole('status').getByText('this session was ended from another device').waitFor();
  for (const d of [phone, laptop, tablet]) assert.deepEqual(d.problems(), []);
  for (const d of [phone, laptop, tablet]) await d.context.close();
});

test('a page that asks for a second factor sends a password-only session to sign in again, and the way to set one up',
     async () => {
  const { context, page, problems } = await device({ userAgent: UA.linuxChrome });
  await signIn(page, 'judy');
  // What nginx's step-up location does (docs/deploy/nginx.conf): no silent redirect back.
  await page.goto(`${base}/?mfa=required&next=/account`);
  await page.locator('#notice').filter({ hasText: 'needs two-step verification' }).waitFor();
  await page.getByLabel('Username').fill('judy');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const go = page.getByRole('link', { name: 'Go to your account' });
  await go.waitFor();
  assert.equal(page.url(), `${base}/?mfa=required&next=/account`);
  await go.click();
  await page.waitForURL(`${base}/account`);
  assert.deepEqual(problems(), []);
  await context.close();
});

test('changing the password on the account page: wrong current password, weak new one, then done; other devices end',
     async () => {
  const a = await device({ userAgent: UA.linuxChrome });
  const b = await device({ ...PHONE, userAgent: UA.iphoneSafari });
  await signIn(a.page, 'judy');
  await signIn(b.page, 'judy');
  const current = a.page.getByLabel('Current password');
  const fresh = a.page.getByLabel('New password');
  const change = a.page.getByRole('button', { name: 'Change password' });
  const message = a.page.locator('#password-error');
  await current.fill('not my password');
  await fresh.fill('a brand new passphrase 91');
  await change.click();
  await message.filter({ hasText: 'current password is wrong' }).waitFor();
  await current.fill(PASSWORD);
  await fresh.fill('password123');
  await change.click();
  await message.filter({ hasText: 'Choose another password' }).waitFor();
  assert.equal(await fresh.getAttribute('aria-invalid'), 'true');
  await fresh.fill('a brand new passphrase 91');
  await current.fill(PASSWORD);
  await change.click();
  await message.filter({ hasText: 'Password changed' }).waitFor();
  await shot(a.page, 'account-security-desktop.png', { toContent: true });
  await b.page.reload();
  await b.page.waitForURL(`${base}/`);
  await b.page.getByRole('status').getByText('this session was ended from another device').waitFor();
  const c = await device({ userAgent: UA.windowsFirefox });
  await signIn(c.page, 'judy', 'a brand new passphrase 91');
  for (const d of [a, b, c]) assert.deepEqual(d.problems(), []);
  for (const d of [a, b, c]) await d.context.close();
});

test('dark mode screenshots', async () => {
  const a = await device({ colorScheme: 'dark', userAgent: UA.linuxChrome });
  const b = await device({ ...PHONE, colorScheme: 'dark', userAgent: UA.iphoneSafari });
  await a.page.goto(`${base}/`);
  await a.page.locator('#submit:enabled').waitFor();
  await shot(a.page, 'signin-desktop-dark.png');
  await signIn(b.page, 'heidi');
  await signIn(a.page, 'heidi');
  await shot(a.page, 'account-desktop-dark.png');
  await b.page.reload();
  await accountLoaded(b.page, 'heidi');
  await shot(b.page, 'account-phone-dark.png');
  assert.deepEqual(a.problems(), []);
  assert.deepEqual(b.problems(), []);
  await a.context.close();
  await b.context.close();
});
