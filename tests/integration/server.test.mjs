// The real `tessera serve` over real sockets: the session-mode HTTP contract of docs/design.md, its
// security rules (cookie attributes, CSRF, fixation, identical failures) and malformed input.
// Run by ctest (server_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/server.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { spawn } from 'node:child_process';
import path from 'node:path';

import { BIN, startServer, tessera } from './tessera.mjs';

const PASSWORD = 'correct horse battery';

async function stopServer(server) {
  server.child.kill('SIGTERM');
  return server.exited;
}

function cookieOf(res) {
  const set = res.headers.get('set-cookie') ?? '';
  const m = set.match(/__Host-tessera_session=([^;]*)/);
  return m ? m[1] : null;
}

// A raw HTTP exchange: writes `request`, reads until the server closes or `ms` passes.
function raw(url, request, ms = 3000) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    let data = '';
    sock.setTimeout(ms, () => { sock.destroy(); resolve(data); });
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
    sock.write(request);
  });
}

// Like raw(), with the request written in `pieces`, one every `gapMs`; a write the server no
// longer reads (it answered and closed) ends the exchange with what was answered.
function rawPieces(url, pieces, gapMs, ms = 5000) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = net.connect(Number(port), hostname);
    let data = '';
    let open = true;
    const done = () => { open = false; sock.destroy(); resolve(data); };
    sock.setTimeout(ms, done);
    sock.on('data', (d) => { data += d; });
    sock.on('end', done);
    sock.on('error', done);
    (async () => {
      for (const piece of pieces) {
        if (!open) return;
        sock.write(piece);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    })();
  });
}

let dir, server, base;

async function login(username = 'alice', password = PASSWORD, headers = {}) {
  const res = await fetch(`${base}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ username, password }),
  });
  const body = await res.json();
  return { res, body, cookie: cookieOf(res) };
}

function withCookie(cookie, extra = {}) {
  return { cookie: `__Host-tessera_session=${cookie}`, ...extra };
}

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-it-'));
  const data = path.join(dir, 'data');
  for (const [name, roles] of [['alice', ['admin', 'ops']], ['bob', []]]) {
    const args = ['user', 'add', name, '--password-stdin', '--data', data];
    for (const r of roles) args.push('--role', r);
    const r = tessera(args, PASSWORD + '\n');
    assert.equal(r.code, 0, r.err);
  }
  server = await startServer(data);
  base = server.url;
});

after(async () => {
  if (server) await stopServer(server);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the server\'s threads are named for top -H and perf; the process keeps its own name', () => {
  const task = `/proc/${server.child.pid}/task`;
  const names = fs.readdirSync(task).map((t) => fs.readFileSync(`${task}/${t}/comm`, 'utf8').trim());
  assert.equal(fs.readFileSync(`/proc/${server.child.pid}/comm`, 'utf8').trim(), 'tessera');
  for (const want of ['tessera-hash', 'tessera-store', 'tessera-chores', 'tessera-feed']) {
    assert.ok(names.includes(want), `no thread named ${want}: ${names.join(', ')}`);
  }
});

test('health and readiness answer JSON with security headers', async () => {
  for (const p of ['/healthz', '/readyz']) {
    const res = await fetch(base + p);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal((await res.json()).status, 'ok');
  }
});

test('login sets exactly the cookie docs/design.md prescribes', async () => {
  const { res, body, cookie } = await login('Alice');
  assert.equal(res.status, 200);
  // Two cookies: the session, and the device cookie that keeps this browser's own sign-in
  // budget for the account (README, "Rules the server keeps").
  const cookies = res.headers.getSetCookie();
  assert.equal(cookies.length, 2, cookies.join('\n'));
  const set = cookies.find((c) => c.startsWith('__Host-tessera_session='));
  assert.match(set, /^__Host-tessera_session=[A-Za-z0-9_-]{43}; /);
  const device = cookies.find((c) => c.startsWith('__Host-tessera_device='));
  assert.match(device, /^__Host-tessera_device=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}; Path=\/; Max-Age=31536000; HttpOnly; Secure; SameSite=Strict$/);
  const attrs = set.split('; ').slice(1);
  assert.deepEqual(attrs.filter((a) => !a.startsWith('Max-Age=')).sort(),
                   ['HttpOnly', 'Path=/', 'SameSite=Lax', 'Secure']);
  const maxAge = Number(attrs.find((a) => a.startsWith('Max-Age=')).slice(8));
  assert.ok(maxAge > 0 && maxAge <= 14 * 86400, `Max-Age ${maxAge}`);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.deepEqual(body.user, { sub: body.user.sub, username: 'alice', roles: ['admin', 'ops'] });
  assert.match(body.csrf_token, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(body.session.id && body.session.id !== cookie, 'session id is a public handle');
  assert.ok(!JSON.stringify(body).includes(cookie), 'the cookie value never appears in a body');
  assert.ok(Number(res.headers.get('x-auth-expires-at')) > Date.now() / 1000);
});

test('wrong password, unknown user and a malformed name get the same answer', async () => {
  const answers = [];
  for (const [u, p] of [['alice', 'wrong password!'], ['nobody', PASSWORD], [' x', PASSWORD]]) {
    const res = await fetch(`${base}/v1/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: u, password: p }),
    });
    answers.push({ status: res.status, body: await res.text(),
                   headers: [...res.headers].filter(([k]) => k !== 'date') });
  }
  assert.equal(answers[0].status, 401);
  assert.deepEqual(JSON.parse(answers[0].body).error, 'invalid_credentials');
  assert.deepEqual(answers[1], answers[0]);
  assert.deepEqual(answers[2], answers[0]);
});

