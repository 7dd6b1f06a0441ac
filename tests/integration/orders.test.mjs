// examples/orders-service against a real `tessera serve`: a C++ service that links
// token::Verifier accepts tessera's access tokens and nothing else, follows a key rotation (an
// unknown kid makes it refetch the JWKS) and drops a revoked key (its periodic refetch).
// Run by ctest (orders_integration) with TESSERA_BIN and ORDERS_BIN set, or by hand:
//   TESSERA_BIN=build/tessera ORDERS_BIN=build/examples/orders-service/orders-service \
//     node --test tests/integration/orders.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';

import {
  TokenServer, assertInvalidToken, decodeJwt, es256, flipChar, forge, pollUntil, stop,
} from './token_fixture.mjs';
import { ORDERS_BIN, bearer, getOrders, ordersStatus, startOrders } from './orders_fixture.mjs';

async function publishedKids(fx) {
  const res = await fx.fetch('/.well-known/jwks.json');
  assert.equal(res.status, 200);
  return (await res.json()).keys.map((k) => k.kid);
}

// `rotating`: refetches only for an unknown kid (its periodic refresh is an hour away), so a
// token of a new key can only pass through the unknown-kid path. `refreshing`: refetches every
// second, so that a revoked key leaves it within a second or two.
let fx, rotating, refreshing;
let first, second;  // alice's tokens: signed by the first key, then by the key rotated in

before(async () => {
  assert.ok(ORDERS_BIN && fs.existsSync(ORDERS_BIN), 'ORDERS_BIN must name orders-service');
  fx = await TokenServer.start({ users: { alice: [], bob: [] }, prefix: 'tessera-orders-' });
  rotating = await startOrders(fx.base, ['--jwks-refresh', '3600']);
  refreshing = await startOrders(fx.base, ['--jwks-refresh', '1']);
  first = await fx.tokenLogin('alice');
});

after(async () => {
  for (const svc of [rotating, refreshing]) if (svc) await stop(svc);
  if (fx) await fx.close();
});

test('orders-service refuses to start without keys', async () => {
  // Nothing answers on port 1: it must exit non-zero rather than come up rejecting everyone.
  await assert.rejects(startOrders('http://127.0.0.1:1'), /exited 1/);
  // A discovery document naming another issuer is refused (OpenID Connect Discovery 4.3).
  const wrongIssuer = fx.base.replace('127.0.0.1', 'localhost');
  await assert.rejects(startOrders(wrongIssuer), /the document's issuer is/);
});

test('a token from tessera is accepted and names its user', async () => {
  for (const svc of [rotating, refreshing]) {
    const res = await getOrders(svc, bearer(first.at));
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = JSON.parse(text);
    assert.equal(body.user, fx.subs.alice);
    assert.equal(body.username, 'alice');
    assert.ok(Array.isArray(body.orders) && body.orders.length > 0, text);
  }
  const bob = await fx.tokenLogin('bob');
  const res = await getOrders(rotating, bearer(bob.at));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).user, fx.subs.bob);

  const health = await fetch(`${rotating.url}/healthz`);
  assert.equal(health.status, 200);
});

