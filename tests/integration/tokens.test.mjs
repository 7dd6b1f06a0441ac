// Token mode of the real `tessera serve` over real sockets: the token login, refresh rotation with
// reuse detection and its grace window, concurrent refreshes, bearer verification against forged
// and tampered tokens, tokens of another issuer or audience, the JWKS and discovery documents, and
// signing-key rotation. Revocation (logout, sessions, admin, CLI, restart, RFC 7662/7009
// endpoints) is in tokens_revocation.test.mjs, expiry (a minute of waiting) in
// tokens_expiry.test.mjs. Every test has its own data directory and server.
// Run by ctest (token_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/tokens.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  PASSWORD, TokenServer, assertInvalidToken, b64url, decodeJwt, es256, flipChar, forge,
  hs256, pair, pollUntil, readAudit, stop,
} from './token_fixture.mjs';

const T = { timeout: 60_000 };
const PAIR_MEMBERS = ['access_token', 'expires_in', 'refresh_expires_in', 'refresh_token', 'token_type'];
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const now = () => Math.floor(Date.now() / 1000);

async function started(t, opts) {
  const fx = await TokenServer.start(opts);
  t.after(() => fx.close());
  return fx;
}

async function jwks(fx) {
  const res = await fx.fetch('/.well-known/jwks.json');
  assert.equal(res.status, 200);
  return res.json();
}

// The theft response (docs/design.md "Race-safe refresh rotation"): the refresh token and the access
// tokens of session `sid` are dead, and the session is gone from its user's list, as seen by
// `watcher`, another live session of the same user.
async function assertSessionEnded(fx, { sid, rts = [], ats = [], watcher }, what) {
  for (const rt of rts) await fx.expectInvalidGrant(rt, `${what}: a refresh token of the session`);
  for (const at of ats) await fx.expectRefused(at, `${what}: an access token of the session`);
  if (watcher) {
    const ids = (await fx.sessions(watcher.at)).map((s) => s.id);
    assert.ok(!ids.includes(sid), `${what}: the session is still listed`);
    assert.ok(ids.includes(watcher.sid), `${what}: another session of the user was ended too`);
  }
}

async function assertReuseAudited(fx, sid) {
  await pollUntil(() => readAudit(fx.data).find((e) => e.event === 'refresh.reuse_detected'),
                  'an audit event "refresh.reuse_detected"', { timeout: 2000 });
  const e = readAudit(fx.data).find((x) => x.event === 'refresh.reuse_detected');
  assert.ok(JSON.stringify(e).includes(sid), `the theft event names the session: ${JSON.stringify(e)}`);
}

test('a token login answers the token pair with no-store and no cookie', T, async (t) => {
  const fx = await started(t, { users: { alice: ['admin', 'ops'] } });
  const before = now();
  const r = await fx.login('Alice');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), PAIR_MEMBERS);
  assert.equal(r.body.token_type, 'Bearer');
  assert.equal(r.body.expires_in, 15 * 60);
  // Unused, the refresh token dies with its session at the idle timeout (24 h), long before the
  // family's absolute lifetime (30 d); each refresh moves that forward.
  assert.equal(r.body.refresh_expires_in, 86400);
  assert.equal(r.res.headers.get('cache-control'), 'no-store');
  assert.equal(r.res.headers.get('pragma'), 'no-cache');
  assert.equal(r.res.headers.get('set-cookie'), null, 'a token login sets no cookie');
  // The refresh token is opaque, no JWT: base64url of its family's random id (128 bits), its
  // generation (6 bytes) and 256 fresh random bits (README, token mode).
  assert.match(r.body.refresh_token, /^[A-Za-z0-9_-]{72}$/);

  const { header, payload } = decodeJwt(r.body.access_token);
  assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
  assert.equal(header.alg, 'ES256');
  assert.equal(header.typ, 'at+jwt');
  assert.ok(typeof header.kid === 'string' && header.kid.length > 0);
  // No issuer configured: the URL the server printed, with the port it got for --listen :0.
  assert.equal(payload.iss, fx.base);
  assert.equal(payload.sub, fx.subs.alice);
  assert.equal(payload.aud, 'tessera');
  assert.equal(payload.exp - payload.iat, 15 * 60);
  assert.ok(payload.iat >= before - 1 && payload.iat <= now() + 1, `iat ${payload.iat}`);
  assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16, `jti ${payload.jti}`);
  assert.ok(typeof payload.sid === 'string' && payload.sid.length > 0, `sid ${payload.sid}`);
  assert.deepEqual(payload.roles, ['admin', 'ops']);
  assert.equal(payload.preferred_username, 'alice');
  assert.ok(!r.text.includes(PASSWORD));

  // Every login is a new session with new tokens.
  const again = await fx.tokenLogin('alice');
  assert.notEqual(again.rt, r.body.refresh_token);
  assert.notEqual(again.sid, payload.sid);
  assert.notEqual(again.claims.jti, payload.jti);
});

