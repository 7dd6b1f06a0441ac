// Token mode of the real `tessera serve`: how a revocation reaches access tokens (the bridge of
// docs/design.md: every access token carries the sid of a server-side session). Logout, one session
// ended by another, "sign out everywhere", the admin endpoints, the CLI from another process, a
// restart, RFC 7662 introspection and RFC 7009 revocation, and the per-user session limit.
// Every test has its own data directory and server.
// Run by ctest (token_revocation_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/tokens_revocation.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  PASSWORD, TokenServer, UA, basicAuth, flipChar, malleateEs256, pollUntil, readAudit, sha256hex,
} from './token_fixture.mjs';

const T = { timeout: 60_000 };
const SESSION_MEMBERS = ['created_at', 'current', 'expires_at', 'id', 'ip', 'kind', 'last_seen_at',
                         'user_agent'];

async function started(t, opts) {
  const fx = await TokenServer.start(opts);
  t.after(() => fx.close());
  return fx;
}

// The status of a cookie-authenticated GET /v1/me.
async function cookieStatus(fx, c) {
  const res = await fx.fetch('/v1/me', { headers: { cookie: c.headers.cookie } });
  await res.arrayBuffer();
  return res.status;
}

async function ids(fx, at) {
  return (await fx.sessions(at)).map((s) => s.id).sort();
}

test('a token login is a session, listed with its user\'s cookie sessions', T, async (t) => {
  const fx = await started(t, { users: { alice: [], bob: [] } });
  const tok = await fx.tokenLogin('alice');
  const ck = await fx.cookieLogin('alice');
  const bob = await fx.tokenLogin('bob');

  const list = await fx.sessions(tok.at);
  assert.deepEqual(list.map((s) => s.id).sort(), [tok.sid, ck.sid].sort(),
                   'exactly the user\'s two sessions, never another user\'s');
  for (const s of list) {
    for (const m of SESSION_MEMBERS) assert.ok(m in s, `session member ${m}: ${JSON.stringify(s)}`);
  }
  const mine = list.find((s) => s.id === tok.sid);
  assert.equal(mine.kind, 'token');
  assert.equal(mine.current, true);
  assert.equal(mine.user_agent, UA);
  assert.equal(mine.ip, '127.0.0.1');
  assert.ok(mine.created_at > 0 && mine.last_seen_at >= mine.created_at && mine.expires_at > mine.created_at,
            JSON.stringify(mine));
  const cookieEntry = list.find((s) => s.id === ck.sid);
  assert.equal(cookieEntry.kind, 'session');  // as before token mode (and "auth":"session")
  assert.equal(cookieEntry.current, false);

  // The same registry from the cookie side.
  const res = await fx.fetch('/v1/sessions', { headers: { cookie: ck.headers.cookie } });
  assert.equal(res.status, 200);
  const fromCookie = await res.json();
  const tokEntry = fromCookie.find((s) => s.id === tok.sid);
  assert.ok(tokEntry, 'the token session is listed for the cookie session');
  assert.equal(tokEntry.kind, 'token');
  assert.equal(tokEntry.current, false);
  assert.equal(tokEntry.user_agent, UA);
  assert.equal(fromCookie.find((s) => s.id === ck.sid).current, true);
  assert.deepEqual(await ids(fx, bob.at), [bob.sid]);

  // And from the CLI.
  const cli = fx.cli(['sessions', 'list', '--user', 'alice']);
  assert.equal(cli.code, 0, cli.err);
  assert.match(cli.out, new RegExp(`^${tok.sid}\\s+alice\\s+token\\s`, 'm'));
  assert.match(cli.out, new RegExp(`^${ck.sid}\\s+alice\\s+cookie\\s`, 'm'));

  // The session ends when its refresh token does: the login answer and the listing agree.
  assert.ok(Math.abs(mine.expires_at - (tok.claims.iat + tok.body.refresh_expires_in)) <= 2,
            `listed expires_at ${mine.expires_at}, login said refresh_expires_in ` +
            `${tok.body.refresh_expires_in} at ${tok.claims.iat}`);
});

