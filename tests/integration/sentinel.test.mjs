// Two `tessera serve` instances on a Redis Sentinel group (session.store =
// "redis+sentinel://…?wait_replicas=1") behind real nginx: a primary, two replicas and three
// sentinels on loopback. The primary is killed (SIGKILL), later the next one is frozen (SIGSTOP):
// the instances fail closed while there is no primary (503, never 200 for what cannot be known,
// never a cookie-clearing 401), follow the failover by themselves, and lose nothing they
// acknowledged (wait_replicas=1: a write is answered once a replica has it). A logout after the
// failover still reaches the other instance within milliseconds (the change feed of the new
// primary, reloaded after the switch).
// Run by ctest (sentinel_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/sentinel.test.mjs
// Needs redis-server, redis-cli and nginx (scripts/install-deps test); fails, never skips,
// without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BIN, findExecutable, freePort, launch, startServer, tessera } from './tessera.mjs';
import {
  authStatus, awaitListening, bearer, call, cookieLogin, logoutCookie, meBearer, PASSWORD,
  pollUntil, sleep, startNginx, stopProc, stopServers, tokenLogin, withCookie,
} from './cluster_client.mjs';

const GROUP = 'tessera-group';
const USERS = ['alice', 'bob', 'carol', 'dave'];
const T = { timeout: 90_000 };

let dir, redisBin, redisCli, nginx, viaNginx;
const nodes = {};      // P (first primary), R1, R2: { proc, port, dir, args }
const sentinels = [];  // { proc, port }
const servers = {};    // A, B
const url = {};

function cli(port, ...args) {
  const r = spawnSync(redisCli, ['-p', String(port), '--no-raw', ...args], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.trim() : '';
}
const roleOf = (port) => (cli(port, 'ROLE').split('\n')[0] || '').replace(/^1\) "?|"$/g, '');

async function startNode(name, extra) {
  const nodeDir = path.join(dir, name);
  fs.mkdirSync(nodeDir, { recursive: true });
  const port = nodes[name]?.port ?? await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--save', '',
                '--appendonly', 'no', '--maxmemory-policy', 'noeviction',
                '--repl-diskless-sync-delay', '0', '--daemonize', 'no', '--loglevel', 'warning',
                '--logfile', path.join(nodeDir, 'redis.log'), ...extra];
  const proc = launch(redisBin, args);
  await awaitListening(proc, port, `redis-server ${name}`, path.join(nodeDir, 'redis.log'));
  nodes[name] = { proc, port, dir: nodeDir };
}

async function startSentinel(i, primaryPort) {
  const sdir = path.join(dir, `sentinel${i}`);
  fs.mkdirSync(sdir);
  const port = await freePort();
  const conf = path.join(sdir, 'sentinel.conf');
  fs.writeFileSync(conf, [
    `port ${port}`, 'bind 127.0.0.1', `dir ${sdir}`, `logfile ${path.join(sdir, 'redis.log')}`,
    'loglevel warning', 'daemonize no',
    `sentinel monitor ${GROUP} 127.0.0.1 ${primaryPort} 2`,
    `sentinel down-after-milliseconds ${GROUP} 1000`,
    `sentinel failover-timeout ${GROUP} 4000`, ''].join('\n'));
  const proc = launch(redisBin, [conf, '--sentinel']);
  await awaitListening(proc, port, `sentinel ${i}`, path.join(sdir, 'redis.log'));
  sentinels.push({ proc, port });
}

// The port the sentinels name as the primary now.
const primaryPort = () => Number(cli(sentinels[0].port, 'SENTINEL', 'get-master-addr-by-name', GROUP)
  .split('\n')[1]?.replace(/^2\) "|"$/g, '') ?? 0);
const nodeAt = (port) => Object.keys(nodes).find((n) => nodes[n].port === port);