test('me, sessions and forward-auth recognise the cookie and nothing else', async () => {
  const { cookie, body } = await login();
  const me = await fetch(`${base}/v1/me`, { headers: withCookie(cookie) });
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json(), { sub: body.user.sub, username: 'alice',
                                      roles: ['admin', 'ops'], sid: body.session.id,
                                      auth: 'session', csrf_token: body.csrf_token,
                                      amr: ['pwd'] });
  assert.ok(me.headers.get('x-auth-expires-at'));
  for (const headers of [{}, withCookie('A'.repeat(43)), withCookie('garbage'),
                         { 'x-session': cookie }, { authorization: `Bearer ${cookie}` }]) {
    const res = await fetch(`${base}/v1/me`, { headers });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'invalid_token');
  }
  const inQuery = await fetch(`${base}/v1/me?session=${cookie}`);
  assert.equal(inQuery.status, 401);

  const auth = await fetch(`${base}/v1/auth`, { headers: withCookie(cookie) });
  assert.equal(auth.status, 200);
  assert.equal(auth.headers.get('x-auth-user'), 'alice');
  assert.equal(auth.headers.get('x-auth-subject'), body.user.sub);
  assert.equal(auth.headers.get('x-auth-roles'), 'admin,ops');
  assert.equal(auth.headers.get('x-auth-session'), body.session.id);
  const head = await fetch(`${base}/v1/auth`, { method: 'HEAD', headers: withCookie(cookie) });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('x-auth-user'), 'alice');
  assert.equal((await fetch(`${base}/v1/auth`)).status, 401);
  assert.equal((await fetch(`${base}/v1/auth`, { method: 'HEAD' })).status, 401);
});

