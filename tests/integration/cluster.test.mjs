// Several `tessera serve` instances sharing one Redis (session.store = "redis://…") behind a real
// nginx that balances round-robin over them: the multi-instance suite of docs/design.md ("The
// change feed"). It proves that a session made on one instance is good on every other; that a
// logout, a revocation, "sign out of all other devices", the per-user session limit and an
// eviction made on one instance are refused on another within milliseconds (the change feed;
// usually at its very next request); that failed sign-ins are counted once for all instances; that
// concurrent refreshes of one refresh token on different instances never fork its family; that
// the instances fail closed (503, never 200, never a cookie-clearing 401) while Redis is stopped
// and recover by themselves when it continues or restarts with its data (appendonly, appendfsync
// always); and that a killed instance does not disturb the others.
// The three instances share one data directory (accounts in SQLite, the signing keyset file), as
// on one host; redis-server and nginx run in the foreground as the current user on free loopback
// ports, with everything under one temporary directory.
// With TESSERA_TEST_REDIS_CLUSTER=1 the same suite runs on a Redis Cluster instead
// (session.store = "redis+cluster://…"): three primaries started with --cluster-enabled and joined
// by `redis-cli --cluster create`; the faults of test 7 then hit one of them, which (holding a
// third of the slots, and the cluster requiring full coverage) stops the whole cluster.
// Run by ctest (cluster_integration, redis_cluster_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/cluster.test.mjs
//   TESSERA_TEST_REDIS_CLUSTER=1 TESSERA_BIN=build/tessera node --test tests/integration/cluster.test.mjs
// Needs redis-server (Debian's, in /usr/bin) and nginx (scripts/install-deps installs both);
// fails, never skips, without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { execFileSync } from 'node:child_process';

import { BIN, findExecutable, freePort, launch, startServer, tessera } from './tessera.mjs';
import {
  authStatus, awaitListening, bearer, call, COOKIE, cookieLogin, loginRequest, logoutCookie,
  meBearer, PASSWORD, pollUntil, refresh, sleep, startNginx, stopProc, stopServers, tokenLogin,
  withCookie,
} from './cluster_client.mjs';

const CLIENT_SECRET = 'cluster-client-secret-0123456789';
// One issuer for all: left unset, each instance would name its own port and refuse the others'
// access tokens.
const ISSUER = 'https://auth.cluster.test';
const MAX_PER_USER = 2;
// Users, made with the CLI before the servers start. A user is shared by tests only where neither
// holds more than one session of it at a time, so that the per-user limit (session.max_per_user =
// 2 on every instance) and the sign-in throttle of one test cannot reach another's sessions.
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy',
               'ken', 'leo'];
const T = { timeout: 30_000 };
const CLUSTER = process.env.TESSERA_TEST_REDIS_CLUSTER === '1';

// ---- processes ----------------------------------------------------------------------------------

// redis-server as tests/testing/redis_server.h starts it, but durable: a revocation answered 2xx
// must survive a SIGKILL (docs/design.md "Redis": appendonly yes with appendfsync always), and
// noeviction, which the store requires. `port` and `dir` stay the same across a restart.
// In a cluster, `node` = {busPort}: the node keeps its identity and slots in dir/nodes.conf.
async function startRedis(bin, dir, port, node = null) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
                '--appendonly', 'yes', '--appendfsync', 'always',
                '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
                '--loglevel', 'warning', '--logfile', path.join(dir, 'redis.log')];
  if (node) {
    // A node the others do not hear from for a second is failed; the cluster, which then lacks
    // its slots, refuses every command (cluster-require-full-coverage).
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
              '--cluster-node-timeout', '1000', '--cluster-port', String(node.busPort));
  }
  const proc = launch(bin, args);
  await awaitListening(proc, port, 'redis-server', path.join(dir, 'redis.log'));
  return proc;
}

// Every node of the cluster says cluster_state:ok.
async function clusterOk(ports) {
  await pollUntil(async () => ports.every((p) => {
    try {
      return /cluster_state:ok/.test(execFileSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }));
    } catch { return false; }
  }) || 'not yet', 'the Redis Cluster is ok', { timeout: 20000, interval: 100 });
}

// ---- state --------------------------------------------------------------------------------------