test('a wrong password in token mode gets the session-mode refusal', T, async (t) => {
  const fx = await started(t);
  const token = await fx.login('alice', { password: 'wrong password!' });
  const session = await fx.login('alice', { password: 'wrong password!', mode: 'session' });
  assert.equal(token.status, 401);
  assert.equal(token.body.error, 'invalid_credentials');
  assert.deepEqual(token.body, session.body);
  assert.equal(token.res.headers.get('set-cookie'), null);
  const ghost = await fx.login('nobody');
  assert.equal(ghost.status, 401);
  assert.deepEqual(ghost.body, token.body, 'an unknown user gets the same answer');
});

test('the bearer is accepted by /v1/me and forward-auth', T, async (t) => {
  const fx = await started(t, { users: { alice: ['admin', 'ops'] } });
  const a = await fx.tokenLogin('alice');
  const me = await fx.expectAccepted(a.at, 'GET /v1/me');
  assert.deepEqual(me, { sub: fx.subs.alice, username: 'alice', roles: ['admin', 'ops'],
                         sid: a.sid, auth: 'bearer', amr: ['pwd'] });
  for (const method of ['GET', 'HEAD']) {
    const res = await fx.fetch('/v1/auth', { method, headers: { authorization: `Bearer ${a.at}` } });
    await res.arrayBuffer();
    assert.equal(res.status, 200, method);
    assert.equal(res.headers.get('x-auth-user'), 'alice', method);
    assert.equal(res.headers.get('x-auth-subject'), fx.subs.alice, method);
    assert.equal(res.headers.get('x-auth-roles'), 'admin,ops', method);
    assert.equal(res.headers.get('x-auth-session'), a.sid, method);
    assert.equal(res.headers.get('x-auth-expires-at'), String(a.claims.exp), method);
  }
});

test('a refresh rotates the refresh token and keeps the session, form or JSON', T, async (t) => {
  const fx = await started(t);
  const a = await fx.tokenLogin('alice');
  const r = await fx.refresh(a.rt);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), PAIR_MEMBERS);
  assert.equal(r.body.token_type, 'Bearer');
  assert.equal(r.body.expires_in, 15 * 60);
  assert.ok(r.body.refresh_expires_in > 0 && r.body.refresh_expires_in <= 30 * 86400);
  assert.equal(r.res.headers.get('cache-control'), 'no-store');
  assert.equal(r.res.headers.get('set-cookie'), null);
  const b = pair(r.body);
  assert.match(b.rt, /^[A-Za-z0-9_-]{72}$/);
  assert.notEqual(b.rt, a.rt);
  assert.equal(b.sid, a.sid);
  assert.equal(b.claims.sub, a.claims.sub);
  assert.notEqual(b.claims.jti, a.claims.jti);
  assert.equal(b.claims.exp - b.claims.iat, 15 * 60);
  assert.equal((await fx.expectAccepted(b.at, 'the new access token')).sid, a.sid);

  const c = await fx.rotate(b.rt, { json: true });
  assert.equal(c.sid, a.sid);
  assert.notEqual(c.rt, b.rt);
  // Media-type parameters are allowed (many HTTP clients add a charset).
  const d = await fx.rotate(c.rt, { headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' } });
  assert.equal(d.sid, a.sid);
  await fx.expectAccepted(d.at, 'after three refreshes');
});