test('a bearer logout ends the session at once, with no CSRF token', T, async (t) => {
  const fx = await started(t);
  const watcher = await fx.tokenLogin('alice');
  const a = await fx.tokenLogin('alice');
  const b = await fx.rotate(a.rt);  // two access tokens of one session
  const out = await fx.call('POST', '/v1/logout', b.at);
  assert.equal(out.status, 204, out.text);
  assert.equal(out.text, '');
  await fx.expectRefused(b.at, 'the logged-out access token');
  await fx.expectRefused(a.at, 'an older access token of the session');
  // The other ECDSA signature of the same token is the same revoked token (JV-09).
  await fx.expectRefused(malleateEs256(b.at), 'the revoked token with s replaced by n - s');
  await fx.expectInvalidGrant(b.rt, 'the refresh token after logout');
  await fx.expectInvalidGrant(a.rt, 'the rotated refresh token after logout');
  assert.deepEqual(await ids(fx, watcher.at), [watcher.sid]);
  await pollUntil(() => readAudit(fx.data).find((e) => e.event === 'logout' && JSON.stringify(e).includes(a.sid)),
                  'an audit event "logout" naming the session', { timeout: 2000 });
});

test('a session ended by another one, by id: its access token is refused at once', T, async (t) => {
  const fx = await started(t, { users: { alice: [], bob: [] } });
  const a1 = await fx.tokenLogin('alice');
  const a2 = await fx.tokenLogin('alice');
  const b = await fx.tokenLogin('bob');
  // Bob's id through Alice's bearer: not found, and Bob stays signed in (no IDOR).
  assert.equal((await fx.call('DELETE', `/v1/sessions/${b.sid}`, a1.at)).status, 404);
  await fx.expectAccepted(b.at, 'bob after alice tried to end his session');

  const del = await fx.call('DELETE', `/v1/sessions/${a2.sid}`, a1.at);
  assert.equal(del.status, 204, del.text);
  await fx.expectRefused(a2.at, 'the ended session\'s access token');
  await fx.expectInvalidGrant(a2.rt, 'the ended session\'s refresh token');
  await fx.expectAccepted(a1.at, 'the caller');

  // Across kinds: a cookie session ends a token session, a token session ends a cookie session.
  const ck = await fx.cookieLogin('alice');
  const a3 = await fx.tokenLogin('alice');
  const res = await fx.fetch(`/v1/sessions/${a3.sid}`, { method: 'DELETE', headers: ck.headers });
  assert.equal(res.status, 204);
  await fx.expectRefused(a3.at, 'a token session ended from a cookie session');
  assert.equal(await cookieStatus(fx, ck), 200);
  assert.equal((await fx.call('DELETE', `/v1/sessions/${ck.sid}`, a1.at)).status, 204);
  assert.equal(await cookieStatus(fx, ck), 401, 'a cookie session ended by a bearer');
  assert.deepEqual(await ids(fx, a1.at), [a1.sid]);
});

test('sign out everywhere, from a token session and from a cookie session', T, async (t) => {
  const fx = await started(t, { users: { alice: [], bob: [] } });
  const me = await fx.tokenLogin('alice');
  const o1 = await fx.tokenLogin('alice');
  const o2 = await fx.tokenLogin('alice');
  const ck = await fx.cookieLogin('alice');
  const bob = await fx.tokenLogin('bob');

  const all = await fx.call('DELETE', '/v1/sessions', me.at);
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.body, { revoked: 3 });
  for (const o of [o1, o2]) {
    await fx.expectRefused(o.at, 'another token session after sign-out-everywhere');
    await fx.expectInvalidGrant(o.rt, 'another session\'s refresh token after sign-out-everywhere');
  }
  assert.equal(await cookieStatus(fx, ck), 401, 'the cookie session after sign-out-everywhere');
  await fx.expectAccepted(me.at, 'the caller\'s own session');
  const next = await fx.rotate(me.rt);
  assert.deepEqual(await ids(fx, next.at), [me.sid]);
  await fx.expectAccepted(bob.at, 'another user');

  // From a cookie session, with its CSRF token: the token sessions end at once.
  const ck2 = await fx.cookieLogin('alice');
  const t2 = await fx.tokenLogin('alice');
  const res = await fx.fetch('/v1/sessions', { method: 'DELETE', headers: ck2.headers });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { revoked: 2 });
  await fx.expectRefused(next.at, 'a token session after a cookie sign-out-everywhere');
  await fx.expectRefused(t2.at, 'a token session after a cookie sign-out-everywhere');
  await fx.expectInvalidGrant(t2.rt, 'its refresh token');
  assert.equal(await cookieStatus(fx, ck2), 200);
});