const outputs = () => Object.entries(servers)
  .map(([n, s]) => `--- ${n} ---\n${s.output().split('\n').slice(-30).join('\n')}`).join('\n');

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
  redisBin = findExecutable('redis-server', ['/usr/bin', '/usr/local/bin']);
  redisCli = findExecutable('redis-cli', ['/usr/bin', '/usr/local/bin']);
  assert.ok(redisBin && redisCli, 'redis-server and redis-cli are needed: run scripts/install-deps test');
  const nginxBin = findExecutable('nginx', ['/usr/sbin']);
  assert.ok(nginxBin, 'nginx is not installed (not in PATH nor /usr/sbin): run scripts/install-deps');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-sentinel-'));

  await startNode('P', []);
  for (const r of ['R1', 'R2']) await startNode(r, ['--replicaof', '127.0.0.1', String(nodes.P.port)]);
  for (let i = 0; i < 3; ++i) await startSentinel(i, nodes.P.port);
  // Formed: both replicas in sync, every sentinel knows both and the two other sentinels.
  await pollUntil(() => {
    const info = cli(nodes.P.port, 'INFO', 'replication');
    if (!/connected_slaves:2/.test(info) || (info.match(/state=online/g) ?? []).length !== 2) return 'replicas';
    for (const s of sentinels) {
      const m = cli(s.port, 'SENTINEL', 'master', GROUP);
      if (!/"num-slaves"\n\d+\) "2"/.test(m) || !/"num-other-sentinels"\n\d+\) "2"/.test(m)) return `sentinel ${s.port}`;
    }
    return true;
  }, 'the Sentinel group forms', { timeout: 30000, interval: 200 });

  const data = path.join(dir, 'data');
  for (const name of USERS) {
    const r = tessera(['user', 'add', name, '--password-stdin', '--data', data], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.err);
  }
  const store = `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${GROUP}?wait_replicas=1`;
  const env = {
    TESSERA_SESSION_STORE: store,
    TESSERA_SERVER_TRUSTED_PROXIES: '127.0.0.1',
    TESSERA_TOKEN_ISSUER: 'https://auth.sentinel.test',
    TESSERA_SERVER_ACCESS_LOG: 'off',
  };
  servers.A = await startServer(data, env);
  servers.B = await startServer(data, env);
  for (const n of ['A', 'B']) url[n] = servers[n].url;
  nginx = await startNginx(nginxBin, path.join(dir, 'nginx'), [servers.A.port, servers.B.port]);
  viaNginx = `http://127.0.0.1:${nginx.port}`;
  for (const n of ['A', 'B']) {
    assert.equal((await call(url[n], 'GET', '/readyz')).status, 200);
    // wait_replicas=1: an acknowledged write survives the primary's crash; no persistence warning.
    assert.doesNotMatch(servers[n].output(), /warning/i, `${n}: ${servers[n].output()}`);
  }
});

after(async () => {
  await stopProc(nginx, 'SIGQUIT');
  await stopServers(servers);
  for (const s of sentinels) await stopProc(s.proc);
  for (const n of Object.values(nodes)) await stopProc(n.proc);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

process.on('exit', () => {
  for (const p of [nginx?.child, ...sentinels.map((s) => s.proc.child),
                   ...Object.values(nodes).map((n) => n.proc.child),
                   ...Object.values(servers).map((s) => s.child)]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
  }
});

// Checks the cookie through nginx until `done` says so: never a 401 or a Set-Cookie (the
// session is alive; its state may only be unknown), never 200 while the instances cannot know.
// Returns the statuses seen.
async function watchCookie(s, what, until, { timeout = 30000 } = {}) {
  const seen = [];
  const start = Date.now();
  for (;;) {
    const r = await call(viaNginx, 'GET', '/v1/auth', { headers: withCookie(s.secret), timeout: 8000 });
    if (seen.at(-1)?.status !== r.status) seen.push({ at: Date.now() - start, status: r.status });
    assert.ok(r.status === 200 || r.status === 503, `${what}: ${r.status} ${r.text} (${JSON.stringify(seen)})`);
    assert.equal(r.setCookie.length, 0, `${what}: a Set-Cookie ${r.setCookie}`);
    if (await until()) return seen;
    assert.ok(Date.now() - start < timeout, `${what}: not done after ${timeout} ms (${JSON.stringify(seen)})\n${outputs()}`);
    await sleep(100);
  }
}

// After a failover: the old cookie and token work on both instances, a new login is acknowledged,
// and a logout on one instance is refused on the other within a second.
async function worksAgain(t, s, tok, who) {
  const back = Date.now();
  await pollUntil(async () => {
    const st = [await authStatus(url.A, s), await authStatus(url.B, s),
                await meBearer(url.A, tok.at), await meBearer(url.B, tok.at)];
    assert.ok(st.every((x) => x === 200 || x === 503), `never 401 for live credentials: ${st}`);
    return st.every((x) => x === 200) || st;
  }, 'the cookie and the token made before the failover, on A and B', { timeout: 15000, interval: 100 });
  // A sign-in is a write: acknowledged once a replica of the new primary has it.
  let fresh;
  await pollUntil(async () => {
    const r = await call(url.B, 'POST', '/v1/login', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: who, password: PASSWORD }),
    });
    assert.ok(r.status === 200 || r.status === 503, `a sign-in after the failover: ${r.status} ${r.text}`);
    if (r.status === 200) fresh = r;
    return r.status === 200 || r.status;
  }, 'a sign-in on B after the failover', { timeout: 20000, interval: 200 });
  t.diagnostic(`${who}: everything works again ${Date.now() - back} ms after the new primary was named`);
  const secret = fresh.setCookie.find((c) => c.startsWith('__Host-tessera_session=')).split(';')[0].split('=')[1];
  const mine = { secret, csrf: fresh.json.csrf_token };
  assert.equal(await authStatus(url.A, mine), 200);
  const out = await logoutCookie(url.A, mine);
  assert.equal(out.status, 204, out.text);
  const ms = await pollUntil(async () => (await authStatus(url.B, mine)) === 401 || 'not yet',
                             'B refuses the cookie after A\'s logout', { timeout: 1000, interval: 2 });
  t.diagnostic(`logout on A refused on B after ${ms} ms (new primary)`);
}