test('refresh errors follow RFC 6749 section 5.2, and guesses do not end the session', T, async (t) => {
  const fx = await started(t);
  const a = await fx.tokenLogin('alice');
  const post = async (body, type = 'application/x-www-form-urlencoded') => {
    const res = await fx.fetch('/v1/token', { method: 'POST', headers: { 'content-type': type }, body });
    const text = await res.text();
    assert.equal(res.headers.get('cache-control'), 'no-store', `${type} ${body}: Cache-Control`);
    return { status: res.status, text, error: (() => { try { return JSON.parse(text).error; } catch { return null; } })() };
  };
  const grant = (rt) => `grant_type=refresh_token&refresh_token=${encodeURIComponent(rt)}`;
  for (const [what, rt] of [['an unknown token', b64url(crypto.randomBytes(32))],
                            ['the first character changed', flipChar(a.rt, 0)],
                            ['a middle character changed', flipChar(a.rt, 21)],
                            ['one character more', `${a.rt}A`],
                            ['one character less', a.rt.slice(0, 42)],
                            ['the access token', a.at]]) {
    const r = await post(grant(rt));
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    assert.equal(r.error, 'invalid_grant', `${what}: ${r.text}`);
  }
  for (const [what, body, error] of [
    ['no refresh_token', 'grant_type=refresh_token', 'invalid_request'],
    ['grant_type=password', `grant_type=password&username=alice&password=${encodeURIComponent(PASSWORD)}`,
     'unsupported_grant_type'],
    ['grant_type=client_credentials', 'grant_type=client_credentials', 'unsupported_grant_type'],
    ['grant_type=authorization_code', `grant_type=authorization_code&code=x&refresh_token=${a.rt}`,
     'unsupported_grant_type'],
  ]) {
    const r = await post(body);
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    assert.equal(r.error, error, `${what}: ${r.text}`);
  }
  for (const type of ['text/plain', 'multipart/form-data; boundary=x', 'application/xml']) {
    const r = await post(grant(a.rt), type);
    assert.equal(r.status, 415, `${type}: ${r.text}`);
  }
  // None of that was a use of the real token: it still refreshes, once.
  await fx.rotate(a.rt);
});

test('a reuse of a rotated refresh token (grace 0s) is theft: the session ends', T, async (t) => {
  const fx = await started(t, { env: { TESSERA_TOKEN_REFRESH_REUSE_GRACE: '0s' } });
  const watcher = await fx.tokenLogin('alice');
  const a = await fx.tokenLogin('alice');
  const b = await fx.rotate(a.rt);
  await fx.expectInvalidGrant(a.rt, 'the rotated token again');
  await assertSessionEnded(fx, { sid: a.sid, rts: [b.rt], ats: [a.at, b.at], watcher }, 'after a reuse');
  await fx.expectAccepted(watcher.at, 'the user\'s other session');
  await fx.rotate(watcher.rt);
  await assertReuseAudited(fx, a.sid);
  // No token in the audit trail or the server's output (docs/security.md LG-01).
  const audit = fs.readFileSync(path.join(fx.data, 'audit.log'), 'utf8');
  for (const secret of [a.rt, b.rt, a.at, b.at, watcher.rt, watcher.at, PASSWORD]) {
    assert.ok(!audit.includes(secret), 'a secret in the audit trail');
    assert.ok(!fx.server.output().includes(secret), 'a secret in the server output');
  }
});