test('an admin bearer revokes all of a user\'s sessions; a non-admin bearer gets 403', T, async (t) => {
  const fx = await started(t, { users: { root: ['admin'], bob: [] } });
  const root = await fx.tokenLogin('root');
  const b1 = await fx.tokenLogin('bob');
  const b2 = await fx.tokenLogin('bob');
  const bc = await fx.cookieLogin('bob');

  for (const [method, p, body] of [['GET', '/v1/admin/users'],
                                   ['POST', '/v1/admin/users', { username: 'mallory', password: PASSWORD }],
                                   ['GET', '/v1/admin/users/root/sessions'],
                                   ['DELETE', '/v1/admin/users/root/sessions']]) {
    const r = await fx.call(method, p, b1.at, body);
    assert.equal(r.status, 403, `${method} ${p} with a non-admin bearer: ${r.text}`);
    assert.equal(r.body.error, 'forbidden');
  }
  await fx.expectAccepted(root.at, 'the admin after bob\'s attempts');

  const listed = await fx.call('GET', '/v1/admin/users/bob/sessions', root.at);
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.body.map((s) => s.id).sort(), [b1.sid, b2.sid, bc.sid].sort());
  assert.equal(listed.body.find((s) => s.id === b1.sid).kind, 'token');

  const gone = await fx.call('DELETE', '/v1/admin/users/bob/sessions', root.at);
  assert.equal(gone.status, 200, gone.text);
  assert.deepEqual(gone.body, { revoked: 3 });
  for (const b of [b1, b2]) {
    await fx.expectRefused(b.at, 'bob\'s access token after the admin revoked his sessions');
    await fx.expectInvalidGrant(b.rt, 'bob\'s refresh token after the admin revoked his sessions');
  }
  assert.equal(await cookieStatus(fx, bc), 401);
  await fx.expectAccepted(root.at, 'the admin');
  assert.ok(readAudit(fx.data).some((e) => e.event === 'admin.sessions_revoked' && e.username === 'bob'));
});

test('the CLI revokes a token session of a running server within a second', T, async (t) => {
  const fx = await started(t, { users: { alice: [], bob: [] } });
  const a = await fx.tokenLogin('alice');
  const other = await fx.tokenLogin('alice');
  await fx.expectAccepted(a.at, 'before the CLI revocation');  // and in the verified-token cache
  const r = fx.cli(['sessions', 'revoke', a.sid]);
  assert.equal(r.code, 0, r.err);
  const ms = await pollUntil(async () => (await fx.meStatus(a.at)) === 401,
                             'the access token of a session revoked by the CLI is refused',
                             { timeout: 3000, interval: 50 });
  t.diagnostic(`refused ${ms} ms after \`tessera sessions revoke\` returned`);
  await fx.expectRefused(a.at, 'after the CLI revocation');
  await fx.expectInvalidGrant(a.rt, 'the refresh token after the CLI revocation');
  await fx.expectAccepted(other.at, 'another session of the user');

  const b1 = await fx.tokenLogin('bob');
  const b2 = await fx.tokenLogin('bob');
  const all = fx.cli(['sessions', 'revoke-all', 'bob']);
  assert.equal(all.code, 0, all.err);
  const ms2 = await pollUntil(async () => (await fx.meStatus(b1.at)) === 401 && (await fx.meStatus(b2.at)) === 401,
                              'the access tokens of a user revoked by the CLI are refused',
                              { timeout: 3000, interval: 50 });
  t.diagnostic(`revoke-all: refused ${ms2} ms after the CLI returned`);
  await fx.expectInvalidGrant(b1.rt, 'bob\'s refresh token after revoke-all');
  await fx.expectAccepted(other.at, 'alice after bob\'s revoke-all');
});

