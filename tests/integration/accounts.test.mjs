// Accounts and operations over real sockets: self-registration, the admin endpoints, /metrics,
// the audit trail and the access log (and that no log line ever carries a secret).
// Run by ctest (accounts_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/accounts.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BIN, startServer, tessera } from './tessera.mjs';

const PASSWORD = 'CANARY-7f3a-correct horse';

let dir, data, server, base;

function cookieOf(res) {
  const m = (res.headers.get('set-cookie') ?? '').match(/__Host-tessera_session=([^;]*)/);
  return m ? m[1] : null;
}

async function post(url, body, headers = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
                      body: typeof body === 'string' ? body : JSON.stringify(body) });
}

// Signs in; returns the cookie, the CSRF token and headers that carry both.
async function signIn(username, password = PASSWORD, url = base) {
  const res = await post(`${url}/v1/login`, { username, password });
  assert.equal(res.status, 200, `login ${username}`);
  const body = await res.json();
  const cookie = cookieOf(res);
  return { cookie, csrf: body.csrf_token, sid: body.session.id,
           headers: { cookie: `__Host-tessera_session=${cookie}`, 'x-csrf-token': body.csrf_token } };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function addUser(dataDir, name, roles = []) {
  const args = ['user', 'add', name, '--password-stdin', '--data', dataDir];
  for (const r of roles) args.push('--role', r);
  const r = tessera(args, PASSWORD + '\n');
  assert.equal(r.code, 0, r.err);
}

const secretsSeen = new Set([PASSWORD]);

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-acct-'));
  data = path.join(dir, 'data');
  addUser(data, 'root', ['admin']);
  addUser(data, 'bob');
  server = await startServer(data, { TESSERA_SERVER_ACCESS_LOG: path.join(dir, 'access.log') });
  base = server.url;
});

