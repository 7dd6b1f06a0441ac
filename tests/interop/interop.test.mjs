// Interoperability of tessera's JWTs with the npm package `jose` (panva/jose), in both directions,
// for every JWS algorithm tessera implements. Passing tessera's own tests proves only that tessera
// agrees with itself; a second, widely used implementation catches encoding mistakes that a
// self-consistent pair of bugs would hide (ECDSA signature form, PSS salt length, base64url, JWK
// member encoding).
//
// Run by ctest (test interop_jose) with TESSERA_BIN set to the tessera binary, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/interop/interop.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ALGS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
];
const ISS = 'https://issuer.interop.test';
const AUD = 'tessera-interop';
// JWK members that only a private key has (RFC 7518 section 6; RFC 8037 section 2). "k" is not
// among them: an HMAC secret is the only form an HS verifier can use.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];

import { jose, BIN, setupError } from './prerequisites.mjs';

if (setupError) {
  test('interop prerequisites', () => assert.fail(setupError));
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-interop-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  let fileCounter = 0;

  function writeTemp(name, content) {
    const file = path.join(dir, `${fileCounter++}-${name}`);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
  }

  function tessera(...args) {
    const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw r.error;
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  function describeRun(r) {
    return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n` +
        `stdout: ${r.stdout}\nstderr: ${r.stderr}`;
  }

  function freshClaims(alg) {
    const now = Math.floor(Date.now() / 1000);
    return { sub: `user-${alg}`, iss: ISS, aud: AUD, iat: now, exp: now + 600 };
  }

  // Changes one character in the middle of the signature segment to another base64url character,
  // so the token stays well-formed and only the signature check can reject it. (The last
  // character is avoided: its unused low bits would make the change a base64 error instead.)
  function tamperSignature(token) {
    const dot = token.lastIndexOf('.');
    const i = dot + 1 + Math.floor((token.length - dot - 1) / 2);
    const replacement = token[i] === 'A' ? 'B' : 'A';
    return token.slice(0, i) + replacement + token.slice(i + 1);
  }

  async function joseKeyPair(alg) {
    if (alg.startsWith('HS')) {
      const secret = await jose.generateSecret(alg, { extractable: true });
      return { signKey: secret, verifyJwk: await jose.exportJWK(secret) };
    }
    const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
    return { signKey: privateKey, verifyJwk: await jose.exportJWK(publicKey) };
  }

  function verifyWithTessera(jwksFile, token) {
    return tessera('jwt', 'verify', '--jwks', jwksFile, '--iss', ISS, '--aud', AUD, token);
  }

  for (const alg of ALGS) {
    test(`${alg}: jose signs, tessera verifies`, async () => {
      const { signKey, verifyJwk } = await joseKeyPair(alg);
      const kid = `jose-${alg.toLowerCase()}`;
      for (const m of PRIVATE_MEMBERS) assert.equal(verifyJwk[m], undefined, `${m} exported`);
      const jwks = { keys: [{ ...verifyJwk, kid, alg }] };
      const jwksFile = writeTemp(`jose-${alg}.jwks.json`, JSON.stringify(jwks));
      const claims = freshClaims(alg);
      const token = await new jose.SignJWT(claims)
          .setProtectedHeader({ alg, kid, typ: 'JWT' })
          .sign(signKey);

      const ok = verifyWithTessera(jwksFile, token);
      assert.equal(ok.code, 0, describeRun(ok));
      assert.deepEqual(JSON.parse(ok.stdout), claims);

      const bad = verifyWithTessera(jwksFile, tamperSignature(token));
      assert.equal(bad.code, 1, `tampered signature accepted or misreported: ${describeRun(bad)}`);
      // Refused for the right reason, not by an earlier parsing step.
      assert.match(bad.stderr, /bad_signature/, describeRun(bad));
    });

    test(`${alg}: tessera signs, jose verifies`, async () => {
      const gen = tessera('keys', 'generate', '--alg', alg);
      assert.equal(gen.code, 0, describeRun(gen));
      const privateJwk = JSON.parse(gen.stdout);
      assert.equal(privateJwk.alg, alg);
      assert.ok(privateJwk.kid, 'tessera keys generate gave no kid');
      const keyFile = writeTemp(`tessera-${alg}.jwk.json`, gen.stdout);

      const claims = freshClaims(alg);
      const signed = tessera('jwt', 'sign', '--jwk', keyFile, JSON.stringify(claims));
      assert.equal(signed.code, 0, describeRun(signed));
      const token = signed.stdout.trim();
      assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);

      const publicJwk = { ...privateJwk };
      for (const m of PRIVATE_MEMBERS) delete publicJwk[m];
      const options = { issuer: ISS, audience: AUD, algorithms: [alg] };
      let result;
      if (alg.startsWith('HS')) {
        // A JWK Set holds public keys only (jose refuses HS there), so the secret is imported.
        assert.ok(publicJwk.k, 'tessera HS key has no "k"');
        result = await jose.jwtVerify(token, await jose.importJWK(publicJwk, alg), options);
      } else {
        assert.equal(publicJwk.k, undefined);
        const jwks = jose.createLocalJWKSet({ keys: [publicJwk] });
        result = await jose.jwtVerify(token, jwks, options);
      }
      assert.deepEqual(result.payload, claims);
      assert.equal(result.protectedHeader.alg, alg);
      assert.equal(result.protectedHeader.kid, privateJwk.kid);
      assert.equal(result.protectedHeader.typ, 'JWT');
    });
  }

  test('jose unsecured token (alg none) is refused by tessera', async () => {
    // One set of each kind: "none" must lose whether the verifier holds a secret or public key.
    const sets = [];
    for (const alg of ['HS256', 'ES256', 'RS256']) {
      const { verifyJwk } = await joseKeyPair(alg);
      sets.push(writeTemp(`none-${alg}.jwks.json`,
                          JSON.stringify({ keys: [{ ...verifyJwk, kid: 'k1', alg }] })));
    }
    const token = new jose.UnsecuredJWT(freshClaims('none')).encode();
    assert.match(token, /\.$/, 'an unsecured JWT has an empty signature segment');
    for (const jwksFile of sets) {
      const r = verifyWithTessera(jwksFile, token);
      assert.equal(r.code, 1, describeRun(r));
      // The same token with something in the signature slot must fail just the same.
      // That one passes the segment checks, so it is the "none" rule itself that must refuse it.
      const padded = verifyWithTessera(jwksFile, `${token}AAAA`);
      assert.equal(padded.code, 1, describeRun(padded));
      assert.match(padded.stderr, /alg_none/, describeRun(padded));
    }
  });
}