test('a restart keeps the keys, the sessions and the revocations', T, async (t) => {
  const secret = 'restart-client-secret';
  // A fixed issuer: the restarted server listens on another port.
  const fx = await started(t, { env: { TESSERA_TOKEN_ISSUER: 'https://auth.tessera.test',
                                       TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(secret)}` } });
  const live = await fx.tokenLogin('alice');
  assert.equal(live.claims.iss, 'https://auth.tessera.test');
  const ended = await fx.tokenLogin('alice');
  const jtiRevoked = await fx.tokenLogin('alice');
  assert.equal((await fx.call('POST', '/v1/logout', ended.at)).status, 204);
  const rv = await fx.clientPost('/v1/revoke', { token: jtiRevoked.at }, basicAuth('orders', secret));
  assert.equal(rv.status, 200, rv.text);
  await fx.expectRefused(ended.at, 'before the restart');
  await fx.expectRefused(jtiRevoked.at, 'before the restart');
  const jwksBefore = await (await fx.fetch('/.well-known/jwks.json')).json();

  const exit = await fx.restart();
  assert.equal(exit.code, 0, 'SIGTERM stops cleanly');
  await fx.expectAccepted(live.at, 'a live access token after the restart');
  await fx.expectRefused(ended.at, 'an access token of a session ended before the restart');
  await fx.expectRefused(jtiRevoked.at, 'an access token revoked at /v1/revoke before the restart');
  await fx.expectInvalidGrant(ended.rt, 'the refresh token of the ended session');
  const next = await fx.rotate(live.rt);
  assert.equal(next.sid, live.sid);
  assert.equal(next.header.kid, live.header.kid, 'the same signing key after the restart');
  await fx.expectAccepted(next.at, 'a token issued after the restart');
  await fx.rotate(jtiRevoked.rt);  // revoking one access token left its session alive
  assert.deepEqual(await (await fx.fetch('/.well-known/jwks.json')).json(), jwksBefore);
});

test('introspection (RFC 7662): client-authenticated, exact answers for live and dead tokens', T, async (t) => {
  const secret = 'orders-secret-0123456789';
  const odd = 'p:a+s s/w%rd&=?';  // only survives the RFC 6749 section 2.3.1 form-encoding
  const fx = await started(t, { users: { alice: ['ops'] }, env: {
    TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(secret)},billing:${sha256hex(odd)}` } });
  const a = await fx.tokenLogin('alice');
  const auth = basicAuth('orders', secret);
  const introspect = (fields, authorization = auth) => fx.clientPost('/v1/introspect', fields, authorization);

  for (const [what, authorization] of [['no credentials', null],
                                       ['a wrong secret', basicAuth('orders', `${secret}x`)],
                                       ['an unknown client', basicAuth('nobody', secret)],
                                       ['another client\'s secret', basicAuth('billing', secret)],
                                       ['a user\'s bearer token', `Bearer ${a.at}`],
                                       ['malformed Basic', 'Basic !!!']]) {
    const r = await introspect({ token: a.at }, authorization);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.equal(r.body?.error, 'invalid_client', `${what}: ${r.text}`);
    assert.match(r.res.headers.get('www-authenticate') ?? '', /^Basic\b/, `${what}: WWW-Authenticate`);
    assert.ok(!r.text.includes('active'), `${what}: ${r.text}`);
  }

  const live = await introspect({ token: a.at });
  assert.equal(live.status, 200, live.text);
  const c = a.claims;
  assert.equal(live.body.active, true);
  assert.equal(live.body.token_type, 'Bearer');  // RFC 7662 2.2: the RFC 6749 5.1 type
  assert.equal(live.body.token_use, 'access_token');
  assert.equal(live.body.sub, c.sub);
  assert.equal(live.body.username, 'alice');
  assert.equal(live.body.sid, a.sid);
  assert.equal(live.body.exp, c.exp);
  assert.equal(live.body.iat, c.iat);
  assert.equal(live.body.iss, c.iss);
  assert.deepEqual(live.body.aud, c.aud);
  assert.equal(live.body.jti, c.jti);
  // A hint is only a hint (RFC 7662 section 2.1).
  const hinted = await introspect({ token: a.at, token_type_hint: 'refresh_token' });
  assert.equal(hinted.body.active, true, hinted.text);
  assert.equal(hinted.body.token_use, 'access_token');
  const viaOdd = await introspect({ token: a.at }, basicAuth('billing', odd));
  assert.equal(viaOdd.status, 200, `a secret with reserved characters: ${viaOdd.text}`);
  assert.equal(viaOdd.body.active, true);

  const rt = await introspect({ token: a.rt });
  assert.equal(rt.status, 200, rt.text);
  assert.equal(rt.body.active, true);
  assert.equal(rt.body.token_use, 'refresh_token');
  assert.equal(rt.body.token_type, undefined, 'a refresh token has no access-token type');
  assert.equal(rt.body.sub, c.sub);
  assert.equal(rt.body.sid, a.sid);
  // Introspection is not a use: the refresh token still rotates.
  const b = await fx.rotate(a.rt);

  for (const [what, token] of [['garbage', 'garbage'], ['a tampered access token', flipChar(b.at, 40)],
                               ['an unknown refresh token', flipChar(b.rt, 0)]]) {
    const r = await introspect({ token });
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    assert.deepEqual(r.body, { active: false }, what);
  }
  assert.equal((await fx.call('POST', '/v1/logout', b.at)).status, 204);
  for (const [what, token] of [['a logged-out access token', b.at], ['an older one', a.at],
                               ['a logged-out refresh token', b.rt]]) {
    const r = await introspect({ token });
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    assert.deepEqual(r.body, { active: false }, what);
  }
  // A live refresh token's exp is when the login answer said it would expire.
  assert.ok(Math.abs(rt.body.exp - (c.iat + a.body.refresh_expires_in)) <= 2,
            `introspected exp ${rt.body.exp}, login said refresh_expires_in ${a.body.refresh_expires_in} at ${c.iat}`);
});