test('a replay of an older refresh token (stale lineage, grace 0s) ends the session', T, async (t) => {
  const fx = await started(t, { env: { TESSERA_TOKEN_REFRESH_REUSE_GRACE: '0s' } });
  const watcher = await fx.tokenLogin('alice');
  const a = await fx.tokenLogin('alice');
  const b = await fx.rotate(a.rt);
  const c = await fx.rotate(b.rt);
  await fx.expectInvalidGrant(a.rt, 'RT1 after RT1->RT2->RT3');
  await assertSessionEnded(fx, { sid: a.sid, rts: [c.rt, b.rt], ats: [a.at, b.at, c.at], watcher },
                           'after a stale replay');
  await assertReuseAudited(fx, a.sid);
});

test('inside the grace window a replay returns the same successor; once it is used, theft', T, async (t) => {
  const fx = await started(t);  // default grace: 10 s
  const watcher = await fx.tokenLogin('alice');
  const a = await fx.tokenLogin('alice');
  const b = await fx.rotate(a.rt);
  // Two tabs refreshing at once: the loser gets the winner's successor, not a logout.
  const r = await fx.refresh(a.rt);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), PAIR_MEMBERS);
  assert.equal(r.body.refresh_token, b.rt);
  assert.equal(decodeJwt(r.body.access_token).payload.sid, a.sid);
  await fx.expectAccepted(r.body.access_token, 'the access token of the grace answer');
  // The successor is used now: the predecessor is stale, and a replay is theft.
  const c = await fx.rotate(b.rt);
  await fx.expectInvalidGrant(a.rt, 'RT1 after RT2 was used');
  await assertSessionEnded(fx, { sid: a.sid, rts: [c.rt, b.rt],
                                 ats: [a.at, b.at, c.at, r.body.access_token], watcher },
                           'after a replay outside the grace rule');
  await assertReuseAudited(fx, a.sid);
});

test('after the grace window a replay is theft', T, async (t) => {
  const fx = await started(t, { env: { TESSERA_TOKEN_REFRESH_REUSE_GRACE: '1s' } });
  const watcher = await fx.tokenLogin('alice');
  const a = await fx.tokenLogin('alice');
  const b = await fx.rotate(a.rt);
  const rotatedAt = Date.now();
  // While the window lasts every replay gets b's token; then the first refusal.
  let last;
  let graceAnswers = 0;
  await pollUntil(async () => {
    last = await fx.refresh(a.rt);
    if (last.status === 200) {
      assert.equal(last.body.refresh_token, b.rt, 'a replay in the grace window got another token');
      ++graceAnswers;
      return false;
    }
    return true;
  }, 'a replay is refused once the 1 s window is over', { timeout: 4000, interval: 100 });
  const refusedAfter = Date.now() - rotatedAt;
  t.diagnostic(`${graceAnswers} replays got the successor; the first refusal ${refusedAfter} ms after the rotation`);
  assert.equal(last.status, 400, last.text);
  assert.equal(last.body.error, 'invalid_grant', last.text);
  assert.ok(graceAnswers >= 1, 'a replay right after the rotation was refused: no grace at all');
  // Whole seconds on the server: a 1 s window may last up to 2 s, plus one poll interval.
  assert.ok(refusedAfter <= 2500, `replays still accepted ${refusedAfter} ms after the rotation`);
  await assertSessionEnded(fx, { sid: a.sid, rts: [b.rt], ats: [a.at, b.at], watcher },
                           'after a replay past the window');
  await assertReuseAudited(fx, a.sid);
});

