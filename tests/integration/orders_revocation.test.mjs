// examples/orders-service following tessera's revocations (GET /v1/revocations, through
// token::Verifier's subscription) against a real `tessera serve`: a logout is refused at the
// service within 50 ms with no call to tessera per request; a restarted tessera is caught up
// from the service's cursor; an unreachable or frozen tessera makes the service fail closed
// (503) once its staleness bound has passed, and it recovers by itself.
// Run by ctest (orders_revocation_integration) with TESSERA_BIN and ORDERS_BIN set, or by hand:
//   TESSERA_BIN=build/tessera ORDERS_BIN=build/examples/orders-service/orders-service \
//     node --test tests/integration/orders_revocation.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { TokenServer, pollUntil, sha256hex, sleep, stop } from './token_fixture.mjs';
import { freePort, startServer } from './tessera.mjs';
import { ORDERS_BIN, bearer, getOrders, ordersStatus, startOrders } from './orders_fixture.mjs';

const SECRET = 'orders-feed-secret-0123456789abcdef';
const STALENESS_MS = 3000;
const T = { timeout: 60000 };

let fx, svc;

before(async () => {
  assert.ok(ORDERS_BIN && fs.existsSync(ORDERS_BIN), 'ORDERS_BIN must name orders-service');
  // A fixed port: the service must find tessera again after a restart.
  fx = await TokenServer.start({
    users: { alice: [], bob: [], carol: [], dave: [], erin: [], frank: [] },
    env: { TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(SECRET)}` },
    listen: `127.0.0.1:${await freePort()}`,
    prefix: 'tessera-orders-feed-',
  });
  svc = await startOrders(fx.base, ['--client-id', 'orders', '--revocation-staleness-ms', String(STALENESS_MS)],
                          { ORDERS_CLIENT_SECRET: SECRET });
});

after(async () => {
  if (svc) await stop(svc);
  if (fx) await fx.close();
});

// Requests tessera has answered, by route (its /metrics), the operations routes left out.
async function answered() {
  const text = await (await fx.fetch('/metrics')).text();
  const out = {};
  for (const m of text.matchAll(/^tessera_http_request_duration_seconds_count\{route="([a-z_]+)"\} (\d+)/gm)) {
    if (m[1] !== 'metrics' && m[1] !== 'health') out[m[1]] = Number(m[2]);
  }
  return out;
}

async function health() {
  const res = await fetch(`${svc.url}/healthz`);
  return { status: res.status, body: await res.json() };
}

const logout = async (at) => {
  const res = await fx.call('POST', '/v1/logout', at);
  return res.status;
};

test('orders-service does not start without the revocation list', T, async () => {
  await assert.rejects(
    startOrders(fx.base, ['--client-id', 'orders'], { ORDERS_CLIENT_SECRET: 'wrong-secret' }),
    /exited 1[\s\S]*HTTP status 401 invalid_client/);
  await assert.rejects(startOrders(fx.base, ['--client-id', 'orders'], { ORDERS_CLIENT_SECRET: '' }),
                       /exited 1[\s\S]*client id and secret/);
  // A bound the long poll cannot keep within.
  await assert.rejects(
    startOrders(fx.base, ['--client-id', 'orders', '--revocation-staleness-ms', '500'],
                { ORDERS_CLIENT_SECRET: SECRET }),
    /exited 1[\s\S]*max_staleness_ms/);
});

test('a logout is refused at the service within 50 ms, with no call to tessera per request', T, async (t) => {
  const h = await health();
  assert.equal(h.status, 200, JSON.stringify(h.body));
  assert.equal(h.body.revocations.current, true);
  assert.equal(h.body.revocations.snapshots, 1);

  // Many requests at the service; tessera sees only the long polls, about one a second.
  const a = await fx.tokenLogin('alice');
  const before = await answered();
  const started = Date.now();
  for (let i = 0; i < 200; ++i) assert.equal(await ordersStatus(svc, a.at), 200, `request ${i}`);
  const elapsed = Date.now() - started;
  const after = await answered();
  const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before[k] ?? 0)]));
  t.diagnostic(`200 verified requests in ${elapsed} ms; requests tessera answered meanwhile: ${JSON.stringify(delta)}`);
  for (const [route, n] of Object.entries(delta)) {
    if (route !== 'oauth') assert.equal(n, 0, `${route} requests at tessera: ${JSON.stringify(delta)}`);
  }
  assert.ok(delta.oauth <= Math.ceil(elapsed / 1000) + 2, `long polls only: ${JSON.stringify(delta)}`);

  // Logouts, each refused at the service within 50 ms of tessera's answer.
  const took = [];
  for (const name of ['bob', 'carol', 'dave']) {
    const s = await fx.tokenLogin(name);
    assert.equal(await ordersStatus(svc, s.at), 200);
    await sleep(300);  // somewhere inside a long poll, not right after a login
    assert.equal(await logout(s.at), 204);
    const loggedOut = Date.now();
    let status;
    do {
      status = await ordersStatus(svc, s.at);
    } while (status === 200 && Date.now() - loggedOut < 2000);
    took.push(Date.now() - loggedOut);
    assert.equal(status, 401, `${name}'s token after the logout`);
  }
  t.diagnostic(`logout answered -> refused at the service: ${took.join(', ')} ms`);
  for (const ms of took) assert.ok(ms <= 50, `refused ${ms} ms after the logout (bound 50 ms)`);
  const res = await getOrders(svc, bearer(a.at));
  assert.equal(res.status, 200, 'a live session is untouched');
});

test('tessera restarted mid-poll: the service catches up from its cursor', T, async (t) => {
  const e = await fx.tokenLogin('erin');
  assert.equal(await ordersStatus(svc, e.at), 200);
  const before = (await health()).body.revocations;
  const stopped = await fx.restart();
  assert.equal(stopped.code, 0, 'a clean stop');
  const restarted = Date.now();
  // Logged out on the new process: the service continues its cursor there and refuses the token.
  assert.equal(await logout(e.at), 204);
  const refused = await pollUntil(async () => (await ordersStatus(svc, e.at)) === 401,
                                  'the logout after the restart, refused at the service',
                                  { timeout: 5000, interval: 10 });
  t.diagnostic(`refused ${Date.now() - restarted} ms after the restart (poll ${refused} ms)`);
  const now = (await health()).body.revocations;
  assert.equal(now.current, true);
  assert.equal(now.snapshots, before.snapshots, 'continued from its cursor, not a new snapshot');
  // And what was refused before the restart still is.
  const earlier = await fx.tokenLogin('alice');
  assert.equal(await ordersStatus(svc, earlier.at), 200);
});

test('tessera unreachable past the bound: the service fails closed, then recovers by itself', T, async (t) => {
  const f = await fx.tokenLogin('frank');
  assert.equal(await ordersStatus(svc, f.at), 200);

  // Stopped: connections refused.
  await stop(fx.server);
  const down = Date.now();
  const seen = [];
  let first503 = null;
  while (Date.now() - down < STALENESS_MS + 3000) {
    const status = await ordersStatus(svc, f.at);
    seen.push(status);
    assert.ok(status === 200 || status === 503, `only 200 or 503 while tessera is away: ${status}`);
    if (status === 503) { first503 = Date.now() - down; break; }
    await sleep(50);
  }
  assert.ok(first503 !== null, `503 within ${STALENESS_MS + 3000} ms: ${seen.join(',')}`);
  t.diagnostic(`tessera stopped: 503 from ${first503} ms (bound ${STALENESS_MS} ms)`);
  assert.ok(first503 >= STALENESS_MS - 2000, `not before the bound minus a poll: ${first503} ms`);
  const res = await getOrders(svc, bearer(f.at));
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), '1');
  assert.equal((await res.json()).error, 'unavailable');
  assert.equal((await health()).status, 503);

  fx.server = await startServer(fx.data, fx.env, { listen: fx.listen });
  const back = Date.now();
  await pollUntil(async () => (await ordersStatus(svc, f.at)) === 200, 'accepted again once tessera is back',
                  { timeout: 6000, interval: 50 });
  t.diagnostic(`tessera started again: accepted ${Date.now() - back} ms later`);
  assert.equal((await health()).status, 200);

  // Frozen: connections open, nothing answers. The same bound holds.
  fx.server.child.kill('SIGSTOP');
  const frozen = Date.now();
  try {
    await pollUntil(async () => (await ordersStatus(svc, f.at)) === 503, 'a 503 while tessera is frozen',
                    { timeout: STALENESS_MS + 3000, interval: 50 });
    t.diagnostic(`tessera frozen: 503 from ${Date.now() - frozen} ms`);
  } finally {
    fx.server.child.kill('SIGCONT');
  }
  const thawed = Date.now();
  await pollUntil(async () => (await ordersStatus(svc, f.at)) === 200, 'accepted again after SIGCONT',
                  { timeout: 10000, interval: 50 });
  t.diagnostic(`tessera thawed: accepted ${Date.now() - thawed} ms later`);
  assert.equal(await logout(f.at), 204);
  await pollUntil(async () => (await ordersStatus(svc, f.at)) === 401, 'a logout after the recovery',
                  { timeout: 1000, interval: 10 });
  assert.ok(!svc.output().includes(SECRET), 'the client secret never in the service log');
});