test('state-changing requests need the CSRF token and an allowed Origin', async () => {
  const { cookie, body } = await login();
  const other = await login();
  const logout = (headers) => fetch(`${base}/v1/logout`, { method: 'POST', headers });
  for (const headers of [withCookie(cookie),
                         withCookie(cookie, { 'x-csrf-token': 'A'.repeat(43) }),
                         // Another session's token is no good here (bound to the session).
                         withCookie(cookie, { 'x-csrf-token': other.body.csrf_token }),
                         // A browser that says "cross-site" is believed even without Origin.
                         withCookie(cookie, { 'x-csrf-token': body.csrf_token,
                                              'sec-fetch-site': 'cross-site' }),
                         withCookie(cookie, { 'x-csrf-token': body.csrf_token,
                                              origin: 'http://evil.example' }),
                         withCookie(cookie, { 'x-csrf-token': body.csrf_token, origin: 'null' })]) {
    const res = await logout(headers);
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error, 'csrf_failed');
  }
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(cookie) })).status, 200);
  const ok = await logout(withCookie(cookie, { 'x-csrf-token': body.csrf_token, origin: base }));
  assert.equal(ok.status, 204);
  assert.match(ok.headers.get('set-cookie'), /^__Host-tessera_session=; Path=\/; Max-Age=0;/);
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(cookie) })).status, 401);
  // Logging out again is harmless.
  assert.equal((await logout(withCookie(cookie))).status, 204);
  // GET /v1/me tells a page the CSRF token of its session (derived from it, so stable).
  const me = await (await fetch(`${base}/v1/me`, { headers: withCookie(other.cookie) })).json();
  assert.equal(me.csrf_token, other.body.csrf_token);
});

test('a cross-site login is refused (login CSRF)', async () => {
  for (const headers of [{ origin: 'http://evil.example' }, { origin: 'null' },
                         { 'sec-fetch-site': 'cross-site' }]) {
    const { res } = await login('alice', PASSWORD, headers);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('set-cookie'), null);
  }
  assert.equal((await login('alice', PASSWORD, { origin: base })).res.status, 200);
});

test('a login never adopts the identifier the client brought (fixation)', async () => {
  const planted = (await login()).cookie;
  const { cookie } = await login('alice', PASSWORD, withCookie(planted));
  assert.notEqual(cookie, planted);
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(planted) })).status, 401);
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(cookie) })).status, 200);
});

test('users list and end their own sessions only', async () => {
  const a1 = await login();
  const a2 = await login();
  const b = await login('bob');
  const list = await (await fetch(`${base}/v1/sessions`, { headers: withCookie(a1.cookie) })).json();
  const ids = list.map((s) => s.id);
  assert.ok(ids.includes(a1.body.session.id) && ids.includes(a2.body.session.id));
  assert.ok(!ids.includes(b.body.session.id), 'another user\'s session is never listed');
  assert.equal(list.filter((s) => s.current).length, 1);
  assert.equal(list.find((s) => s.current).id, a1.body.session.id);
  for (const s of list) {
    assert.deepEqual(Object.keys(s).sort(), ['created_at', 'current', 'expires_at', 'id', 'ip',
                                             'kind', 'last_seen_at', 'user_agent']);
    assert.equal(s.ip, '127.0.0.1');
  }
  const del = (cookie, csrf, p) => fetch(`${base}${p}`, {
    method: 'DELETE', headers: withCookie(cookie, { 'x-csrf-token': csrf }) });
  // Bob's handle through Alice's session: not found, and Bob stays signed in (no IDOR).
  assert.equal((await del(a1.cookie, a1.body.csrf_token, `/v1/sessions/${b.body.session.id}`)).status, 404);
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(b.cookie) })).status, 200);
  assert.equal((await del(a1.cookie, a1.body.csrf_token, `/v1/sessions/${a2.body.session.id}`)).status, 204);
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(a2.cookie) })).status, 401);
  const a3 = await login();
  const all = await del(a1.cookie, a1.body.csrf_token, '/v1/sessions');
  assert.equal(all.status, 200);
  assert.ok((await all.json()).revoked >= 1);
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(a3.cookie) })).status, 401);
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(a1.cookie) })).status, 200);
  assert.equal((await del(a1.cookie, '', '/v1/sessions')).status, 403);
});

