// What the multi-instance suites share (cluster.test.mjs: one Redis; sentinel.test.mjs: a
// Sentinel group): processes started and stopped, nginx balancing round-robin over the
// instances, and the client side of a sign-in, a check, a logout and a refresh.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { canConnect, freePort, launch, nginxMainConfig } from './tessera.mjs';

export const PASSWORD = 'CANARY-cluster correct horse';
export const COOKIE = '__Host-tessera_session';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes ----------------------------------------------------------------------------------

// Waits until `port` accepts a connection while `proc` runs; throws with `what` otherwise.
export async function awaitListening(proc, port, what, log) {
  const deadline = Date.now() + 15000;
  while (proc.running() && Date.now() < deadline) {
    if (await canConnect(port)) return;
    await sleep(20);
  }
  if (proc.running()) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
  let text = '';
  try { text = fs.readFileSync(log, 'utf8'); } catch { /* none */ }
  throw new Error(`${what} did not start (${JSON.stringify(proc.exit())}): ${proc.output()}\n${text}`);
}

export async function stopProc(proc, signal = 'SIGTERM') {
  if (!proc || !proc.running()) return;
  proc.child.kill('SIGCONT');  // a stopped process does not act on SIGTERM
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10000);
  await proc.exited;
  clearTimeout(timer);
}

// Every tessera instance of `servers` ({name: startServer() result}) still running: SIGTERM, and
// wait for it to exit.
export async function stopServers(servers) {
  for (const s of Object.values(servers)) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }
}

// nginx in the foreground, balancing round-robin over `upstreams` with keep-alive connections to
// them; X-Upstream tells the client which instance answered.
function nginxConfig(dir, port, upstreams) {
  return nginxMainConfig(dir, [
    '  upstream tessera {',
    ...upstreams.map((p) => `    server 127.0.0.1:${p};`),
    '    keepalive 16;',
    '  }',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    location / {',
    '      proxy_pass http://tessera;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_set_header Host $http_host;',
    '      proxy_set_header X-Forwarded-For $remote_addr;',
    '      proxy_set_header X-Forwarded-Proto $scheme;',
    '      add_header X-Upstream $upstream_addr always;',
    '    }',
    '  }',
  ], { workerConnections: 256 });
}

export async function startNginx(bin, dir, upstreams) {
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  let lastError;
  // The port is chosen before nginx binds it; another process may win the race: try again.
  for (let attempt = 0; attempt < 5; ++attempt) {
    const port = await freePort();
    const confPath = path.join(dir, 'nginx.conf');
    fs.writeFileSync(confPath, nginxConfig(dir, port, upstreams));
    const proc = launch(bin, ['-p', `${dir}/`, '-c', confPath, '-e', path.join(dir, 'error.log')]);
    try {
      await awaitListening(proc, port, 'nginx', path.join(dir, 'error.log'));
      return { ...proc, port };
    } catch (err) {
      lastError = err;
      if (!/Address already in use/.test(err.message)) break;
    }
  }
  throw lastError;
}

// ---- the client side ----------------------------------------------------------------------------

// One exchange; the body is read. Never hangs longer than `timeout` ms.
export async function call(base, method, p, { headers = {}, body, timeout = 10000 } = {}) {
  const started = Date.now();
  const res = await fetch(base + p, { method, headers, body, signal: AbortSignal.timeout(timeout) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json, ms: Date.now() - started,
           setCookie: res.headers.getSetCookie() };
}

export const withCookie = (secret, extra = {}) => ({ cookie: `${COOKIE}=${secret}`, ...extra });
export const bearer = (at) => ({ authorization: `Bearer ${at}` });

export function loginRequest(base, username, { password = PASSWORD, mode } = {}) {
  return call(base, 'POST', '/v1/login', {
    headers: { 'content-type': 'application/json', 'user-agent': 'tessera-cluster-test' },
    body: JSON.stringify(mode ? { username, password, mode } : { username, password }),
  });
}

// A session-mode login that must succeed: { secret, csrf, sid }.
export async function cookieLogin(base, username) {
  const r = await loginRequest(base, username);
  assert.equal(r.status, 200, `cookie login ${username} at ${base}: ${r.status} ${r.text}`);
  const set = r.setCookie.find((c) => c.startsWith(`${COOKIE}=`));
  assert.ok(set, `no session cookie: ${r.setCookie.join(' | ')}`);
  return { secret: set.slice(COOKIE.length + 1).split(';')[0], csrf: r.json.csrf_token,
           sid: r.json.session.id };
}

// A token-mode login that must succeed: { at, rt, sid }.
export async function tokenLogin(base, username) {
  const r = await loginRequest(base, username, { mode: 'token' });
  assert.equal(r.status, 200, `token login ${username} at ${base}: ${r.status} ${r.text}`);
  const claims = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url').toString());
  return { at: r.json.access_token, rt: r.json.refresh_token, sid: claims.sid, claims };
}

export const authStatus = async (base, s) => (await call(base, 'GET', '/v1/auth', { headers: withCookie(s.secret) })).status;
export const meBearer = async (base, at) => (await call(base, 'GET', '/v1/me', { headers: bearer(at) })).status;

export function logoutCookie(base, s) {
  return call(base, 'POST', '/v1/logout', { headers: withCookie(s.secret, { 'x-csrf-token': s.csrf }) });
}

export function refresh(base, rt) {
  return call(base, 'POST', '/v1/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString(),
  });
}

// Calls `probe` every `interval` ms until it returns a truthy value; returns the milliseconds
// that took (from the first call). Fails after `timeout` ms, naming `what` and the last value.
export async function pollUntil(probe, what, { timeout = 5000, interval = 50 } = {}) {
  const start = Date.now();
  let last;
  for (;;) {
    last = await probe();
    if (last === true) return Date.now() - start;
    if (Date.now() - start > timeout) {
      assert.fail(`${what}: not after ${timeout} ms (last: ${JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}