test('revocation (RFC 7009): an access token alone, or a refresh token and its session', T, async (t) => {
  const secret = 'revoke-client-secret';
  const fx = await started(t, { env: { TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(secret)}` } });
  const auth = basicAuth('orders', secret);
  const revoke = (fields, authorization = auth) => fx.clientPost('/v1/revoke', fields, authorization);
  const watcher = await fx.tokenLogin('alice');
  const a = await fx.tokenLogin('alice');
  const b = await fx.rotate(a.rt);  // a.at and b.at: two live access tokens of one session

  for (const [what, authorization] of [['no credentials', null], ['a wrong secret', basicAuth('orders', 'x')],
                                       ['a user\'s bearer token', `Bearer ${watcher.at}`]]) {
    const r = await revoke({ token: a.at }, authorization);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.equal(r.body?.error, 'invalid_client', `${what}: ${r.text}`);
    assert.match(r.res.headers.get('www-authenticate') ?? '', /^Basic\b/, `${what}: WWW-Authenticate`);
  }
  await fx.expectAccepted(a.at, 'after unauthenticated revocation attempts');
  // No oracle: anything is "revoked".
  for (const token of ['garbage', flipChar(a.rt, 0), flipChar(a.at, 40), flipChar(a.at, a.at.length - 10)]) {
    const r = await revoke({ token });
    assert.equal(r.status, 200, `${token}: ${r.text}`);
  }
  // A tampered copy names a.at's jti in an intact payload; it must not revoke a.at.
  await fx.expectAccepted(a.at, 'after a tampered copy of it was "revoked"');

  // An access token: that token only, at once; its session lives on.
  let r = await revoke({ token: a.at, token_type_hint: 'access_token' });
  assert.equal(r.status, 200, r.text);
  await fx.expectRefused(a.at, 'a revoked access token');
  await fx.expectAccepted(b.at, 'another access token of the same session');
  const c = await fx.rotate(b.rt);
  await fx.expectAccepted(c.at, 'a new access token of the session');
  r = await revoke({ token: c.at });  // without a hint
  assert.equal(r.status, 200, r.text);
  await fx.expectRefused(c.at, 'an access token revoked without a hint');
  const d = await fx.rotate(c.rt);

  // A refresh token: the whole session, at once.
  r = await revoke({ token: d.rt, token_type_hint: 'refresh_token' });
  assert.equal(r.status, 200, r.text);
  await fx.expectRefused(d.at, 'an access token of a session whose refresh token was revoked');
  await fx.expectRefused(b.at, 'an older access token of that session');
  await fx.expectInvalidGrant(d.rt, 'a revoked refresh token');
  assert.deepEqual(await ids(fx, watcher.at), [watcher.sid]);

  // A wrong hint does not save a refresh token (RFC 7009 section 2.1).
  const e = await fx.tokenLogin('alice');
  r = await revoke({ token: e.rt, token_type_hint: 'access_token' });
  assert.equal(r.status, 200, r.text);
  await fx.expectRefused(e.at, 'after its refresh token was revoked with a wrong hint');
  await fx.expectInvalidGrant(e.rt, 'a refresh token revoked with a wrong hint');
  assert.equal((await revoke({ token: e.rt })).status, 200, 'revoking twice is fine');
  await fx.expectAccepted(watcher.at, 'the user\'s other session');
});

test('the per-user session limit evicts the oldest token session at once', T, async (t) => {
  const fx = await started(t, { env: { TESSERA_SESSION_MAX_PER_USER: '2' } });
  const t1 = await fx.tokenLogin('alice');
  const t2 = await fx.tokenLogin('alice');
  await fx.expectAccepted(t1.at, 'the first session before the limit is reached');
  const t3 = await fx.tokenLogin('alice');
  await fx.expectRefused(t1.at, 'the evicted (oldest) session');
  await fx.expectInvalidGrant(t1.rt, 'the evicted session\'s refresh token');
  await fx.expectAccepted(t2.at, 'the second session');
  await fx.expectAccepted(t3.at, 'the newest session');
  assert.deepEqual(await ids(fx, t3.at), [t2.sid, t3.sid].sort());
  // A cookie login counts the same: now t2 is the oldest.
  const ck = await fx.cookieLogin('alice');
  await fx.expectRefused(t2.at, 'the oldest token session, evicted by a cookie login');
  assert.equal(await cookieStatus(fx, ck), 200);
  await fx.expectAccepted(t3.at, 'the newest token session');
});

test('client secrets cannot be guessed online: failures spend the IP\'s sign-in budget', T, async (t) => {
  const secret = 'throttle-client-secret-0123456789';
  // `curl -u orders:SECRET` sends the secret without form-encoding; a '+' in it must still match.
  const plus = 'a+b/c=d%e';
  const fx = await TokenServer.start({ env: {
    TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(secret)},raw:${sha256hex(plus)}`,
    TESSERA_THROTTLE_LOGIN_PER_IP: '5/min' } });
  t.after(() => fx.close());
  const a = await fx.tokenLogin('alice');
  const introspect = (authorization) => fx.clientPost('/v1/introspect', { token: a.at }, authorization);
  const unencoded = `Basic ${Buffer.from(`raw:${plus}`).toString('base64')}`;
  assert.equal((await introspect(unencoded)).body.active, true, 'a secret sent as is (curl -u)');
  let refused;
  for (let i = 0; i < 10 && !refused; ++i) {
    const r = await introspect(basicAuth('orders', `guess-${i}`));
    if (r.status === 429) refused = r;
    else assert.equal(r.status, 401, r.text);
  }
  assert.ok(refused, 'guessing must be throttled');
  assert.equal(refused.body.error, 'too_many_attempts');
  assert.ok(Number(refused.res.headers.get('retry-after')) > 0);
  // While throttled, even the right secret waits: the answer must not tell a right guess apart.
  assert.equal((await introspect(basicAuth('orders', secret))).status, 429);
});