test('a revocation by the CLI reaches the running server within 50 ms', async () => {
  const { cookie, body } = await login('bob');
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(cookie) })).status, 200);
  const r = tessera(['sessions', 'revoke', body.session.id, '--data', path.join(dir, 'data')]);
  assert.equal(r.code, 0, r.err);
  // The server's change follower reads the database's change feed every 10 ms, so by then the
  // session has left its cache.
  await new Promise((res) => setTimeout(res, 60));
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(cookie) })).status, 401);
});

test('bad requests get precise errors and the server keeps serving', async () => {
  const post = (body, type = 'application/json') => fetch(`${base}/v1/login`, {
    method: 'POST', headers: { 'content-type': type }, body });
  for (const [body, type] of [['{"username":"alice","password":"x"', 'application/json'],
                              ['[1,2]', 'application/json'],
                              ['{"username":"alice"}', 'application/json'],
                              ['{"username":"a","password":"b","password":"c"}', 'application/json'],
                              [JSON.stringify({ username: 'alice', password: 'x'.repeat(2000) }), 'application/json'],
                              [JSON.stringify({ username: 'alice', password: PASSWORD, mode: 'magic' }), 'application/json']]) {
    const res = await post(body, type);
    assert.equal(res.status, 400, body.slice(0, 60));
    assert.equal((await res.json()).error, 'invalid_request');
  }
  // Simple (CORS-safelisted) types a cross-site form can send: 415, never a session.
  for (const [body, type] of [[`username=alice&password=${PASSWORD}`, 'application/x-www-form-urlencoded'],
                              [JSON.stringify({ username: 'alice', password: PASSWORD }), 'text/plain'],
                              [JSON.stringify({ username: 'alice', password: PASSWORD }), 'multipart/form-data; boundary=x']]) {
    const res = await post(body, type);
    assert.equal(res.status, 415, type);
    assert.equal((await res.json()).error, 'invalid_request');
    assert.equal(res.headers.get('set-cookie'), null);
  }
  const huge = await post(JSON.stringify({ username: 'alice', password: 'x'.repeat(1 << 20) }));
  assert.equal(huge.status, 413);
  const get = await fetch(`${base}/v1/login?username=alice&password=x`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal((await get.json()).error, 'invalid_request');
  const missing = await fetch(`${base}/v1/nothing`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error, 'not_found');

  const bigHeader = await raw(base, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
  assert.match(bigHeader, /^HTTP\/1\.1 431 /);
  for (const bad of ['NONSENSE\r\n\r\n',
                     'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
                     'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
                     'GET /healthz HTTP/1.1\r\nHo\0st: x\r\n\r\n',
                     'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\n\r\n']) {
    const answer = await raw(base, bad);
    assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(bad));
  }
  const chunkedForever = await raw(base, 'POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
                                   `10000\r\n${'a'.repeat(0x10000)}\r\n10000\r\n${'a'.repeat(0x10000)}\r\n`);
  assert.match(chunkedForever, /^HTTP\/1\.1 413 /);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});

test('request limits hold at their exact boundaries, and no request stops the server', async () => {
  // A head (request line, fields, blank line) of exactly header_limit (16 KiB) bytes is read.
  const head = (n) => {
    const start = 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ';
    const end = '\r\n\r\n';
    return start + 'a'.repeat(n - start.length - end.length) + end;
  };
  assert.equal(head(16384).length, 16384);
  assert.match(await raw(base, head(16384)), /^HTTP\/1\.1 200 /);
  assert.match(await raw(base, head(16385)), /^HTTP\/1\.1 431 /);
  // A head sent in pieces is counted whole: 40 lines of 1 KiB in pieces of 1,001 bytes, one
  // every 5 ms, each ending inside a line (so the parser takes the complete lines before it, the
  // case Beast's own limit missed).
  const lines = Array.from({ length: 40 }, (_, i) => `X-Line-${i}: ${'b'.repeat(1000)}\r\n`).join('');
  const whole = `GET /healthz HTTP/1.1\r\nHost: x\r\n${lines}\r\n`;
  const cut = [];
  for (let i = 0; i < whole.length; i += 1001) cut.push(whole.slice(i, i + 1001));
  assert.match(await rawPieces(base, cut, 5), /^HTTP\/1\.1 431 /);
  // A body of exactly body_limit (64 KiB) is read (and refused as JSON); one byte more is 413.
  const post = (n) => 'POST /v1/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' +
    `Content-Type: application/json\r\nContent-Length: ${n}\r\n\r\n${'a'.repeat(n)}`;
  assert.match(await raw(base, post(65536)), /^HTTP\/1\.1 400 /);
  assert.match(await raw(base, post(65537)), /^HTTP\/1\.1 413 /);
  // Chunk extensions, trailers and framing are bounded too. A trailer field over 64 KiB once
  // made Boost.Beast throw out of the read and the process abort.
  const chunked = 'POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
    'Transfer-Encoding: chunked\r\n\r\n';
  assert.match(await raw(base, `${chunked}2\r\n{}\r\n0\r\nX-Trailer: ${'t'.repeat(70000)}\r\n\r\n`),
               /^HTTP\/1\.1 413 /);
  assert.match(await raw(base, `${chunked}2;ext=${'e'.repeat(1 << 20)}\r\n{}\r\n0\r\n\r\n`),
               /^HTTP\/1\.1 413 /);
  // Trailer fields are not headers: a session cookie sent only as a trailer authenticates nothing.
  const { cookie } = await login();
  const trailerCookie = await raw(base, 'GET /v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' +
    `Transfer-Encoding: chunked\r\n\r\n0\r\nCookie: __Host-tessera_session=${cookie}\r\n\r\n`);
  assert.match(trailerCookie, /^HTTP\/1\.1 401 /);
  const headCookie = await raw(base, 'GET /v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' +
    `Cookie: __Host-tessera_session=${cookie}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
  assert.match(headCookie, /^HTTP\/1\.1 200 /, 'the same cookie in the head is the session');
  // An error answering a HEAD has no body, whatever it is.
  const headTooLarge = await raw(base, 'HEAD /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n');
  assert.match(headTooLarge, /^HTTP\/1\.1 413 /);
  assert.ok(headTooLarge.endsWith('\r\n\r\n'), JSON.stringify(headTooLarge.slice(-40)));
  // 20,000 one-byte chunks: a small body in 120 KB of framing.
  const tiny = '1\r\na\r\n'.repeat(20000);
  assert.match(await raw(base, `${chunked}${tiny}0\r\n\r\n`), /^HTTP\/1\.1 413 /);
  assert.equal((await fetch(`${base}/healthz`)).status, 200, 'still serving');
});

test('responses are framed exactly: pipelining, HEAD, 204, HTTP/1.0 keep-alive', async () => {
  const { cookie, body } = await login();
  const c = `Cookie: __Host-tessera_session=${cookie}\r\n`;
  // Three pipelined requests on one connection, the last asking to close.
  const three = await raw(base, `GET /v1/auth HTTP/1.1\r\nHost: x\r\n${c}\r\n` +
                                `HEAD /v1/auth HTTP/1.1\r\nHost: x\r\n${c}\r\n` +
                                `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const heads = three.split(/(?=HTTP\/1\.1 )/);
  assert.equal(heads.length, 3, three);
  assert.match(heads[0], /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(heads[0], /\r\nX-Auth-User: alice\r\n/);
  assert.match(heads[0], /\r\nContent-Length: 0\r\n/);
  assert.doesNotMatch(heads[0], /Connection:/i, 'HTTP/1.1 keeps alive without saying so');
  assert.match(heads[1], /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/, 'HEAD: headers only');
  assert.match(heads[2], /\r\nConnection: close\r\nContent-Length: 15\r\n\r\n\{"status":"ok"\}$/);
  // HEAD announces the length GET would send, and sends no body.
  const getMe = await raw(base, `GET /v1/me HTTP/1.1\r\nHost: x\r\n${c}Connection: close\r\n\r\n`);
  const headMe = await raw(base, `HEAD /v1/me HTTP/1.1\r\nHost: x\r\n${c}Connection: close\r\n\r\n`);
  const len = getMe.match(/\r\nContent-Length: (\d+)\r\n/)[1];
  assert.equal(getMe.split('\r\n\r\n')[1].length, Number(len));
  assert.match(headMe, new RegExp(`\\r\\nContent-Length: ${len}\\r\\n\\r\\n$`));
  // 204 has neither a body nor a Content-Length (RFC 9110 section 8.6).
  const other = await login();
  const revoke = await raw(base, `DELETE /v1/sessions/${other.body.session.id} HTTP/1.1\r\nHost: x\r\n${c}` +
                                 `X-CSRF-Token: ${body.csrf_token}\r\nConnection: close\r\n\r\n`);
  assert.match(revoke, /^HTTP\/1\.1 204 No Content\r\n/);
  assert.doesNotMatch(revoke, /Content-Length/i);
  assert.ok(revoke.endsWith('\r\n\r\n'));
  // An error the HTTP layer answers after a HEAD on the same connection still has its body.
  const afterHead = await raw(base, `HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n` +
                                    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(20000)}\r\n\r\n`);
  const answers = afterHead.split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 2, afterHead);
  assert.match(answers[1], /^HTTP\/1\.1 431 /);
  const length = Number(answers[1].match(/\r\nContent-Length: (\d+)\r\n/)[1]);
  assert.ok(length > 0);
  assert.equal(answers[1].split('\r\n\r\n')[1].length, length, 'the 431 carries its body');
  // An HTTP/1.0 client that asks for keep-alive is told so, and gets two answers on one socket.
  const old = await raw(base, 'GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
                              'GET /healthz HTTP/1.0\r\n\r\n');
  const olds = old.split(/(?=HTTP\/1\.1 )/);
  assert.equal(olds.length, 2, old);
  assert.match(olds[0], /\r\nConnection: keep-alive\r\n/);
  assert.match(olds[1], /\r\nConnection: close\r\n/);
});

test('sessions survive a restart; SIGTERM stops cleanly', async () => {
  const { cookie } = await login();
  const stopped = await stopServer(server);
  assert.equal(stopped.code, 0);
  server = await startServer(path.join(dir, 'data'));
  base = server.url;
  assert.equal((await fetch(`${base}/v1/me`, { headers: withCookie(cookie) })).status, 200);
});

test('idle sessions expire on the server, whatever the cookie says', async () => {
  const data = path.join(dir, 'idle');
  assert.equal(tessera(['user', 'add', 'carol', '--password-stdin', '--data', data], PASSWORD + '\n').code, 0);
  const s = await startServer(data, { TESSERA_SESSION_IDLE_TIMEOUT: '2s' });
  try {
    const res = await fetch(`${s.url}/v1/login`, { method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: PASSWORD }) });
    const cookie = cookieOf(res);
    assert.equal((await fetch(`${s.url}/v1/me`, { headers: withCookie(cookie) })).status, 200);
    await new Promise((r) => setTimeout(r, 3000));
    const late = await fetch(`${s.url}/v1/me`, { headers: withCookie(cookie) });
    assert.equal(late.status, 401);
    assert.equal((await late.json()).error_description, 'session expired');
  } finally {
    await stopServer(s);
  }
});

test('configuration errors stop startup with exit code 2 and the key named', () => {
  const r = tessera(['serve', '--data', path.join(dir, 'x')], '', { TESSERA_SESSION_IDLE_TIMEOUT: 'soon' });
  assert.equal(r.code, 2);
  assert.match(r.err, /session\.idle_timeout/);
});

test('failed sign-ins are throttled per account and per IP, never forever', async () => {
  const data = path.join(dir, 'throttle');
  assert.equal(tessera(['user', 'add', 'dave', '--password-stdin', '--data', data], PASSWORD + '\n').code, 0);
  const s = await startServer(data, { TESSERA_THROTTLE_LOGIN_PER_USER: '3/3s',
                                      TESSERA_THROTTLE_LOGIN_PER_IP: '8/min' });
  const attempt = async (username, password) => {
    const res = await fetch(`${s.url}/v1/login`, { method: 'POST',
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    return { status: res.status, retry: res.headers.get('retry-after'), body: await res.json() };
  };
  try {
    for (const name of ['dave', 'ghost']) {
      for (let i = 0; i < 3; ++i) assert.equal((await attempt(name, 'wrong password')).status, 401);
    }
    // Blocked: even the right password is refused, and a real account looks like a made-up one.
    const real = await attempt('dave', PASSWORD);
    const ghost = await attempt('ghost', PASSWORD);
    assert.equal(real.status, 429);
    assert.equal(real.body.error, 'too_many_attempts');
    assert.ok(Number(real.retry) >= 1 && Number(real.retry) <= 3, real.retry);
    // The same answer for both; only the seconds left may differ, as the two blocks began a few
    // milliseconds apart.
    assert.equal(ghost.status, real.status);
    assert.equal(ghost.body.error, real.body.error);
    assert.ok(Math.abs(Number(ghost.retry) - Number(real.retry)) <= 1);
    await new Promise((r) => setTimeout(r, (Number(real.retry) + 1) * 1000));
    assert.equal((await attempt('dave', PASSWORD)).status, 200);
    // The IP has 6 failures of 8; two more names to spray and the address is blocked too.
    assert.equal((await attempt('eve', 'x'.repeat(9))).status, 401);
    assert.equal((await attempt('mallory', 'x'.repeat(9))).status, 401);
    assert.equal((await attempt('trent', 'x'.repeat(9))).status, 429);
  } finally {
    await stopServer(s);
  }
});

test('a database locked by another process gives 503 after waiting, never 500 or a false yes', async () => {
  const data = path.join(dir, 'locked');
  assert.equal(tessera(['user', 'add', 'erin', '--password-stdin', '--data', data], PASSWORD + '\n').code, 0);
  const s = await startServer(data);
  const attempt = (password) => fetch(`${s.url}/v1/login`, { method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'erin', password }) });
  // Another process takes the write locks of the database and of the sign-in counters (a file of
  // their own) for 5 s.
  const holder = spawn('python3', ['-c', `
import sqlite3, sys, time
dbs = [sqlite3.connect(p, isolation_level=None) for p in sys.argv[1:]]
for db in dbs: db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(5)
for db in dbs: db.execute("ROLLBACK")`, path.join(data, 'tessera.db'), path.join(data, 'throttle.db')],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    const good = await attempt(PASSWORD);       // the session cannot be written
    assert.equal(good.status, 503);
    assert.equal((await good.json()).error, 'unavailable');
    assert.equal(good.headers.get('set-cookie'), null);
    const bad = await attempt('wrong password');  // the failure cannot be counted: no free guess
    assert.equal(bad.status, 503);
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    await new Promise((resolve) => holder.on('exit', resolve));
    const after = await attempt(PASSWORD);
    assert.equal(after.status, 200);
  } finally {
    holder.kill();
    await stopServer(s);
  }
});

test('a thousand idle and half-sent connections do not starve other clients', async () => {
  const { hostname, port } = new URL(base);
  const sockets = [];
  try {
    for (let i = 0; i < 1000; ++i) {
      const sock = net.connect(Number(port), hostname);
      sock.on('error', () => {});
      // Half of them start a request and never finish it (slowloris); the rest say nothing.
      if (i % 2) sock.write('GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      sockets.push(sock);
    }
    await Promise.all(sockets.map((s) => new Promise((resolve) => {
      if (s.readyState === 'open') resolve(); else s.once('connect', resolve).once('error', resolve);
    })));
    const { cookie } = await login();
    for (let i = 0; i < 20; ++i) {
      const res = await fetch(`${base}/v1/me`, { headers: withCookie(cookie) });
      assert.equal(res.status, 200);
    }
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  } finally {
    for (const s of sockets) s.destroy();
  }
});