// redis, redisDir and redisPort: the one server, or in a cluster the node that test 7 stops and
// kills; clusterNodes: every node of the cluster, {dir, port, busPort, proc}.
let dir, data, redisDir, redisBin, redisPort, redis, nginx, viaNginx;
const clusterNodes = [];
const servers = {};  // A, B, C: startServer() results
const url = {};      // A, B, C: base URLs

function serverEnv() {
  return {
    TESSERA_SESSION_STORE: CLUSTER
      ? `redis+cluster://${clusterNodes.slice(0, 2).map((n) => `127.0.0.1:${n.port}`).join(',')}`
      : `redis://127.0.0.1:${redisPort}/0`,
    // nginx connects from loopback; the direct requests of this test do too (and send no
    // X-Forwarded-For), so every request is counted for 127.0.0.1 either way.
    TESSERA_SERVER_TRUSTED_PROXIES: '127.0.0.1',
    TESSERA_SESSION_MAX_PER_USER: String(MAX_PER_USER),
    TESSERA_TOKEN_ISSUER: ISSUER,
    TESSERA_TOKEN_CLIENTS: `cluster:${crypto.createHash('sha256').update(CLIENT_SECRET).digest('hex')}`,
    TESSERA_SERVER_ACCESS_LOG: 'off',
  };
}

// ---- the client side ----------------------------------------------------------------------------

// The status of /v1/auth with the cookie of `s` on each instance in `names`, as {A: 200, ...}.
async function statusesEverywhere(s, names = ['A', 'B', 'C']) {
  const out = {};
  for (const n of names) out[n] = await authStatus(url[n], s);
  return out;
}

// The statuses of `s` everywhere once they equal `want`: an ending made on one instance reaches
// the others through the change feed within milliseconds (docs/benchmarks.md measures it), not
// within the same instant, so the others are asked again, every 2 ms, for up to a second.
async function settled(s, want, names = ['A', 'B', 'C']) {
  const start = Date.now();
  for (;;) {
    const got = await statusesEverywhere(s, names);
    if (JSON.stringify(got) === JSON.stringify(want) || Date.now() - start > 1000) return got;
    await sleep(2);
  }
}

const outputs = () => Object.entries(servers)
  .map(([n, s]) => `--- ${n} ---\n${s.output().split('\n').slice(-30).join('\n')}`).join('\n');

// ---- setup --------------------------------------------------------------------------------------

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
  redisBin = findExecutable('redis-server', ['/usr/bin', '/usr/local/bin']);
  assert.ok(redisBin, 'redis-server is not installed (/usr/bin/redis-server): run scripts/install-deps test');
  const nginxBin = findExecutable('nginx', ['/usr/sbin']);
  assert.ok(nginxBin, 'nginx is not installed (not in PATH nor /usr/sbin): run scripts/install-deps');

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-cluster-'));
  data = path.join(dir, 'data');
  if (CLUSTER) {
    for (let i = 0; i < 3; ++i) {
      const node = { dir: path.join(dir, `redis-${i}`), port: await freePort(), busPort: await freePort() };
      fs.mkdirSync(node.dir);
      node.proc = await startRedis(redisBin, node.dir, node.port, node);
      clusterNodes.push(node);
    }
    execFileSync('redis-cli', ['--cluster', 'create', ...clusterNodes.map((n) => `127.0.0.1:${n.port}`),
                               '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    await clusterOk(clusterNodes.map((n) => n.port));
    ({ dir: redisDir, port: redisPort, proc: redis } = clusterNodes[0]);
  } else {
    redisDir = path.join(dir, 'redis');
    fs.mkdirSync(redisDir);
    redisPort = await freePort();
    redis = await startRedis(redisBin, redisDir, redisPort);
  }

  // Accounts are SQLite in the shared data directory: the CLI writes them before the servers run.
  for (const name of USERS) {
    const r = tessera(['user', 'add', name, '--password-stdin', '--data', data], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.err);
  }
  const root = tessera(['user', 'add', 'root', '--role', 'admin', '--password-stdin', '--data', data],
                       `${PASSWORD}\n`);
  assert.equal(root.code, 0, root.err);
  // A first, alone: it makes the signing keyset in the shared data directory; B and C read it.
  servers.A = await startServer(data, serverEnv());
  [servers.B, servers.C] = await Promise.all([startServer(data, serverEnv()), startServer(data, serverEnv())]);
  for (const n of ['A', 'B', 'C']) url[n] = servers[n].url;
  nginx = await startNginx(nginxBin, path.join(dir, 'nginx'), ['A', 'B', 'C'].map((n) => servers[n].port));
  viaNginx = `http://127.0.0.1:${nginx.port}`;
  for (const n of ['A', 'B', 'C']) {
    const ready = await call(url[n], 'GET', '/readyz');
    assert.equal(ready.status, 200, `${n} /readyz: ${ready.text}`);
    // The durable settings above: no startup warning about weak persistence.
    assert.doesNotMatch(servers[n].output(), /warning/i, `${n}: ${servers[n].output()}`);
  }
  // The same keyset everywhere (one file).
  const jwks = await Promise.all(['A', 'B', 'C'].map(async (n) => (await call(url[n], 'GET', '/.well-known/jwks.json')).text));
  assert.equal(jwks[1], jwks[0]);
  assert.equal(jwks[2], jwks[0]);
});

