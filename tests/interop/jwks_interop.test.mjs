// A standard JWT library verifies the access tokens of a real `tessera serve` the way any service
// would: the npm package `jose` (panva/jose) finds the JWKS through the discovery document,
// fetches it over HTTP and checks signature, issuer, audience, `typ` and algorithm. Pinning the
// wrong issuer or audience must fail. For ES256 (the default) and EdDSA.
// Run by ctest (interop_jwks) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/interop/jwks_interop.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { TokenServer, pollUntil } from '../integration/token_fixture.mjs';
import { jose, setupError } from './prerequisites.mjs';

const T = { timeout: 60_000 };

async function discover(base) {
  const res = await fetch(`${base}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  return res.json();
}

async function expectClaimFailure(promise, claim, what) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, 'ERR_JWT_CLAIM_VALIDATION_FAILED', `${what}: ${err.code} ${err.message}`);
    assert.equal(err.claim, claim, what);
    return true;
  }, what);
}

if (setupError) {
  test('interop prerequisites', () => assert.fail(setupError));
} else {
  for (const [alg, env, jwk] of [['ES256', {}, { kty: 'EC', crv: 'P-256' }],
                                 ['EdDSA', { TESSERA_TOKEN_ALG: 'EdDSA' }, { kty: 'OKP', crv: 'Ed25519' }]]) {
    test(`${alg}: jose verifies a tessera access token through discovery and the remote JWKS`, T, async (t) => {
      const fx = await TokenServer.start({ users: { alice: ['ops'] }, env, prefix: 'tessera-jwks-interop-' });
      t.after(() => fx.close());
      const doc = await discover(fx.base);
      assert.equal(doc.issuer, fx.base);
      const jwks = jose.createRemoteJWKSet(new URL(doc.jwks_uri));
      const a = await fx.tokenLogin('alice');
      const options = { issuer: doc.issuer, audience: 'tessera', typ: 'at+jwt', algorithms: [alg] };

      const { payload, protectedHeader } = await jose.jwtVerify(a.at, jwks, options);
      assert.equal(protectedHeader.alg, alg);
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.deepEqual(payload, a.claims);
      assert.equal(payload.sub, fx.subs.alice);
      assert.deepEqual(payload.roles, ['ops']);
      const published = (await (await fetch(doc.jwks_uri)).json()).keys;
      for (const k of published) assert.deepEqual({ kty: k.kty, crv: k.crv, alg: k.alg }, { ...jwk, alg });

      await expectClaimFailure(jose.jwtVerify(a.at, jwks, { ...options, audience: 'billing' }), 'aud',
                               'another audience pinned');
      await expectClaimFailure(jose.jwtVerify(a.at, jwks, { ...options, issuer: 'https://evil.example' }), 'iss',
                               'another issuer pinned');
      await assert.rejects(jose.jwtVerify(a.at, jwks, { ...options, typ: 'JWT' }), 'another typ pinned');
      await assert.rejects(jose.jwtVerify(a.at, jwks, { ...options, algorithms: [alg === 'ES256' ? 'EdDSA' : 'ES256'] }),
                           'another algorithm pinned');

      // An immediate rotation: a verifier meets an unfamiliar kid and refetches the JWKS.
      const fresh = jose.createRemoteJWKSet(new URL(doc.jwks_uri), { cooldownDuration: 0 });
      await jose.jwtVerify(a.at, fresh, options);
      const r = fx.cli(['keys', 'rotate', '--immediate']);
      assert.equal(r.code, 0, r.err);
      let b;
      await pollUntil(async () => {
        b = await fx.rotate((b ?? a).rt);
        return b.header.kid !== a.header.kid;
      }, 'a token signed by the new key', { timeout: 3000, interval: 100 });
      const verified = await jose.jwtVerify(b.at, fresh, options);
      assert.equal(verified.protectedHeader.kid, b.header.kid);
      assert.equal(verified.payload.sid, a.sid);
      // The token of the previous key still verifies: it stays published.
      await jose.jwtVerify(a.at, fresh, options);
    });
  }
}