test('(1) the primary killed: fail closed, the failover followed, nothing acknowledged lost', T, async (t) => {
  const s = await cookieLogin(viaNginx, 'alice');
  const tok = await tokenLogin(viaNginx, 'bob');
  const ended = await cookieLogin(url.A, 'carol');
  assert.equal((await logoutCookie(url.B, ended)).status, 204);
  assert.equal(await authStatus(url.A, s), 200);

  await stopProc(nodes.P.proc, 'SIGKILL');
  const killed = Date.now();
  const seen = await watchCookie(s, 'the cookie while the primary is dead',
                                 async () => primaryPort() !== nodes.P.port);
  t.diagnostic(`new primary ${nodeAt(primaryPort())} named ${Date.now() - killed} ms after the kill; through nginx: ${JSON.stringify(seen)}`);
  await worksAgain(t, s, tok, 'dave');
  // The logout answered before the kill holds on the new primary.
  assert.equal(await authStatus(url.A, ended), 401);
  assert.equal(await authStatus(url.B, ended), 401);

  // The old primary comes back, empty (no persistence): the sentinels make it a replica of the
  // new one, and the instances never take it for the primary.
  await startNode('P', []);
  await pollUntil(() => roleOf(nodes.P.port) === 'slave' || roleOf(nodes.P.port),
                  'the old primary rejoins as a replica', { timeout: 20000, interval: 200 });
  assert.equal(await authStatus(url.A, s), 200);
  assert.equal(await authStatus(url.B, ended), 401);
});

test('(2) the next primary frozen: the instances leave it behind at the switch, and it rejoins', T, async (t) => {
  const s = await cookieLogin(viaNginx, 'alice');
  const tok = await tokenLogin(viaNginx, 'bob');
  const frozenPort = primaryPort();
  const frozen = nodes[nodeAt(frozenPort)];
  frozen.proc.child.kill('SIGSTOP');
  const stopped = Date.now();
  try {
    const seen = await watchCookie(s, 'the cookie while the primary is frozen',
                                   async () => primaryPort() !== frozenPort);
    t.diagnostic(`new primary ${nodeAt(primaryPort())} named ${Date.now() - stopped} ms after SIGSTOP; through nginx: ${JSON.stringify(seen)}`);
    await worksAgain(t, s, tok, 'dave');
  } finally {
    frozen.proc.child.kill('SIGCONT');
  }
  await pollUntil(() => roleOf(frozenPort) === 'slave' || roleOf(frozenPort),
                  'the frozen primary rejoins as a replica', { timeout: 30000, interval: 200 });
  assert.equal(await authStatus(url.B, s), 200);
  assert.ok(Object.values(servers).every((x) => x.child.exitCode === null), `no instance died:\n${outputs()}`);
});