// Every process and the temp dir go, whatever happened above.
after(async () => {
  await stopProc(nginx, 'SIGQUIT');
  await stopServers(servers);
  await stopProc(redis);
  for (const n of clusterNodes) await stopProc(n.proc);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Last resort if the test process dies in between: nothing left behind.
process.on('exit', () => {
  for (const p of [nginx?.child, redis?.child, ...clusterNodes.map((n) => n.proc?.child),
                   ...Object.values(servers).map((s) => s.child)]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
  }
});

// ---- the tests ----------------------------------------------------------------------------------

test('(1) a session made on A works on B and C, and through nginx on whichever answers', T, async () => {
  const s = await cookieLogin(url.A, 'alice');
  assert.deepEqual(await statusesEverywhere(s), { A: 200, B: 200, C: 200 });
  for (const n of ['B', 'C']) {
    const me = await call(url[n], 'GET', '/v1/me', { headers: withCookie(s.secret) });
    assert.equal(me.status, 200, `${n}: ${me.text}`);
    assert.equal(me.json.username, 'alice');
    assert.equal(me.json.sid, s.sid);
    assert.equal(me.json.csrf_token, s.csrf, `${n} derives the same CSRF token`);
  }
  const served = new Map();
  for (let i = 0; i < 10; ++i) {
    const r = await call(viaNginx, 'GET', '/v1/auth', { headers: withCookie(s.secret) });
    assert.equal(r.status, 200, `request ${i} through nginx (${r.headers.get('x-upstream')}): ${r.text}`);
    assert.equal(r.headers.get('x-auth-user'), 'alice');
    assert.equal(r.headers.get('x-auth-session'), s.sid);
    const up = r.headers.get('x-upstream');
    served.set(up, (served.get(up) ?? 0) + 1);
  }
  const expected = ['A', 'B', 'C'].map((n) => `127.0.0.1:${servers[n].port}`).sort();
  assert.deepEqual([...served.keys()].sort(), expected,
                   `round-robin reaches every instance: ${JSON.stringify([...served])}`);
  // Without the cookie, every instance refuses through nginx too.
  for (let i = 0; i < 3; ++i) assert.equal((await call(viaNginx, 'GET', '/v1/auth')).status, 401);
});

test('(2) a logout on B is refused on C and A within milliseconds; bearer revocations reach C', T, async (t) => {
  const s = await cookieLogin(url.A, 'bob');
  // Every instance caches the session.
  assert.deepEqual(await statusesEverywhere(s), { A: 200, B: 200, C: 200 });
  const out = await logoutCookie(url.B, s);
  assert.equal(out.status, 204, out.text);
  // No sleep: asked at once, and again every millisecond until refused (within a second).
  const refusedOnC = await pollUntil(async () => (await authStatus(url.C, s)) === 401,
                                     'C refuses the cookie after B\'s logout',
                                     { timeout: 1000, interval: 1 });
  t.diagnostic(`cookie logout on B: refused on C after ${refusedOnC} ms`);
  assert.deepEqual(await settled(s, { A: 401, B: 401, C: 401 }), { A: 401, B: 401, C: 401 });

  // A bearer logout on B: the access token issued by A, verified (and cached) on C, is refused
  // there within milliseconds.
  const tok = await tokenLogin(url.A, 'carol');
  assert.equal(await meBearer(url.C, tok.at), 200, 'the access token of A on C');
  assert.equal(await meBearer(url.C, tok.at), 200, 'again (from C\'s verified-token cache)');
  const bye = await call(url.B, 'POST', '/v1/logout', { headers: bearer(tok.at) });
  assert.equal(bye.status, 204, bye.text);
  const ms = await pollUntil(async () => (await meBearer(url.C, tok.at)) === 401 || 'not yet',
                             'the access token on C after a bearer logout on B', { timeout: 1000, interval: 10 });
  t.diagnostic(`bearer logout on B: refused on C after ${ms} ms`);
  assert.ok(ms <= 1000, `refused on C after ${ms} ms`);
  assert.equal(await meBearer(url.A, tok.at), 401, 'and on A');
  const r1 = await refresh(url.C, tok.rt);
  assert.equal(r1.status, 400, `the refresh token of the ended session on C: ${r1.text}`);
  assert.equal(r1.json?.error, 'invalid_grant');

  // RFC 7009 revocation of the refresh token on B ends the session: its access token stops on C.
  const tok2 = await tokenLogin(url.A, 'carol');
  assert.equal(await meBearer(url.C, tok2.at), 200, 'the second access token on C');
  const auth = `Basic ${Buffer.from(`cluster:${CLIENT_SECRET}`).toString('base64')}`;
  const rv = await call(url.B, 'POST', '/v1/revoke', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
    body: new URLSearchParams({ token: tok2.rt, token_type_hint: 'refresh_token' }).toString(),
  });
  assert.equal(rv.status, 200, rv.text);
  const ms2 = await pollUntil(async () => (await meBearer(url.C, tok2.at)) === 401 || 'not yet',
                              'the access token on C after /v1/revoke of its refresh token on B',
                              { timeout: 1000, interval: 10 });
  t.diagnostic(`refresh token revoked on B: access token refused on C after ${ms2} ms`);
  assert.ok(ms2 <= 1000, `refused on C after ${ms2} ms`);
  const r2 = await refresh(url.A, tok2.rt);
  assert.equal(r2.status, 400, `the revoked refresh token on A: ${r2.text}`);
});

test('(3) "sign out of all other devices" on B, then logout: no session of the user is left anywhere', T, async () => {
  // session.max_per_user = 2 (test 4) holds here too: of three logins, two sessions live. Which
  // one the third login evicts is test 4b's business; here every instance must agree on it.
  const a = await cookieLogin(url.A, 'dave');
  const b = await cookieLogin(url.B, 'dave');
  const c = await cookieLogin(url.C, 'dave');
  const initial = {};
  for (const [k, s] of Object.entries({ a, b, c })) initial[k] = await statusesEverywhere(s);
  const alive = Object.keys(initial).filter((k) => initial[k].A === 200);
  for (const k of Object.keys(initial)) {
    const v = initial[k].A;
    assert.deepEqual(initial[k], { A: v, B: v, C: v }, `every instance agrees on ${k}: ${JSON.stringify(initial)}`);
  }
  assert.equal(alive.length, MAX_PER_USER, `live sessions after three logins: ${JSON.stringify(initial)}`);
  assert.ok(alive.includes('c'), 'the newest session is never the one evicted');
  const other = { a, b }[alive.find((k) => k !== 'c')];

  // DELETE /v1/sessions ends every session of the user but the caller's (the account page's
  // "Sign out of all other devices"); the caller, logged in on C, asks B.
  const all = await call(url.B, 'DELETE', '/v1/sessions', { headers: withCookie(c.secret, { 'x-csrf-token': c.csrf }) });
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.json, { revoked: 1 });
  assert.deepEqual(await settled(other, { A: 401, B: 401, C: 401 }), { A: 401, B: 401, C: 401 },
                   'the other device, within milliseconds');
  assert.deepEqual(await statusesEverywhere(c), { A: 200, B: 200, C: 200 }, 'the caller keeps its own');
  const list = await call(url.A, 'GET', '/v1/sessions', { headers: withCookie(c.secret) });
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.json.map((x) => x.id), [c.sid]);

  // And then this one: nothing is left.
  const out = await logoutCookie(url.B, c);
  assert.equal(out.status, 204, out.text);
  for (const s of [a, b, c]) {
    assert.deepEqual(await settled(s, { A: 401, B: 401, C: 401 }), { A: 401, B: 401, C: 401 });
  }
});