test('50 parallel refreshes of one token in the grace window get one successor (RT-04)', T, async (t) => {
  const fx = await started(t);
  const a = await fx.tokenLogin('alice');
  const answers = await Promise.all(Array.from({ length: 50 }, () => fx.refresh(a.rt)));
  const refused = answers.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text}`);
  assert.deepEqual(refused, [], 'every parallel refresh inside the grace window succeeds');
  const successors = new Set(answers.map((r) => r.body.refresh_token));
  assert.equal(successors.size, 1, `${successors.size} different successors`);
  const [rt2] = successors;
  assert.notEqual(rt2, a.rt);
  for (const r of answers) assert.equal(decodeJwt(r.body.access_token).payload.sid, a.sid);
  await fx.expectAccepted(answers[49].body.access_token, 'an access token of the storm');
  // One lineage: the successor refreshes, and its successor too.
  const c = await fx.rotate(rt2);
  const d = await fx.rotate(c.rt);
  await fx.expectAccepted(d.at, 'the lineage after the storm');
  // The original is now two generations old: presenting it is theft.
  await fx.expectInvalidGrant(a.rt, 'the original after its successor was used');
  await assertSessionEnded(fx, { sid: a.sid, rts: [d.rt], ats: [d.at] }, 'after the stale replay');
});

test('50 parallel refreshes of one token without grace: one winner, never two live successors', T, async (t) => {
  const fx = await started(t, { env: { TESSERA_TOKEN_REFRESH_REUSE_GRACE: '0s' } });
  const a = await fx.tokenLogin('alice');
  const answers = await Promise.all(Array.from({ length: 50 }, () => fx.refresh(a.rt)));
  const ok = answers.filter((r) => r.status === 200);
  const others = answers.filter((r) => r.status !== 200)
      .filter((r) => !(r.status === 400 && r.body?.error === 'invalid_grant'))
      .map((r) => `${r.status} ${r.text}`);
  assert.deepEqual(others, [], 'the losers get 400 invalid_grant (no 5xx)');
  assert.equal(ok.length, 1, `${ok.length} parallel refreshes of one token succeeded`);
  const rt2 = ok[0].body.refresh_token;
  // The 49 others were reuses, so the family may be revoked already; either way the successor
  // works at most once and never yields a second live branch.
  const first = await fx.refresh(rt2);
  assert.ok(first.status === 200 || (first.status === 400 && first.body?.error === 'invalid_grant'),
            `${first.status} ${first.text}`);
  t.diagnostic(`the winner's successor after the storm: ${first.status}`);
  await fx.expectInvalidGrant(rt2, 'the successor a second time');
  if (first.status === 200) {
    // A second use of rt2 was a reuse too: the branch that first use opened is dead as well.
    await fx.expectInvalidGrant(first.body.refresh_token, 'the branch after rt2 was reused');
  }
  await fx.expectInvalidGrant(a.rt, 'the original token');
});