test('no token, garbage and forged tokens get 401', async () => {
  // No credentials: the challenge only (RFC 6750 section 3.1).
  const none = await getOrders(rotating);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer\b/);
  assert.ok(!(none.headers.get('www-authenticate') ?? '').includes('error='));
  assert.equal((await none.json()).error, 'invalid_token');

  const { header, payload, parts } = decodeJwt(first.at);
  const attacker = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const forged = {
    'a garbage token': 'garbage',
    'a Basic credential': null,
    'two spaces after Bearer': null,
    'a flipped signature character': flipChar(first.at, first.at.length - 10),
    'another user in the payload, the old signature':
      `${parts[0]}.${forge(header, { ...payload, sub: fx.subs.bob }).split('.')[1]}.${parts[2]}`,
    'alg none': forge({ ...header, alg: 'none' }, payload),
    'alg none with the signature kept': `${forge({ ...header, alg: 'none' }, payload)}${parts[2]}`,
    "an attacker's key under tessera's kid": forge(header, payload, es256(attacker)),
    "HS256 under tessera's kid": forge({ ...header, alg: 'HS256' }, payload,
                                       (input) => crypto.createHmac('sha256', 'x').update(input).digest()),
    'another audience, signed by the attacker': forge(header, { ...payload, aud: 'other' }, es256(attacker)),
  };
  for (const [what, token] of Object.entries(forged)) {
    let authorization = `Bearer ${token}`;
    if (what === 'a Basic credential') authorization = `Basic ${Buffer.from('alice:x').toString('base64')}`;
    if (what === 'two spaces after Bearer') authorization = `Bearer  ${first.at}`;
    await assertInvalidToken(await getOrders(rotating, { authorization }), what);
  }
  // The genuine token still passes: nothing above poisoned a cache.
  assert.equal(await ordersStatus(rotating, first.at), 200);
});

test('after a key rotation, the first token of the new key is accepted (unknown kid: refetch)',
  async () => {
    const oldKid = first.header.kid;
    const r = fx.cli(['keys', 'rotate', '--immediate']);
    assert.equal(r.code, 0, r.err);
    let newKid;
    await pollUntil(async () => {
      newKid = (await publishedKids(fx)).find((k) => k !== oldKid);
      return newKid;
    }, 'the new key in tessera\'s JWKS', { timeout: 10000, interval: 100 });
    await pollUntil(async () => {
      second = await fx.tokenLogin('alice');
      return second.header.kid === newKid;
    }, 'a token signed by the new key', { timeout: 10000, interval: 200 });

    // The first token of the new key is refused at once (Verify never waits for the network)
    // and makes the service refetch in the background; a retry passes once the keys have landed.
    let res, text;
    await pollUntil(async () => {
      res = await getOrders(rotating, bearer(second.at));
      text = await res.text();
      return res.status === 200;
    }, `the new kid ${newKid} accepted after the background refetch`, { timeout: 10000, interval: 100 });
    assert.equal(res.status, 200, `new kid ${newKid}: ${text}`);
    assert.equal(JSON.parse(text).user, fx.subs.alice);
    // The old key stays published until its tokens have expired (KM-03).
    assert.equal(await ordersStatus(rotating, first.at), 200);
  });

test('a revoked key stops its tokens once the service has refetched', async () => {
  assert.ok(second, 'needs the rotation test');
  const oldKid = first.header.kid;
  assert.equal(await ordersStatus(refreshing, first.at), 200);
  // `refreshing` may not have fetched the JWKS since the rotation: the new kid is refused at
  // once (Verify never waits for the network) and lands with the background refetch.
  await pollUntil(async () => (await ordersStatus(refreshing, second.at)) === 200,
                  'the new kid accepted by the refreshing service', { timeout: 10000, interval: 100 });

  const r = fx.cli(['keys', 'revoke', oldKid]);
  assert.equal(r.code, 0, r.err);
  await pollUntil(async () => !(await publishedKids(fx)).includes(oldKid),
                  'the revoked key gone from tessera\'s JWKS', { timeout: 10000, interval: 100 });
  // `refreshing` refetches every second; the first request after that is due is still served
  // from the set it holds (stale-while-revalidate), so poll.
  await pollUntil(async () => (await ordersStatus(refreshing, first.at)) === 401,
                  'the revoked key\'s token refused', { timeout: 10000, interval: 200 });
  await assertInvalidToken(await getOrders(refreshing, bearer(first.at)), 'revoked key');
  assert.equal(await ordersStatus(refreshing, second.at), 200);
});

test('orders-service never logs a token', () => {
  for (const svc of [rotating, refreshing]) {
    const log = svc.output();
    assert.ok(!log.includes(first.at.split('.')[2]), 'a signature in the log');
    assert.match(log, /401 GET \/orders: /);  // it does log why, by reason name
  }
});