test('(4) session.max_per_user = 2 holds under 20 parallel logins spread over A, B and C', T, async (t) => {
  const names = ['A', 'B', 'C'];
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => loginRequest(url[names[i % 3]], 'erin')));
  t.diagnostic(`20 parallel logins in ${Date.now() - started} ms`);
  const statuses = answers.map((r) => r.status);
  assert.deepEqual(statuses, Array(20).fill(200), `evict_oldest never refuses a login: ${answers.map((r) => r.text).join('\n')}`);
  const secrets = answers.map((r) => r.setCookie.find((c) => c.startsWith(`${COOKIE}=`)).slice(COOKIE.length + 1).split(';')[0]);
  const live = {};
  for (const n of names) {
    live[n] = [];
    for (let i = 0; i < secrets.length; ++i) {
      if (await authStatus(url[n], { secret: secrets[i] }) === 200) live[n].push(i);
    }
  }
  t.diagnostic(`live cookies: ${JSON.stringify(live)}`);
  assert.equal(live.A.length, MAX_PER_USER, `cookies that authenticate on A: ${JSON.stringify(live)}`);
  assert.deepEqual(live.B, live.A, 'B agrees with A');
  assert.deepEqual(live.C, live.A, 'C agrees with A');
  const list = await call(url.B, 'GET', '/v1/sessions', { headers: withCookie(secrets[live.A[0]]) });
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.length, MAX_PER_USER, JSON.stringify(list.json));
  assert.deepEqual(list.json.map((s) => s.id).sort(), live.A.map((i) => answers[i].json.session.id).sort());
});