test('forged, tampered and misplaced bearer tokens are refused with an RFC 6750 challenge', T, async (t) => {
  const fx = await started(t);
  const a = await fx.tokenLogin('alice');
  const set = await jwks(fx);
  const { header, payload, parts } = decodeJwt(a.at);
  const jwk = set.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, 'the token\'s kid is in the JWKS');
  const pub = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const foreign = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const foreignJwk = foreign.publicKey.export({ format: 'jwk' });
  // A listener that a jku header might make the server call (it must not).
  let jkuConnections = 0;
  const listener = net.createServer((s) => { ++jkuConnections; s.destroy(); });
  await new Promise((r) => listener.listen(0, '127.0.0.1', r));
  t.after(() => listener.close());
  const jku = `http://127.0.0.1:${listener.address().port}/jwks.json`;

  const sig = es256(foreign.privateKey);
  const cases = [
    ['garbage', 'garbage'],
    ['empty segments', '..'],
    ['the refresh token', a.rt],
    ['the signature stripped', `${parts[0]}.${parts[1]}.`],
    ['two segments', `${parts[0]}.${parts[1]}`],
    ['alg none, no signature', forge({ ...header, alg: 'none' }, parts[1])],
    ['alg None, no signature', forge({ ...header, alg: 'None' }, parts[1])],
    ['alg NONE, no signature', forge({ ...header, alg: 'NONE' }, parts[1])],
    ['alg none, the original signature', `${b64url(JSON.stringify({ ...header, alg: 'none' }))}.${parts[1]}.${parts[2]}`],
    ['HS256 MACed with the JWK JSON', forge({ ...header, alg: 'HS256' }, parts[1], hs256(JSON.stringify(jwk)))],
    ['HS256 MACed with the JWKS document', forge({ ...header, alg: 'HS256' }, parts[1], hs256(JSON.stringify(set)))],
    ['HS256 MACed with the PEM', forge({ ...header, alg: 'HS256' }, parts[1],
                                       hs256(pub.export({ type: 'spki', format: 'pem' })))],
    ['HS256 MACed with the DER', forge({ ...header, alg: 'HS256' }, parts[1],
                                       hs256(pub.export({ type: 'spki', format: 'der' })))],
    ['a foreign ES256 key, the same kid', forge(header, parts[1], sig)],
    ['a foreign key, another audience', forge(header, { ...payload, aud: 'other' }, sig)],
    ['a foreign key, another issuer', forge(header, { ...payload, iss: 'https://evil.example' }, sig)],
    ['a foreign key embedded as jwk', forge({ ...header, jwk: foreignJwk }, parts[1], sig)],
    ['a foreign key embedded as jwk, its own kid', forge({ ...header, kid: 'attacker', jwk: foreignJwk }, parts[1], sig)],
    ['a foreign key behind jku', forge({ ...header, kid: 'attacker', jku }, parts[1], sig)],
    ['kid ../../etc/passwd', forge({ ...header, kid: '../../etc/passwd' }, parts[1], sig)],
    ['kid SQL', forge({ ...header, kid: "' OR 1=1--" }, parts[1], sig)],
    ['typ JWT, foreign key', forge({ ...header, typ: 'JWT' }, parts[1], sig)],
    ['no exp, foreign key', forge(header, { ...payload, exp: undefined }, sig)],
  ];
  for (const [what, token] of cases) {
    await assertInvalidToken(await fx.get('/v1/me', token), `GET /v1/me, ${what}`);
    const auth = await fx.get('/v1/auth', token);
    await auth.arrayBuffer();
    assert.equal(auth.status, 401, `GET /v1/auth, ${what}`);
    assert.equal(auth.headers.get('x-auth-user'), null);
  }
  // No credentials (or an empty bearer): 401 and a Bearer challenge, which need not name an error
  // (RFC 6750 section 3.1).
  for (const headers of [{}, { authorization: 'Bearer' }, { authorization: 'Bearer ' }]) {
    const none = await fx.fetch('/v1/me', { headers });
    assert.equal(none.status, 401, JSON.stringify(headers));
    assert.equal((await none.json()).error, 'invalid_token', JSON.stringify(headers));
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer\b/, JSON.stringify(headers));
  }
  // Only the Authorization header carries a bearer (RFC 6750 section 2.3 is not supported).
  for (const p of ['/v1/me', '/v1/auth']) {
    const res = await fx.fetch(`${p}?access_token=${encodeURIComponent(a.at)}`);
    await res.arrayBuffer();
    assert.equal(res.status, 401, `${p}?access_token=`);
  }
  assert.equal(jkuConnections, 0, 'the server fetched a key from a URL in a token header');
  // The real token is unaffected by all of that.
  await fx.expectAccepted(a.at, 'the genuine token');
});