// GET /v1/revocations: what a service's own verifier follows instead of asking per request. A
// snapshot with a cursor, then a long poll that the next revocation answers within milliseconds,
// whoever made it (a logout here, the CLI in another process); after a restart the cursor goes
// on from where it was.
test('the revocation feed: a snapshot, then each revocation to a waiting client at once', T, async (t) => {
  const secret = 'orders-secret-0123456789';
  const fx = await started(t, { users: { alice: [], bob: [], carol: [] }, env: {
    TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(secret)}` } });
  const auth = basicAuth('orders', secret);
  const feed = async (query = '', authorization = auth) => {
    const res = await fx.fetch(`/v1/revocations${query}`, { headers: authorization ? { authorization } : {} });
    const text = await res.text();
    return { status: res.status, text, body: text ? JSON.parse(text) : null, cache: res.headers.get('cache-control') };
  };
  assert.equal((await feed('', null)).status, 401);
  assert.equal((await feed('', basicAuth('orders', 'wrong'))).status, 401);
  const discovery = await (await fx.fetch('/.well-known/openid-configuration')).json();
  assert.match(discovery.tessera_revocation_endpoint, /\/v1\/revocations$/);

  const a = await fx.tokenLogin('alice');
  const b = await fx.tokenLogin('bob');
  const c = await fx.tokenLogin('carol');
  assert.equal((await fx.call('POST', '/v1/logout', a.at)).status, 204);
  let snap;
  await pollUntil(async () => {
    snap = await feed();
    assert.equal(snap.status, 200, snap.text);
    return snap.body.revocations.some((e) => e.sid === a.sid);
  }, 'the snapshot holds the logout', { timeout: 2000, interval: 10 });
  assert.equal(snap.cache, 'no-store');
  const entry = snap.body.revocations.find((e) => e.sid === a.sid);
  assert.ok(entry.until >= a.claims.exp, JSON.stringify(entry));

  // A long poll from the snapshot's cursor, answered by bob's logout. The snapshot's list applies
  // this instance's own logout at once, while its cursor comes from the feed, which has the
  // logout once the change follower has read it: alice's entry may come again after the cursor
  // (the server says so: "in both, harmless"; a client applies entries idempotently). Then the
  // next poll, from that answer's cursor, has bob's.
  const waiting = feed(`?after=${encodeURIComponent(snap.body.cursor)}&wait=10s`);
  await new Promise((r) => setTimeout(r, 200));
  const before = Date.now();
  assert.equal((await fx.call('POST', '/v1/logout', b.at)).status, 204);
  const loggedOut = Date.now();
  let next = await waiting;
  assert.equal(next.status, 200, next.text);
  if (!next.body.revocations.some((e) => e.sid === b.sid)) {
    assert.deepEqual(next.body.revocations.map((e) => e.sid), [a.sid]);
    next = await feed(`?after=${encodeURIComponent(next.body.cursor)}&wait=10s`);
    assert.equal(next.status, 200, next.text);
  }
  t.diagnostic(`long poll answered ${Date.now() - loggedOut} ms after the logout was answered`);
  const fresh = next.body.revocations.filter((e) => e.sid !== a.sid);
  assert.deepEqual(fresh.map((e) => e.sid), [b.sid]);
  assert.ok(fresh[0].seq > 0);
  assert.ok(Date.now() - before < 1000, 'pushed, not found at the end of the wait');

  // The CLI in another process: its revocation reaches the waiting client through the feed too.
  const again = feed(`?after=${encodeURIComponent(next.body.cursor)}&wait=10`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fx.cli(['sessions', 'revoke', c.sid]).code, 0);
  const third = await again;
  assert.equal(third.status, 200, third.text);
  assert.deepEqual(third.body.revocations.map((e) => e.sid), [c.sid]);

  // A restart: a waiting client is answered at once (the stop does not wait out its poll), the
  // store's feed goes on, and so does the cursor.
  const cut = feed(`?after=${encodeURIComponent(third.body.cursor)}&wait=30`);
  await new Promise((r) => setTimeout(r, 200));
  const stopping = Date.now();
  await fx.restart();
  t.diagnostic(`restart with a waiting client took ${Date.now() - stopping} ms`);
  const released = await cut;
  assert.equal(released.status, 200, released.text);
  assert.deepEqual(released.body.revocations, []);
  assert.ok(Date.now() - stopping < 8000, 'the stop did not wait for the long poll');
  const resumed = await feed(`?after=${encodeURIComponent(next.body.cursor)}`);
  assert.equal(resumed.status, 200, resumed.text);
  assert.deepEqual(resumed.body.revocations.map((e) => e.sid), [c.sid]);
  const unknown = await feed('?after=0123456789abcdef-1');
  assert.equal(unknown.status, 410, unknown.text);
  assert.equal(unknown.body.error, 'cursor_unknown');
  assert.equal((await feed('?wait=5')).status, 400);
});