test('(4b) evict_oldest evicts the oldest session, whichever instance made it', T, async (t) => {
  // Three logins in a row, on A, B and C, usually within one second: the first must go, the other
  // two stay, on every instance. Sessions carry their creation time in seconds; within one second
  // the order of the logins decides (as the SQLite store has it: ORDER BY created_at, rowid).
  // Six rounds, each starting with no session of the user.
  const rounds = [];
  for (let round = 0; round < 6; ++round) {
    const first = await cookieLogin(url.A, 'ken');
    const second = await cookieLogin(url.B, 'ken');
    const third = await cookieLogin(url.C, 'ken');
    const seen = {};
    seen.first = await settled(first, { A: 401, B: 401, C: 401 });
    seen.second = await statusesEverywhere(second);
    seen.third = await statusesEverywhere(third);
    rounds.push(seen);
    for (const s of [first, second, third]) {
      if ((await authStatus(url.A, s)) === 200) assert.equal((await logoutCookie(url.A, s)).status, 204);
    }
  }
  t.diagnostic(`after three logins per round: ${JSON.stringify(rounds)}`);
  const want = { first: { A: 401, B: 401, C: 401 }, second: { A: 200, B: 200, C: 200 },
                 third: { A: 200, B: 200, C: 200 } };
  rounds.forEach((seen, i) => assert.deepEqual(seen, want, `round ${i}: ${JSON.stringify(seen)}`));
});

test('(5) failed sign-ins are counted once for all instances', T, async () => {
  // throttle.login_per_user = 5/min (default): the 5th failure starts a block, so the 6th attempt
  // is refused with 429 whichever instance gets it, even with the right password.
  const order = ['A', 'B', 'C', 'A', 'B'];
  for (let i = 0; i < order.length; ++i) {
    const r = await loginRequest(url[order[i]], 'frank', { password: `wrong password ${i}` });
    assert.equal(r.status, 401, `failure ${i + 1} on ${order[i]}: ${r.status} ${r.text}`);
    assert.equal(r.json?.error, 'invalid_credentials');
  }
  for (const n of ['C', 'A', 'B']) {
    const r = await loginRequest(url[n], 'frank');
    assert.equal(r.status, 429, `attempt 6+ (right password) on ${n}: ${r.status} ${r.text}`);
    assert.equal(r.json?.error, 'too_many_attempts');
    assert.ok(Number(r.headers.get('retry-after')) > 0, `Retry-After on ${n}: ${r.headers.get('retry-after')}`);
    assert.equal(r.setCookie.length, 0, 'no cookie while throttled');
  }
  // Another account is not blocked by frank's counter.
  await cookieLogin(url.C, 'grace');
});