after(async () => {
  if (server) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('registration is off by default', async () => {
  const res = await post(`${base}/v1/users`, { username: 'mallory', password: PASSWORD });
  assert.equal(res.status, 403);
  assert.equal((await res.json()).error, 'forbidden');
  assert.equal((await post(`${base}/v1/login`, { username: 'mallory', password: PASSWORD })).status, 401);
});

test('self-registration creates a role-less account, refuses bad input and bulk use', async () => {
  const d = path.join(dir, 'reg');
  const s = await startServer(d, { TESSERA_USERS_REGISTRATION: 'true',
                                   TESSERA_THROTTLE_LOGIN_PER_IP: '4/min' });
  try {
    const res = await post(`${s.url}/v1/users`, { username: 'Zoë', password: PASSWORD, roles: ['admin'] });
    assert.equal(res.status, 201);
    const body = await res.json();
    assert.equal(body.user.username, 'zoë');
    assert.deepEqual(body.user.roles, [], 'a registration never grants roles');
    assert.equal(res.headers.get('set-cookie'), null, 'registering does not sign in');
    const me = await signIn('ZOË', PASSWORD, s.url);
    assert.ok(me.cookie);

    const taken = await post(`${s.url}/v1/users`, { username: 'zoë', password: PASSWORD });
    assert.equal(taken.status, 409);
    assert.equal((await taken.json()).error, 'username_taken');
    // Refused before any hashing or counting: bad password, bad name, wrong type, cross-site.
    for (const [body, type, headers, status] of [
      [{ username: 'yan', password: 'short' }, 'application/json', {}, 400],
      [{ username: ' ', password: PASSWORD }, 'application/json', {}, 400],
      [{ username: 'yan', password: PASSWORD }, 'text/plain', {}, 415],
      [{ username: 'yan', password: PASSWORD }, 'application/json', { origin: 'https://evil.example' }, 403],
    ]) {
      const r = await fetch(`${s.url}/v1/users`, { method: 'POST', body: JSON.stringify(body),
                                                   headers: { 'content-type': type, ...headers } });
      assert.equal(r.status, status, JSON.stringify(body));
    }
    // Two registrations were counted against this IP; two more fit the budget of 4, then 429.
    assert.equal((await post(`${s.url}/v1/users`, { username: 'u3', password: PASSWORD })).status, 201);
    assert.equal((await post(`${s.url}/v1/users`, { username: 'u4', password: PASSWORD })).status, 201);
    const limited = await post(`${s.url}/v1/users`, { username: 'u5', password: PASSWORD });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    const users = tessera(['user', 'list', '--data', d]);
    assert.equal(users.code, 0, users.err);
    assert.match(users.out, /u4/);
    assert.doesNotMatch(users.out, /u5/);
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
  }
});

test('admin endpoints need the admin role and a CSRF token for changes', async () => {
  const root = await signIn('root');
  const bob = await signIn('bob');
  secretsSeen.add(root.cookie).add(bob.cookie).add(root.csrf).add(bob.csrf);

  // Not signed in: 401. Signed in without the role: 403, for every admin endpoint.
  const calls = [
    ['GET', '/v1/admin/users'],
    ['POST', '/v1/admin/users', { username: 'x1', password: PASSWORD }],
    ['GET', '/v1/admin/users/bob/sessions'],
    ['DELETE', '/v1/admin/users/bob/sessions'],
  ];
  for (const [method, p, body] of calls) {
    const init = { method, headers: { 'content-type': 'application/json' },
                   body: body ? JSON.stringify(body) : undefined };
    assert.equal((await fetch(base + p, init)).status, 401, `${method} ${p}`);
    const res = await fetch(base + p, { ...init, headers: { ...init.headers, ...bob.headers } });
    assert.equal(res.status, 403, `${method} ${p}`);
    assert.equal((await res.json()).error, 'forbidden');
  }

  const created = await fetch(`${base}/v1/admin/users`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...root.headers },
    body: JSON.stringify({ username: 'José', password: PASSWORD, roles: ['ops', 'ops', 'billing'] }) });
  assert.equal(created.status, 201);
  assert.deepEqual((await created.json()).user.roles, ['ops', 'billing']);
  const again = await fetch(`${base}/v1/admin/users`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...root.headers },
    body: JSON.stringify({ username: 'jOSÉ', password: PASSWORD }) });
  assert.equal(again.status, 409);
  const badRole = await fetch(`${base}/v1/admin/users`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...root.headers },
    body: JSON.stringify({ username: 'kim', password: PASSWORD, roles: ['Bad Role'] }) });
  assert.equal(badRole.status, 400);
  const noCsrf = await fetch(`${base}/v1/admin/users`, {
    method: 'POST', headers: { 'content-type': 'application/json', cookie: root.headers.cookie },
    body: JSON.stringify({ username: 'kim', password: PASSWORD }) });
  assert.equal(noCsrf.status, 403);
  assert.equal((await noCsrf.json()).error, 'csrf_failed');
  const jose = await signIn('josé');

  const list = await (await fetch(`${base}/v1/admin/users`, { headers: root.headers })).json();
  assert.deepEqual(list.map((u) => u.username), ['bob', 'josé', 'root']);
  assert.ok(list.every((u) => u.sub && Array.isArray(u.roles) && u.created_at > 0 && !('password_hash' in u)));

  // A user's sessions, by percent-encoded name; then all of them revoked at once.
  const enc = encodeURIComponent('JOSÉ');
  const sessions = await (await fetch(`${base}/v1/admin/users/${enc}/sessions`, { headers: root.headers })).json();
  assert.deepEqual(sessions.map((s) => s.id), [jose.sid]);
  assert.equal(sessions[0].current, false);
  const revoked = await fetch(`${base}/v1/admin/users/${enc}/sessions`, { method: 'DELETE', headers: root.headers });
  assert.equal(revoked.status, 200);
  assert.deepEqual(await revoked.json(), { revoked: 1 });
  assert.equal((await fetch(`${base}/v1/me`, { headers: jose.headers })).status, 401);
  assert.equal((await fetch(`${base}/v1/me`, { headers: root.headers })).status, 200, 'the admin stays');

  assert.equal((await fetch(`${base}/v1/admin/users/nobody/sessions`, { headers: root.headers })).status, 404);
  assert.equal((await fetch(`${base}/v1/admin/users/%zz/sessions`, { headers: root.headers })).status, 400);
  assert.equal((await fetch(`${base}/v1/admin/users/a%2Fb/sessions`, { headers: root.headers })).status, 400);
  // The account itself takes PATCH and DELETE only.
  const getUser = await fetch(`${base}/v1/admin/users/bob`, { headers: root.headers });
  assert.equal(getUser.status, 405);
  assert.equal(getUser.headers.get('allow'), 'PATCH, DELETE');
  assert.equal((await fetch(`${base}/v1/admin/users`, { method: 'PUT', headers: root.headers })).status, 405);
});

// Parses Prometheus text into { 'name{labels}': value }.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

test('/metrics counts logins, auth checks, latency, sessions and the password queue', async () => {
  const read = async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return parseMetrics(await res.text());
  };
  const before = await read();
  const bob = await signIn('bob');
  secretsSeen.add(bob.cookie).add(bob.csrf);
  assert.equal((await post(`${base}/v1/login`, { username: 'bob', password: 'wrong password' })).status, 401);
  assert.equal((await fetch(`${base}/v1/auth`, { headers: bob.headers })).status, 200);
  assert.equal((await fetch(`${base}/v1/auth`)).status, 401);
  assert.equal((await fetch(`${base}/v1/auth`)).status, 401);
  const after = await read();
  const delta = (k) => (after[k] ?? NaN) - (before[k] ?? 0);
  assert.equal(delta('tessera_logins_total{outcome="success"}'), 1);
  assert.equal(delta('tessera_logins_total{outcome="failure"}'), 1);
  assert.equal(delta('tessera_auth_checks_total{outcome="allowed"}'), 1);
  assert.equal(delta('tessera_auth_checks_total{outcome="denied"}'), 2);
  assert.equal(delta('tessera_http_request_duration_seconds_count{route="auth"}'), 3);
  assert.equal(delta('tessera_http_request_duration_seconds_count{route="login"}'), 2);
  assert.ok(after['tessera_http_request_duration_seconds_bucket{route="auth",le="+Inf"}'] >=
            after['tessera_http_request_duration_seconds_bucket{route="auth",le="0.001"}']);
  assert.ok(after.tessera_sessions_active >= 1);
  assert.equal(after.tessera_password_queue_depth, 0);
  assert.equal(after.tessera_password_queue_capacity, 64);
  assert.ok('tessera_throttled_attempts_total' in after);
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
});