test('every single-character change to an access token is refused', T, async (t) => {
  const fx = await started(t);
  const a = await fx.tokenLogin('alice');
  await fx.expectAccepted(a.at, 'the genuine token');  // and now in the verified-token cache
  const accepted = [];
  for (let i = 0; i < a.at.length; ++i) {
    if (a.at[i] === '.') continue;
    const status = await fx.meStatus(flipChar(a.at, i));
    if (status !== 401) accepted.push(`${i}: ${status}`);
  }
  assert.deepEqual(accepted, [], `of ${a.at.length} positions, these were not refused`);
  await fx.expectAccepted(a.at, 'the genuine token after the probes');
});

test('a token of another issuer or audience is refused though signed with the same key', T, async (t) => {
  const fx = await started(t);
  const own = await fx.tokenLogin('alice');
  // Twins on the same data directory share keys and sessions; only their issuer/audience differ.
  const mint = async (env) => {
    const twin = await fx.twin(env);
    try {
      const view = Object.create(fx, { base: { value: twin.url } });
      return { view, token: await view.tokenLogin('alice') };
    } finally {
      await stop(twin);
    }
  };
  const control = await mint({ TESSERA_TOKEN_ISSUER: fx.base });
  assert.equal(control.token.header.kid, own.header.kid);
  await fx.expectAccepted(control.token.at, 'a token of a twin with the same issuer and audience');

  const aud = await mint({ TESSERA_TOKEN_ISSUER: fx.base, TESSERA_TOKEN_AUDIENCE: 'billing' });
  assert.equal(aud.token.claims.aud, 'billing');
  assert.equal(aud.token.header.kid, own.header.kid);
  await fx.expectRefused(aud.token.at, 'a token for audience "billing"');

  const iss = await mint({ TESSERA_TOKEN_ISSUER: 'https://elsewhere.example' });
  assert.equal(iss.token.claims.iss, 'https://elsewhere.example');
  await fx.expectRefused(iss.token.at, 'a token of issuer https://elsewhere.example');
  await fx.expectAccepted(own.at, 'the server\'s own token');
});

