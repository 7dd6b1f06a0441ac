// Token mode of the real `tessera serve`: expiry. A refresh token is refused once its
// refresh_ttl is over; an access token once its exp is past, give or take the clock-skew leeway
// every verifier allows (docs/security.md JV-05: at most 60 s; tessera allows exactly that), so this
// file waits about a minute and is kept apart from the quick ones (ctest runs it in parallel).
// Run by ctest (token_expiry_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/tokens_expiry.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TokenServer, basicAuth, pollUntil, sha256hex, sleep } from './token_fixture.mjs';

const MAX_LEEWAY = 60;

test('expired refresh and access tokens are refused and introspect as inactive', { timeout: 120_000 }, async (t) => {
  const secret = 'expiry-client-secret-1';
  const fx = await TokenServer.start({ env: { TESSERA_TOKEN_ACCESS_TTL: '2s', TESSERA_TOKEN_REFRESH_TTL: '3s',
                                              TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(secret)}` } });
  t.after(() => fx.close());
  const introspect = (token) => fx.clientPost('/v1/introspect', { token }, basicAuth('orders', secret));
  const loggedIn = Date.now();
  const a = await fx.tokenLogin('alice');  // its access token expires
  const b = await fx.tokenLogin('alice');  // its refresh token expires
  assert.equal(a.body.expires_in, 2);
  assert.equal(a.body.refresh_expires_in, 3);
  assert.equal(a.claims.exp - a.claims.iat, 2);
  await fx.expectAccepted(a.at, 'a fresh access token');

  // A refresh token is server-side state: no leeway. Unused for longer than refresh_ttl, it is dead.
  const wait = loggedIn + 4200 - Date.now();
  if (wait > 0) await sleep(wait);
  const ir = await introspect(b.rt);
  assert.equal(ir.status, 200, ir.text);
  assert.deepEqual(ir.body, { active: false }, 'an expired refresh token introspected');
  await fx.expectInvalidGrant(b.rt, 'an expired refresh token');

  await pollUntil(async () => (await fx.meStatus(a.at)) === 401, 'the access token expires',
                  { timeout: (a.claims.exp + MAX_LEEWAY + 2) * 1000 - Date.now(), interval: 250 });
  const at = Date.now() / 1000;
  t.diagnostic(`the access token was refused ${(at - a.claims.exp).toFixed(1)} s after its exp`);
  assert.ok(at >= a.claims.exp, `refused ${a.claims.exp - at} s before its exp`);
  assert.ok(at <= a.claims.exp + MAX_LEEWAY + 1.5, `accepted ${at - a.claims.exp} s after its exp`);
  await fx.expectRefused(a.at, 'an expired access token');
  const ia = await introspect(a.at);
  assert.equal(ia.status, 200, ia.text);
  assert.deepEqual(ia.body, { active: false }, 'an expired access token introspected');
});