test('(5b) an administrator disables, resets and deletes an account on B: its sessions end on A and C at once', T, async (t) => {
  const admin = await cookieLogin(url.B, 'root');
  const patch = (body) => call(url.B, 'PATCH', '/v1/admin/users/leo', {
    headers: withCookie(admin.secret, { 'x-csrf-token': admin.csrf, 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  const s = await cookieLogin(url.A, 'leo');
  const tok = await tokenLogin(url.C, 'leo');
  assert.deepEqual(await statusesEverywhere(s), { A: 200, B: 200, C: 200 });
  assert.equal(await meBearer(url.A, tok.at), 200);

  const r = await patch({ disabled: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user.disabled, true);
  const ms = await pollUntil(async () => (await authStatus(url.C, s)) === 401 || 'not yet',
                             'the disabled account\'s cookie on C', { timeout: 1000, interval: 1 });
  t.diagnostic(`disabled on B: cookie refused on C after ${ms} ms`);
  assert.deepEqual(await settled(s, { A: 401, B: 401, C: 401 }), { A: 401, B: 401, C: 401 });
  await pollUntil(async () => (await meBearer(url.A, tok.at)) === 401 || 'not yet',
                  'the disabled account\'s access token on A', { timeout: 1000, interval: 5 });
  for (const n of ['A', 'C']) {
    const login = await loginRequest(url[n], 'leo');
    assert.equal(login.status, 401, `a sign-in of the disabled account on ${n}: ${login.text}`);
    assert.equal(login.json?.error, 'invalid_credentials');
  }
  assert.equal((await patch({ disabled: false })).status, 200);

  // A password reset on B ends the session made on A; a deletion on B leaves nothing anywhere.
  const again = await cookieLogin(url.A, 'leo');
  const asAdmin = withCookie(admin.secret, { 'x-csrf-token': admin.csrf, 'content-type': 'application/json' });
  const reset = await call(url.B, 'POST', '/v1/admin/users/leo/password',
                           { headers: asAdmin, body: JSON.stringify({ password: 'a passphrase set by the admin 2027' }) });
  assert.equal(reset.status, 204, reset.text);
  assert.deepEqual(await settled(again, { A: 401, B: 401, C: 401 }), { A: 401, B: 401, C: 401 });
  const last = await loginRequest(url.C, 'leo', { password: 'a passphrase set by the admin 2027' });
  assert.equal(last.status, 200, last.text);
  const gone = await call(url.B, 'DELETE', '/v1/admin/users/leo', { headers: asAdmin });
  assert.equal(gone.status, 204, gone.text);
  for (const n of ['A', 'C']) {
    const login = await loginRequest(url[n], 'leo', { password: 'a passphrase set by the admin 2027' });
    assert.equal(login.status, 401, `a sign-in of the deleted account on ${n}: ${login.text}`);
  }
});

test('(6) 50 parallel refreshes of one refresh token over A, B and C issue at most one successor', T, async (t) => {
  const tok = await tokenLogin(url.A, 'heidi');
  const names = ['A', 'B', 'C'];
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => refresh(url[names[i % 3]], tok.rt)));
  const byStatus = {};
  for (const r of answers) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  const ok = answers.filter((r) => r.status === 200);
  const successors = new Set(ok.map((r) => r.json.refresh_token));
  t.diagnostic(`statuses: ${JSON.stringify(byStatus)}; distinct successors: ${successors.size}; ` +
               `errors: ${JSON.stringify([...new Set(answers.filter((r) => r.status !== 200).map((r) => r.text))])}`);
  assert.ok(successors.size <= 1, `distinct successor refresh tokens: ${successors.size}`);
  for (const r of answers) {
    assert.ok(r.status === 200 || (r.status === 400 && r.json?.error === 'invalid_grant'),
              `only 200 or 400 invalid_grant: ${r.status} ${r.text}`);
  }
  if (ok.length === answers.length) {
    // All grace replays: the family goes on with the one successor, on any instance.
    const [next] = successors;
    const at = ok[0].json.access_token;
    assert.equal(await meBearer(url.B, at), 200);
    const again = await refresh(url.C, next);
    assert.equal(again.status, 200, `the successor rotates: ${again.text}`);
    assert.equal(await meBearer(url.A, again.json.access_token), 200);
  } else {
    // Some were refused: then the family must have ended for everyone (reuse detected), never
    // half-alive.
    for (const r of ok) {
      const status = await meBearer(url.A, r.json.access_token);
      assert.equal(status, 401, 'an access token of a family some replay ended');
    }
    for (const rt of successors) assert.equal((await refresh(url.B, rt)).status, 400);
  }
});

test('(7) Redis stopped: fail closed, recover on SIGCONT; killed and restarted: nothing lost', T, async (t) => {
  const s = await cookieLogin(url.A, 'ivan');
  const tok = await tokenLogin(url.B, 'ivan');
  assert.equal(await authStatus(url.A, s), 200, 'cached on A');
  assert.equal(await meBearer(url.A, tok.at), 200);

  redis.child.kill('SIGSTOP');
  const stopped = Date.now();
  const seen = [];
  let afterBound = null;
  try {
    while (Date.now() - stopped < 6000) {
      const at = Date.now() - stopped;
      const r = await call(url.A, 'GET', '/v1/auth', { headers: withCookie(s.secret), timeout: 8000 });
      seen.push({ at, status: r.status, ms: r.ms });
      assert.notEqual(r.status, 401, `a 401 while Redis is stopped would end the session (at ${at} ms)`);
      assert.equal(r.setCookie.length, 0, `no Set-Cookie while Redis is stopped: ${r.setCookie}`);
      if (at >= 2500) { afterBound = r; break; }
      await sleep(100);
    }
    t.diagnostic(`/v1/auth on A while Redis is stopped: ${JSON.stringify(seen)}`);
    assert.ok(afterBound, 'a request 2.5 s into the stop');
    assert.equal(afterBound.status, 503, `the cached cookie 2.5 s into the stop: ${afterBound.status} ${afterBound.text}`);
    const ready = await call(url.A, 'GET', '/readyz', { timeout: 8000 });
    assert.equal(ready.status, 503, `/readyz while Redis is stopped: ${ready.text}`);
    const me = await call(url.C, 'GET', '/v1/me', { headers: bearer(tok.at), timeout: 8000 });
    assert.equal(me.status, 503, `a bearer token while the feed is silent: ${me.status} ${me.text}`);
  } finally {
    redis.child.kill('SIGCONT');
  }
  const resumed = Date.now();
  const back = await pollUntil(async () => (await authStatus(url.A, s)) === 200 || 'not yet',
                               'the cookie on A after SIGCONT', { timeout: 5000, interval: 100 });
  t.diagnostic(`cookie good again ${Date.now() - resumed} ms after SIGCONT (poll ${back} ms)`);
  await pollUntil(async () => (await meBearer(url.C, tok.at)) === 200 || 'not yet', 'the bearer on C after SIGCONT');
  await pollUntil(async () => (await call(url.A, 'GET', '/readyz')).status === 200 || 'not yet', '/readyz on A after SIGCONT');

  // Kill -9: what was answered 2xx before must be there after the restart (AOF, fsync always).
  const ended = await cookieLogin(url.B, 'judy');
  const live = await cookieLogin(url.C, 'judy');
  assert.deepEqual(await statusesEverywhere(ended), { A: 200, B: 200, C: 200 });
  const out = await logoutCookie(url.A, ended);
  assert.equal(out.status, 204, out.text);
  const endedTok = await tokenLogin(url.A, 'alice');
  assert.equal((await call(url.A, 'POST', '/v1/logout', { headers: bearer(endedTok.at) })).status, 204);

  await stopProc(redis, 'SIGKILL');
  if (CLUSTER) {
    // The same node again (its nodes.conf and its append-only file): it rejoins with its slots.
    clusterNodes[0].proc = redis = await startRedis(redisBin, redisDir, redisPort, clusterNodes[0]);
    await clusterOk(clusterNodes.map((n) => n.port));
  } else {
    redis = await startRedis(redisBin, redisDir, redisPort);
  }
  const restarted = Date.now();
  const liveBack = await pollUntil(async () => {
    const st = await statusesEverywhere(live);
    return (st.A === 200 && st.B === 200 && st.C === 200) || st;
  }, 'a live session on every instance after the Redis restart', { timeout: 5000, interval: 100 });
  t.diagnostic(`live session good on A, B, C ${Date.now() - restarted} ms after the restart (poll ${liveBack} ms)`);
  // Refused, not just unavailable: the store answers again and still knows the logout.
  assert.deepEqual(await statusesEverywhere(ended), { A: 401, B: 401, C: 401 }, 'a logout answered before the kill');
  // Bearer checks wait for each instance's revocation list: its follower reconnects (retrying every
  // 100 ms) and reloads (a restarted Redis is a new feed), which may come a little after cookie
  // checks, which read the store directly, work again. Until then they answer 503, never 200.
  // The logged-out token alone cannot tell (a list still held from before the kill refuses it
  // too), and neither can a live one: a list confirmed just before the kill still counts as
  // current for its staleness bound, while the follower may not even have seen its connection
  // reset yet. /readyz (below) says when each follower reads the restarted feed.
  const bearerBack = await pollUntil(async () => {
    const st = {};
    for (const n of ['A', 'B', 'C']) {
      st[n] = { ended: await meBearer(url[n], endedTok.at), live: await meBearer(url[n], tok.at) };
    }
    assert.ok(Object.values(st).every((x) => x.ended === 401 || x.ended === 503),
              `never 200: ${JSON.stringify(st)}`);
    return Object.values(st).every((x) => x.ended === 401 && x.live === 200) || st;
  }, 'the bearer logged out before the kill refused (401), a live one accepted, on A, B and C',
  { timeout: 5000, interval: 50 });
  t.diagnostic(`bearer revocations current on A, B, C ${Date.now() - restarted} ms after the restart (poll ${bearerBack} ms)`);
  assert.equal((await refresh(url.B, endedTok.rt)).status, 400);
  const r = await refresh(url.C, tok.rt);
  assert.equal(r.status, 200, `a live refresh token after the restart: ${r.text}`);
  // Each follower reconnects by itself (retrying every 100 ms) and reads the restarted feed.
  for (const n of ['A', 'B', 'C']) {
    let last = null;
    await pollUntil(async () => {
      last = await call(url[n], 'GET', '/readyz');
      return last.status === 200 || last.text;
    }, `${n} /readyz after the restart`, { timeout: 5000, interval: 50 }).catch((e) => {
      assert.fail(`${e.message}\n${last?.text}\n${outputs()}`);
    });
  }
  assert.ok(Object.values(servers).every((x) => x.child.exitCode === null), `no instance died:\n${outputs()}`);
});

// Next to last: it kills C.
test('(8) a killed instance does not disturb the others', T, async () => {
  const earlier = await cookieLogin(url.A, 'grace');
  servers.C.child.kill('SIGKILL');
  await servers.C.exited;
  assert.deepEqual(await statusesEverywhere(earlier, ['A', 'B']), { A: 200, B: 200 });
  const s = await cookieLogin(url.B, 'alice');
  assert.deepEqual(await statusesEverywhere(s, ['A', 'B']), { A: 200, B: 200 });
  const out = await logoutCookie(url.A, s);
  assert.equal(out.status, 204, out.text);
  assert.deepEqual(await settled(s, { A: 401, B: 401 }, ['A', 'B']), { A: 401, B: 401 },
                   'a logout on A is refused on B within milliseconds');
  // nginx passes over the dead instance (proxy_next_upstream error).
  for (let i = 0; i < 10; ++i) {
    const r = await call(viaNginx, 'GET', '/v1/auth', { headers: withCookie(earlier.secret) });
    assert.equal(r.status, 200, `request ${i} through nginx with C dead (${r.headers.get('x-upstream')}): ${r.text}`);
  }
  for (const n of ['A', 'B']) assert.equal((await call(url[n], 'GET', '/readyz')).status, 200);
});

// Last: the survivors stop on SIGTERM, cleanly (and, in the sanitizer build, without a report).
test('A and B stop cleanly', T, async () => {
  for (const n of ['A', 'B']) {
    servers[n].child.kill('SIGTERM');
    const exit = await servers[n].exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `${n}:\n${servers[n].output()}`);
    assert.doesNotMatch(servers[n].output(), /Sanitizer|runtime error/, `${n}:\n${servers[n].output()}`);
  }
  assert.doesNotMatch(servers.C.output(), /Sanitizer|runtime error/, `C:\n${servers.C.output()}`);
});