test('the audit trail records security events as NDJSON, never a secret', async () => {
  const bob = await signIn('bob');
  secretsSeen.add(bob.cookie).add(bob.csrf);
  const other = await signIn('bob');
  secretsSeen.add(other.cookie).add(other.csrf);
  assert.equal((await fetch(`${base}/v1/sessions/${other.sid}`, { method: 'DELETE', headers: bob.headers })).status, 204);
  assert.equal((await fetch(`${base}/v1/logout`, { method: 'POST', headers: bob.headers })).status, 204);
  // A username crafted to forge a log line stays inside its field.
  await post(`${base}/v1/login`, { username: 'eve\n{"event":"login.succeeded"}', password: 'nope nope' });

  // The CLI appends to the same trail while the server runs.
  const third = await signIn('bob');
  secretsSeen.add(third.cookie).add(third.csrf);
  const cli = tessera(['sessions', 'revoke-all', 'BOB', '--data', data]);
  assert.equal(cli.code, 0, cli.err);
  const added = tessera(['user', 'add', 'carol', '--password-stdin', '--data', data], PASSWORD + '\n');
  assert.equal(added.code, 0, added.err);
  const set = tessera(['user', 'set-password', 'carol', '--password-stdin', '--data', data], PASSWORD + '!\n');
  assert.equal(set.code, 0, set.err);
  secretsSeen.add(PASSWORD + '!');
  assert.equal(tessera(['user', 'remove', 'carol', '--data', data]).code, 0);

  const file = path.join(data, 'audit.log');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const text = fs.readFileSync(file, 'utf8');
  const events = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  for (const e of events) {
    assert.equal(e.log, 'audit');
    assert.match(e.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  const kinds = new Set(events.map((e) => e.event));
  for (const k of ['login.succeeded', 'login.failed', 'logout', 'session.revoked',
                   'admin.user_created', 'admin.sessions_revoked', 'admin.password_set',
                   'admin.user_removed']) {
    assert.ok(kinds.has(k), `audit has ${k}: ${[...kinds]}`);
  }
  const ok = events.find((e) => e.event === 'login.succeeded' && e.username === 'bob');
  assert.equal(ok.ip, '127.0.0.1');
  assert.match(ok.session, /^[0-9a-f]{32}$/);
  const revoked = events.find((e) => e.event === 'session.revoked' && e.session === other.sid);
  assert.equal(revoked.by, 'user');
  const byCli = events.find((e) => e.event === 'admin.sessions_revoked' && e.by === 'cli');
  assert.equal(byCli.username, 'bob');
  assert.ok(byCli.sessions.includes(third.sid));
  // A name that is no account (often a password typed into the wrong field) is recorded only as
  // a keyed hash: the forged line is not in the trail at all, not even inside a field.
  const unknown = events.filter((e) => e.event === 'login.failed' && e.reason === 'unknown_user');
  assert.ok(unknown.length >= 1);
  for (const e of unknown) {
    assert.equal(e.username, undefined);
    assert.match(e.username_hmac, /^[0-9a-f]{32}$/);
  }
  assert.ok(!text.includes('eve\\n'), 'an attempted unknown name in the audit log');
  assert.equal(events.filter((e) => e.event === 'login.succeeded' && !e.username).length, 0);
  for (const secret of secretsSeen) assert.ok(!text.includes(secret), 'a secret in the audit log');
  assert.ok(!text.includes('$argon2'), 'a hash in the audit log');
});

test('the access log has one JSON line per request, without query strings or secrets', async () => {
  const bob = await signIn('bob');
  secretsSeen.add(bob.cookie).add(bob.csrf);
  await fetch(`${base}/v1/auth?access_token=SECRET-IN-QUERY`, { headers: { ...bob.headers, 'user-agent': 'probe "q" \\ \t}' } });
  await sleep(600);  // the access log is flushed every 200 ms
  const text = fs.readFileSync(path.join(dir, 'access.log'), 'utf8');
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  const probe = lines.find((l) => l.ua === 'probe "q" \\ \t}');
  assert.ok(probe, 'the probe request is logged, its user agent escaped');
  assert.equal(probe.method, 'GET');
  assert.equal(probe.path, '/v1/auth');
  assert.equal(probe.status, 200);
  assert.equal(probe.ip, '127.0.0.1');
  assert.ok(probe.ms >= 0);
  assert.ok(!text.includes('SECRET-IN-QUERY'));
  for (const secret of secretsSeen) assert.ok(!text.includes(secret), 'a secret in the access log');
  // Nor anywhere the server printed.
  for (const secret of secretsSeen) assert.ok(!server.output().includes(secret), 'a secret on stdout/stderr');
});
