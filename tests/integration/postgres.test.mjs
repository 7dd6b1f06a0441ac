// Accounts in PostgreSQL (users.store = "postgresql://…"), sessions in Redis: two `tessera serve`
// instances that share nothing but those two servers, as on two hosts. It proves that accounts
// the CLI adds, changes or copies from a SQLite database live in PostgreSQL and are in force on
// every instance at its next request (the change feed drops each instance's copy of that one
// account); that with PostgreSQL frozen a sign-in answers 503 within 2 s, never "wrong password",
// /readyz says so, and a session signed in before goes on from the instance's cache; and that the
// instances recover by themselves when PostgreSQL continues or restarts.
// Run by ctest (postgres_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/postgres.test.mjs
// Needs postgresql and redis-server (scripts/install-deps test); fails, never skips, without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { findExecutable, freePort, launch, startServer, tessera } from './tessera.mjs';
import {
  authStatus, awaitListening, call, COOKIE, cookieLogin, loginRequest, PASSWORD, pollUntil, startNginx,
  stopProc, stopServers, withCookie,
} from './cluster_client.mjs';
import { PG_PASSWORD, startPostgres } from './postgres.mjs';
import { base32Decode, totp } from './totp.mjs';

const T = { timeout: 60_000 };

let dir, pg, redis, redisPort, nginx, viaNginx;
const servers = {};
const url = {};

function env() {
  return {
    TESSERA_USERS_STORE: pg.url('tessera'),
    TESSERA_SESSION_STORE: `redis://127.0.0.1:${redisPort}/0`,
    // The deployment's shared secret: the signing keyset in Redis, and the key of second factors
    // (sealed TOTP secrets, recovery codes, sign-in tickets), are the same on both instances.
    TESSERA_TOKEN_KEYSET_SECRET_FILE: path.join(dir, 'shared.secret'),
    TESSERA_SERVER_ACCESS_LOG: 'off',
    TESSERA_SERVER_TRUSTED_PROXIES: '127.0.0.1',
  };
}

// The CLI on instance `name`'s data directory, with the shared stores.
function cli(args, input = '', name = 'A') {
  return tessera([...args, '--data', path.join(dir, name)], input, env());
}

function addUser(name, roles = []) {
  const r = cli(['user', 'add', name, '--password-stdin', ...roles.flatMap((x) => ['--role', x])],
                `${PASSWORD}\n`);
  assert.equal(r.code, 0, r.err);
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-pg-it-'));
  fs.writeFileSync(path.join(dir, 'shared.secret'), crypto.randomBytes(32), { mode: 0o600 });
  pg = await startPostgres();
  pg.exec('CREATE DATABASE tessera');
  const redisBin = findExecutable('redis-server', ['/usr/bin', '/usr/sbin']);
  assert.ok(redisBin, 'redis-server is not installed: run scripts/install-deps test');
  redisPort = await freePort();
  redis = launch(redisBin, ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir,
                            '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction',
                            '--daemonize', 'no', '--loglevel', 'warning']);
  await awaitListening(redis, redisPort, 'redis-server', '/dev/null');
  // The schema is made before any server starts, by the CLI, as an operator would.
  const m = cli(['migrate']);
  assert.equal(m.code, 0, m.err);
  assert.match(m.out, /up to date/);
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) addUser(u);
  addUser('root', ['admin']);
  for (const name of ['A', 'B']) {
    servers[name] = await startServer(path.join(dir, name), env());
    url[name] = servers[name].url;
  }
  const nginxBin = findExecutable('nginx', ['/usr/sbin']);
  assert.ok(nginxBin, 'nginx is not installed: run scripts/install-deps test');
  nginx = await startNginx(nginxBin, path.join(dir, 'nginx'), [servers.A.port, servers.B.port]);
  viaNginx = `http://127.0.0.1:${nginx.port}`;
});