test('the JWKS has public keys only, cacheable for at most 5 minutes; discovery points at it', T, async (t) => {
  const fx = await started(t);
  const a = await fx.tokenLogin('alice');
  const res = await fx.fetch('/.well-known/jwks.json');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /json/);
  const cc = res.headers.get('cache-control') ?? '';
  assert.doesNotMatch(cc, /no-store/, `Cache-Control: ${cc}`);
  const maxAge = cc.match(/max-age=(\d+)/);
  assert.ok(maxAge, `Cache-Control: ${cc}`);
  assert.ok(Number(maxAge[1]) > 0 && Number(maxAge[1]) <= 300, `Cache-Control: ${cc}`);
  const set = await res.json();
  assert.deepEqual(Object.keys(set), ['keys']);
  assert.ok(set.keys.length >= 1);
  for (const k of set.keys) {
    assert.ok(typeof k.kid === 'string' && k.kid.length > 0, JSON.stringify(k));
    assert.equal(k.use, 'sig');
    assert.equal(k.alg, 'ES256');
    assert.equal(k.kty, 'EC');
    assert.equal(k.crv, 'P-256');
    for (const m of PRIVATE_MEMBERS) assert.equal(k[m], undefined, `private member "${m}" published`);
  }
  const key = set.keys.find((k) => k.kid === a.header.kid);
  assert.ok(key, 'the access token\'s kid is published');
  // An independent ES256 check of the token with the published key.
  const { parts, signature } = decodeJwt(a.at);
  assert.ok(crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`),
                          { key: crypto.createPublicKey({ key, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
                          signature), 'the token does not verify with the published key');

  const disc = await fx.fetch('/.well-known/openid-configuration');
  assert.equal(disc.status, 200);
  const doc = await disc.json();
  assert.equal(doc.issuer, fx.base);
  assert.equal(doc.jwks_uri, `${fx.base}/.well-known/jwks.json`);
  assert.equal(doc.token_endpoint, `${fx.base}/v1/token`);
  assert.equal(doc.introspection_endpoint, `${fx.base}/v1/introspect`);
  assert.equal(doc.revocation_endpoint, `${fx.base}/v1/revoke`);
  const viaUri = await fetch(doc.jwks_uri);
  assert.equal(viaUri.status, 200);
  assert.deepEqual(await viaUri.json(), set);
});

test('key rotation publishes the new key before it signs; --immediate and revoke act within seconds', T, async (t) => {
  const fx = await started(t);
  const kids = async () => (await jwks(fx)).keys.map((k) => k.kid);
  const a = await fx.tokenLogin('alice');
  const k1 = a.header.kid;
  assert.deepEqual(await kids(), [k1]);
  const states = () => {
    const r = fx.cli(['keys', 'list']);
    assert.equal(r.code, 0, r.err);
    return Object.fromEntries(r.out.trim().split('\n').slice(1).map((l) => l.split(/\s+/))
                                  .map(([kid, , state]) => [kid, state]));
  };
  const rotate = (...flags) => {
    const r = fx.cli(['keys', 'rotate', ...flags]);
    assert.equal(r.code, 0, r.err);
    const m = r.out.match(/new key (\S+)/);
    assert.ok(m, r.out);
    return m[1];
  };

  // Scheduled rotation: published at once, signing only later.
  const k2 = rotate();
  assert.notEqual(k2, k1);
  await pollUntil(async () => (await kids()).includes(k2), 'the new key in the JWKS', { timeout: 3000 });
  assert.ok((await kids()).includes(k1), 'the signing key left the JWKS');
  assert.deepEqual(states(), { [k1]: 'current', [k2]: 'next' });
  const b = await fx.tokenLogin('alice');
  assert.equal(b.header.kid, k1, 'a published-but-not-active key signed');
  let s = await fx.rotate(a.rt);
  assert.equal(s.header.kid, k1);

  // Immediate rotation: new tokens carry the new kid within seconds; old tokens still verify.
  const k3 = rotate('--immediate');
  await pollUntil(async () => { s = await fx.rotate(s.rt); return s.header.kid === k3; },
                  'refreshed tokens signed by the immediate key', { timeout: 3000, interval: 100 });
  const c = await fx.tokenLogin('alice');
  assert.equal(c.header.kid, k3, 'a login after the immediate rotation');
  const published = await kids();
  assert.ok(published.includes(k1) && published.includes(k3), `JWKS ${published}`);
  await fx.expectAccepted(a.at, 'a token of the previous key');
  await fx.expectAccepted(c.at, 'a token of the new key');

  // Emergency revocation of the old key: its tokens are refused, and it leaves the JWKS.
  let r = fx.cli(['keys', 'revoke', k1]);
  assert.equal(r.code, 0, r.err);
  await pollUntil(async () => (await fx.meStatus(a.at)) === 401, 'tokens of a revoked key are refused',
                  { timeout: 3000 });
  await fx.expectRefused(a.at, 'a token of the revoked key');
  await fx.expectRefused(b.at, 'another token of the revoked key');
  assert.ok(!(await kids()).includes(k1), 'a revoked key is still published');
  await fx.expectAccepted(c.at, 'a token of the surviving key');

  // Revoking the signing key: a replacement signs at once.
  r = fx.cli(['keys', 'revoke', k3]);
  assert.equal(r.code, 0, r.err);
  const k4 = r.out.match(/new key (\S+)/)?.[1];
  assert.ok(k4, r.out);
  await pollUntil(async () => (await fx.meStatus(c.at)) === 401, 'tokens of the revoked signing key are refused',
                  { timeout: 3000 });
  await pollUntil(async () => { s = await fx.rotate(s.rt); return s.header.kid === k4; },
                  'tokens signed by the replacement key', { timeout: 3000, interval: 100 });
  await fx.expectAccepted(s.at, 'a token of the replacement key');
  const after = await kids();
  assert.ok(after.includes(k4) && !after.includes(k3), `JWKS ${after}`);
});