after(async () => {
  pg?.thaw();
  await stopProc(nginx);
  await stopServers(servers);
  await stopProc(redis);
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('accounts the CLI adds live in PostgreSQL, hashed; both instances sign them in', T, async () => {
  const rows = pg.exec("SELECT username || ' ' || left(password_hash, 10) FROM tessera_users ORDER BY 1",
                       'tessera').stdout;
  for (const u of ['alice', 'bob', 'carol', 'dave']) assert.match(rows, new RegExp(`${u} \\$argon2id`));
  assert.ok(!rows.includes(PASSWORD.slice(0, 12)), 'a password in the table');
  for (const name of ['A', 'B']) await cookieLogin(url[name], 'alice');
  const status = cli(['migrate', '--status']);
  assert.equal(status.code, 0, status.err);
  assert.match(status.out, /schema version (\d+), this tessera's \1: up to date/);
  // The password of the URL is in no output of the CLI nor the server.
  for (const text of [status.out, status.err, servers.A.output(), servers.B.output()]) {
    assert.ok(!text.includes(PG_PASSWORD), 'the PostgreSQL password was printed');
  }
});

test('a change on one instance is in force on the other at its next request', T, async () => {
  const s = await cookieLogin(url.B, 'bob');
  const me = async () => (await call(url.B, 'GET', '/v1/me', { headers: withCookie(s.secret) })).json;
  assert.deepEqual((await me()).roles, []);  // and B now holds bob in its cache
  // New roles: the session goes on, the roles change at once (the feed dropped B's copy).
  const r = cli(['user', 'set-roles', 'bob', '--role', 'ops']);
  assert.equal(r.code, 0, r.err);
  await pollUntil(async () => JSON.stringify((await me()).roles) === '["ops"]',
                  'the new roles on B', { timeout: 1000, interval: 20 });
  // Disabled: its sessions end everywhere and it cannot sign in on either instance.
  assert.equal(cli(['user', 'disable', 'bob']).code, 0);
  assert.equal(await authStatus(url.B, s), 401);
  for (const name of ['A', 'B']) assert.equal((await loginRequest(url[name], 'bob')).status, 401);
  assert.equal(cli(['user', 'enable', 'bob']).code, 0);
  await cookieLogin(url.A, 'bob');
});

test('behind nginx: sign-ins land on both instances; an account the CLI removes is gone on both', T, async () => {
  const sessions = [];
  const upstreams = new Set();
  for (let i = 0; i < 4; ++i) {
    const r = await loginRequest(viaNginx, 'erin');
    assert.equal(r.status, 200, r.text);
    upstreams.add(r.headers.get('x-upstream'));
    const set = r.setCookie.find((c) => c.startsWith(`${COOKIE}=`));
    sessions.push({ secret: set.slice(COOKIE.length + 1).split(';')[0] });
  }
  assert.equal(upstreams.size, 2, `sign-ins went to ${[...upstreams]}`);
  for (const s of sessions) assert.equal(await authStatus(viaNginx, s), 200);
  const r = cli(['user', 'remove', 'erin'], '', 'B');
  assert.equal(r.code, 0, r.err);
  for (const s of sessions) {
    for (const base of [viaNginx, url.A, url.B]) assert.equal(await authStatus(base, s), 401);
  }
  for (const base of [url.A, url.B]) assert.equal((await loginRequest(base, 'erin')).status, 401);
  assert.equal(pg.exec("SELECT count(*) FROM tessera_users WHERE username = 'erin'", 'tessera').stdout.trim(), '0');
});

test('a second factor set up on A signs in on B; an administrator\'s reset on B ends its sessions on A', T, async () => {
  const json = (s) => withCookie(s.secret, { 'x-csrf-token': s.csrf, 'content-type': 'application/json' });
  const first = await cookieLogin(url.A, 'frank');
  const begun = await call(url.A, 'POST', '/v1/me/totp', { headers: json(first), body: '{}' });
  assert.equal(begun.status, 200, begun.text);
  const secret = base32Decode(begun.json.secret);
  const confirmed = await call(url.A, 'POST', '/v1/me/totp/confirm',
                               { headers: json(first), body: JSON.stringify({ code: totp(secret) }) });
  assert.equal(confirmed.status, 200, confirmed.text);
  assert.equal(confirmed.json.recovery_codes.length, 10);
  // Stored sealed: neither the base32 secret nor a recovery code is in the table.
  const row = pg.exec('SELECT sealed_secret, array_to_string(recovery, \' \') FROM tessera_totp', 'tessera').stdout;
  assert.ok(!row.includes(begun.json.secret) && !row.includes(confirmed.json.recovery_codes[0]), row);
  // The first step on A, the second on B: one shared key, one account store.
  const step1 = await loginRequest(url.A, 'frank');
  assert.equal(step1.status, 401, step1.text);
  assert.equal(step1.json.error, 'mfa_required');
  const step2 = (base, body) => call(base, 'POST', '/v1/login/mfa', {
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  // The confirming code's step is spent; the next step's code is accepted (one step of drift).
  const done = await step2(url.B, { mfa_ticket: step1.json.mfa_ticket, code: totp(secret, { steps: 1 }) });
  assert.equal(done.status, 200, done.text);
  const set = done.setCookie.find((c) => c.startsWith(`${COOKIE}=`));
  const onB = { secret: set.slice(COOKIE.length + 1).split(';')[0] };
  const auth = await call(url.A, 'GET', '/v1/auth?require=mfa', { headers: withCookie(onB.secret) });
  assert.equal(auth.status, 200, auth.text);
  assert.equal(auth.headers.get('x-auth-amr'), 'pwd,otp');
  // The ticket was used, on B: A refuses it too, even with a recovery code.
  const reused = await step2(url.A, { mfa_ticket: step1.json.mfa_ticket,
                                      recovery_code: confirmed.json.recovery_codes[0] });
  assert.equal(reused.status, 401, reused.text);
  // A recovery code used through A cannot be used again through B.
  const ticketA = (await loginRequest(url.A, 'frank')).json.mfa_ticket;
  const viaCode = await step2(url.A, { mfa_ticket: ticketA, recovery_code: confirmed.json.recovery_codes[1] });
  assert.equal(viaCode.status, 200, viaCode.text);
  const ticketB = (await loginRequest(url.B, 'frank')).json.mfa_ticket;
  assert.equal((await step2(url.B, { mfa_ticket: ticketB, recovery_code: confirmed.json.recovery_codes[1] })).status, 401);
  // The administrator signs in on B and resets the factor: every session of frank ends on A too.
  const root = await cookieLogin(url.B, 'root');
  const reset = await call(url.B, 'DELETE', '/v1/admin/users/frank/mfa', { headers: json(root) });
  assert.equal(reset.status, 204, reset.text);
  assert.equal(await authStatus(url.A, onB), 401);
  assert.equal(await authStatus(url.A, first), 401);
  await cookieLogin(url.A, 'frank');  // the password alone again
});

test('accounts copied from a SQLite database keep their ids and passwords', T, async () => {
  const old = path.join(dir, 'old');
  const add = tessera(['user', 'add', 'olga', '--password-stdin', '--role', 'billing', '--data', old],
                      `${PASSWORD}\n`);
  assert.equal(add.code, 0, add.err);
  const listed = tessera(['user', 'list', '--data', old]).out;
  const id = listed.split('\n').find((l) => l.startsWith('olga')).split(/\s+/)[1];
  const copy = cli(['user', 'migrate', '--from', `sqlite:${path.join(old, 'tessera.db')}`]);
  assert.equal(copy.code, 0, copy.err);
  assert.match(copy.out, /copied 1 users/);
  // Again: refused, all or nothing, unless told to skip what exists.
  assert.equal(cli(['user', 'migrate', '--from', `sqlite:${path.join(old, 'tessera.db')}`]).code, 1);
  const again = cli(['user', 'migrate', '--skip-existing', '--from', `sqlite:${path.join(old, 'tessera.db')}`]);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /copied 0 users .*skipped 1/);
  const s = await cookieLogin(url.B, 'olga');
  const me = (await call(url.B, 'GET', '/v1/me', { headers: withCookie(s.secret) })).json;
  assert.equal(me.sub, id);
  assert.deepEqual(me.roles, ['billing']);
});

test('PostgreSQL frozen: sign-ins answer 503 within 2 s, never "wrong password"; known sessions go on; recovery by itself', T, async () => {
  const s = await cookieLogin(url.A, 'carol');
  assert.equal(await authStatus(url.A, s), 200);  // carol is in A's cache now
  pg.freeze();
  try {
    for (const password of [PASSWORD, 'wrong password entirely']) {
      const r = await loginRequest(url.A, 'carol', { password });
      assert.equal(r.status, 503, `${r.status} ${r.text}`);
      assert.ok(r.ms < 2000, `the 503 took ${r.ms} ms`);
      assert.equal(r.json.error, 'unavailable');
    }
    const ready = await call(url.B, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.users, 'unavailable');
    // The session's account was read within the last minute: the instance goes on from its copy.
    assert.equal(await authStatus(url.A, s), 200);
  } finally {
    pg.thaw();
  }
  await pollUntil(async () => (await loginRequest(url.A, 'carol')).status === 200,
                  'a sign-in after PostgreSQL continued', { timeout: 5000, interval: 100 });
  assert.equal((await call(url.B, 'GET', '/readyz')).status, 200);
});

test('PostgreSQL killed and restarted: the instances use it again by themselves', T, async () => {
  await cookieLogin(url.A, 'dave');
  await cookieLogin(url.B, 'dave');  // A's and B's pools holds connections that the restart will close
  await pg.kill();
  const down = await loginRequest(url.B, 'dave');
  assert.equal(down.status, 503, down.text);
  await pg.start();
  await pollUntil(async () => (await loginRequest(url.B, 'dave')).status === 200,
                  'a sign-in after PostgreSQL restarted', { timeout: 5000, interval: 100 });
  // A was not asked while PostgreSQL was down: its pooled connections, closed by the restart, are
  // noticed before use, and its first sign-in after the restart succeeds.
  await cookieLogin(url.A, 'dave');
});
