// docs/limits.md against the real server: the request-limits table is read, and each row is
// checked at its boundary with the row's own value (at the value: accepted; one step past: the
// answer the row names). A row without a check here, or a check without a row, fails; so does a
// value this test cannot parse. Run by ctest (limits_integration) with TESSERA_BIN set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { PASSWORD, TokenServer, b64url, basicAuth, decodeJwt, sha256hex } from './token_fixture.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TABLE = path.join(ROOT, 'docs/limits.md');
const CLIENT_SECRET = 'limits-client-secret-0123456789';

// The rows of the first table: id -> {value (the number), unit, past (the answer's text)}.
function readTable() {
  const text = fs.readFileSync(TABLE, 'utf8');
  const section = text.split('## Request limits')[1].split('\n## ')[0];
  const rows = new Map();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const m = line.match(/^\| `([a-z-]+)` \| [^|]+ \| ([0-9]+)(?: ([^|]*?))? \| ([^|]+) \| [^|]+ \|$/);
    assert.ok(m, `docs/limits.md: a row this test cannot read: ${line}`);
    rows.set(m[1], { value: Number(m[2]), unit: (m[3] ?? '').trim(), past: m[4].trim() });
  }
  return rows;
}

// One raw HTTP/1.1 exchange (the request written as given); resolves with the answer's text
// once the server closes, or after `ms`.
function raw(base, request, ms = 5000) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const sock = net.connect(Number(port), hostname);
    let data = '';
    const done = () => { sock.destroy(); resolve(data); };
    sock.setTimeout(ms, done);
    sock.on('data', (d) => { data += d; });
    sock.on('end', done);
    sock.on('error', done);
    sock.write(request);
  });
}
const status = (answer) => Number((answer.match(/^HTTP\/1\.1 (\d{3}) /) ?? [])[1]);

let fx, admin, rows;

before(async () => {
  rows = readTable();
  fx = await TokenServer.start({
    users: { root: ['admin'], bob: [] },
    env: { TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(CLIENT_SECRET)}` },
    prefix: 'tessera-limits-',
  });
  admin = await fx.tokenLogin('root');
});

after(async () => { if (fx) await fx.close(); });

async function json(method, p, body, headers = {}) {
  const res = await fx.fetch(p, { method, headers: { 'content-type': 'application/json', ...headers },
                                  body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

const asAdmin = () => ({ authorization: `Bearer ${admin.at}` });
const randomText = (n) => crypto.randomBytes(n).toString('base64url').slice(0, n);
let accounts = 0;
const newName = () => `limits${++accounts}`;

// Each check gets its row and asserts both sides of the boundary.
const checks = {
  async head(row) {
    const request = (n) => {
      const start = 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ';
      const end = '\r\n\r\n';
      return start + 'a'.repeat(n - start.length - end.length) + end;
    };
    assert.equal(status(await raw(fx.base, request(row.value))), 200);
    assert.equal(status(await raw(fx.base, request(row.value + 1))), 431);
  },

  async body(row) {
    const request = (n) => 'POST /v1/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${n}\r\n\r\n${' '.repeat(n - 2)}{}`;
    // Read whole and refused as a body without credentials: 400, not 413.
    assert.equal(status(await raw(fx.base, request(row.value))), 400);
    assert.equal(status(await raw(fx.base, request(row.value + 1))), 413);
  },

  async framing(row) {
    // One-byte chunks ("1\r\na\r\n", 6 bytes each) make framing grow fast; an extension on the
    // first chunk sets the total to the byte.
    const request = (total) => {
      const head = 'POST /v1/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
      const last = '0\r\n\r\n';
      // head + "1;x" + extension + "\r\na\r\n" + (n - 1) * 6 + last
      const n = Math.floor((total - head.length - last.length - 2) / 6);
      const extension = total - head.length - last.length - 6 * n - 2;
      assert.ok(extension >= 0 && extension < 100);
      const first = `1;x${'e'.repeat(extension)}\r\na\r\n`;
      const message = head + first + '1\r\na\r\n'.repeat(n - 1) + last;
      assert.equal(message.length, total);
      return message;
    };
    // At the limit the body is read whole (then refused as not JSON): 400.
    assert.equal(status(await raw(fx.base, request(row.value))), 400);
    assert.equal(status(await raw(fx.base, request(row.value + 1))), 413);
  },

  async 'json-depth'(row) {
    const nested = (levels) => {
      let inner = '{"username":"x","password":"y"}';
      for (let i = 1; i < levels; ++i) inner = `{"username":"x","password":"y","n":${inner}}`;
      return inner;
    };
    const at = await json('POST', '/v1/login', nested(row.value));
    assert.notEqual(at.body?.error_description, 'body must be a JSON object', at.text);
    assert.equal(at.status, 401, at.text);  // read, then an unknown name
    const past = await json('POST', '/v1/login', nested(row.value + 1));
    assert.equal(past.status, 400);
    assert.equal(past.body.error_description, 'body must be a JSON object');
  },

  async 'mfa-body'(row) {
    const body = (n) => {
      const b = JSON.stringify({ mfa_ticket: 'not-a-ticket', code: '123456' });
      return ' '.repeat(n - b.length) + b;
    };
    const at = await json('POST', '/v1/login/mfa', body(row.value));
    assert.equal(at.status, 401, at.text);
    assert.equal(at.body.error, 'invalid_ticket');
    const past = await json('POST', '/v1/login/mfa', body(row.value + 1));
    assert.equal(past.status, 400, past.text);
    assert.equal(past.body.error, 'invalid_request');
  },

  async 'mfa-code'(row) {
    const at = await json('POST', '/v1/login/mfa', { mfa_ticket: 'not-a-ticket', code: '1'.repeat(row.value) });
    assert.equal(at.status, 401, at.text);
    assert.equal(at.body.error, 'invalid_ticket');
    const past = await json('POST', '/v1/login/mfa', { mfa_ticket: 'not-a-ticket', code: '1'.repeat(row.value + 1) });
    assert.equal(past.status, 400, past.text);
    assert.equal(past.body.error, 'invalid_request');
  },

  async 'password-max'(row) {
    const at = await json('POST', '/v1/admin/users', { username: newName(), password: randomText(row.value) }, asAdmin());
    assert.equal(at.status, 201, at.text);
    const past = await json('POST', '/v1/admin/users', { username: newName(), password: randomText(row.value + 1) }, asAdmin());
    assert.equal(past.status, 400, past.text);
    assert.equal(past.body.error, 'invalid_request');
  },

  async 'password-min'(row) {
    const at = await json('POST', '/v1/admin/users', { username: newName(), password: randomText(row.value) }, asAdmin());
    assert.equal(at.status, 201, at.text);
    const past = await json('POST', '/v1/admin/users', { username: newName(), password: randomText(row.value - 1) }, asAdmin());
    assert.equal(past.status, 400, past.text);
    assert.match(past.body.error_description, /at least/);
  },

  async username(row) {
    const name = (n) => { const base = newName(); return base + 'u'.repeat(n - base.length); };
    const at = await json('POST', '/v1/admin/users', { username: name(row.value), password: randomText(16) }, asAdmin());
    assert.equal(at.status, 201, at.text);
    const past = await json('POST', '/v1/admin/users', { username: name(row.value + 1), password: randomText(16) }, asAdmin());
    assert.equal(past.status, 400, past.text);
    assert.equal(past.body.error, 'invalid_request');
  },

  async role(row) {
    const at = await json('POST', '/v1/admin/users',
                          { username: newName(), password: randomText(16), roles: ['r'.repeat(row.value)] }, asAdmin());
    assert.equal(at.status, 201, at.text);
    const past = await json('POST', '/v1/admin/users',
                            { username: newName(), password: randomText(16), roles: ['r'.repeat(row.value + 1)] }, asAdmin());
    assert.equal(past.status, 400, past.text);
    assert.equal(past.body.error, 'invalid_request');
  },

  async roles(row) {
    const many = (n) => Array.from({ length: n }, (_, i) => `role-${i}-`.padEnd(64, 'r'));
    const name = newName();
    const at = await json('POST', '/v1/admin/users', { username: name, password: randomText(16), roles: many(row.value) }, asAdmin());
    assert.equal(at.status, 201, at.text);
    const past = await json('POST', '/v1/admin/users', { username: newName(), password: randomText(16), roles: many(row.value + 1) }, asAdmin());
    assert.equal(past.status, 400, past.text);
    assert.equal(past.body.error, 'invalid_request');
    const change = await json('PATCH', `/v1/admin/users/${name}`, { roles: many(row.value + 1) }, asAdmin());
    assert.equal(change.status, 400, change.text);
    // The account with the most roles, longest names, signs in and its token is accepted.
    const password = randomText(16);
    assert.equal((await json('POST', `/v1/admin/users/${name}/password`, { password }, asAdmin())).status, 204);
    const signedIn = await json('POST', '/v1/login', { username: name, password, mode: 'token' });
    assert.equal(signedIn.status, 200, signedIn.text);
    assert.ok(signedIn.body.access_token.length <= rows.get('bearer').value, `${signedIn.body.access_token.length} bytes`);
    const me = await fx.fetch('/v1/me', { headers: { authorization: `Bearer ${signedIn.body.access_token}` } });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).roles.length, row.value);
  },

  async bearer(row) {
    // A real access token, grown with an extra claim to an exact length and signed again with
    // the server's own key (read from its data directory), so that only its size differs.
    const bob = await fx.tokenLogin('bob');
    const { header, payload } = decodeJwt(bob.at);
    const keys = JSON.parse(fs.readFileSync(path.join(fx.data, 'signing-keys.json'), 'utf8')).keys;
    const jwk = keys.map((k) => k.jwk).find((k) => k.kid === header.kid);
    assert.ok(jwk, 'the signing key is in signing-keys.json');
    const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
    const sign = (input) => crypto.sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
    const sized = (total) => {
      // Base64url cannot be every length: vary the header's whitespace and the padding claim.
      for (let spaces = 0; spaces < 4; ++spaces) {
        const h = b64url(JSON.stringify(header).replace('{', `{${' '.repeat(spaces)}`));
        for (let pad = 0; pad < 8000; ++pad) {
          const p = b64url(JSON.stringify({ ...payload, pad: 'p'.repeat(pad) }));
          const length = h.length + p.length + 88;  // two dots and 86 characters of signature
          if (length > total) break;
          if (length === total) {
            const token = `${h}.${p}.${b64url(sign(Buffer.from(`${h}.${p}`)))}`;
            assert.equal(token.length, total);
            return token;
          }
        }
      }
      assert.fail(`no token of ${total} bytes`);
    };
    const at = await fx.fetch('/v1/me', { headers: { authorization: `Bearer ${sized(row.value)}` } });
    assert.equal(at.status, 200, await at.text());
    const past = await fx.fetch('/v1/me', { headers: { authorization: `Bearer ${sized(row.value + 1)}` } });
    assert.equal(past.status, 401);
    assert.equal((await past.json()).error, 'invalid_token');
  },

  async 'form-fields'(row) {
    const form = (n) => ['grant_type=refresh_token', 'refresh_token=x',
                         ...Array.from({ length: n - 2 }, (_, i) => `f${i}=v`)].join('&');
    const call = (n) => fx.fetch('/v1/token', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(n) });
    const at = await call(row.value);
    const atBody = await at.json();
    assert.equal(at.status, 400);
    assert.equal(atBody.error, 'invalid_grant', JSON.stringify(atBody));  // read, then a bad token
    const past = await call(row.value + 1);
    const pastBody = await past.json();
    assert.equal(past.status, 400);
    assert.equal(pastBody.error, 'invalid_request', JSON.stringify(pastBody));
    assert.match(pastBody.error_description, /malformed form body/);
  },

  async wait(row) {
    const auth = { authorization: basicAuth('orders', CLIENT_SECRET) };
    const snapshot = await (await fx.fetch('/v1/revocations', { headers: auth })).json();
    const after = encodeURIComponent(snapshot.cursor);
    // The longest wait is accepted (and answered at once when a revocation comes: bob logs out).
    const waiting = fx.fetch(`/v1/revocations?after=${after}&wait=${row.value}`, { headers: auth });
    await new Promise((r) => setTimeout(r, 100));
    const bob = await fx.tokenLogin('bob');
    assert.equal((await fx.call('POST', '/v1/logout', bob.at)).status, 204);
    assert.equal((await waiting).status, 200);
    const past = await fx.fetch(`/v1/revocations?after=${after}&wait=${row.value + 1}`, { headers: auth });
    assert.equal(past.status, 400);
    assert.equal((await past.json()).error, 'invalid_request');
  },

  async 'login-per-user'(row) {
    // A fresh server, so that no earlier failure counts.
    const own = await TokenServer.start({ users: { carol: [] }, prefix: 'tessera-limits-user-' });
    try {
      for (let i = 0; i < row.value; ++i) {
        const r = await own.login('carol', { password: `wrong ${i}`, mode: 'session' });
        assert.equal(r.status, 401, `failure ${i + 1}: ${r.text}`);
      }
      const past = await own.login('carol', { password: PASSWORD, mode: 'session' });
      assert.equal(past.status, 429, past.text);
      assert.equal(past.body.error, 'too_many_attempts');
      assert.ok(Number(past.res.headers.get('retry-after')) > 0);
    } finally {
      await own.close();
    }
  },

  async 'login-per-ip'(row) {
    const own = await TokenServer.start({ users: { dave: [] }, prefix: 'tessera-limits-ip-' });
    try {
      // Unknown names, one failure each: only the address's budget fills.
      for (let i = 0; i < row.value; ++i) {
        const r = await own.login(`nobody${i}`, { password: 'wrong', mode: 'session' });
        assert.equal(r.status, 401, `failure ${i + 1}: ${r.text}`);
      }
      const past = await own.login('dave', { password: PASSWORD, mode: 'session' });
      assert.equal(past.status, 429, past.text);
      assert.equal(past.body.error, 'too_many_attempts');
      assert.ok(Number(past.res.headers.get('retry-after')) > 0);
    } finally {
      await own.close();
    }
  },
};

test('docs/limits.md and this test name the same limits', () => {
  assert.ok(rows.size >= 10, `only ${rows.size} rows read from docs/limits.md`);
  assert.deepEqual([...rows.keys()].sort(), Object.keys(checks).sort());
});

for (const id of Object.keys(checks)) {
  test(`limit ${id}: accepted at the documented value, refused one step past it`, async () => {
    const row = rows.get(id);
    assert.ok(row, `no row "${id}" in docs/limits.md`);
    await checks[id](row);
  });
}

// Refused before routing (the server could not read the request whole): still an answer the
// operator sees, in tessera_http_responses_total and in the access log, with what was read.
test('requests refused before routing are counted and written to the access log', async () => {
  const fourxx = async () => {
    const text = await (await fx.fetch('/metrics')).text();
    return Number((text.match(/^tessera_http_responses_total\{code="4xx"\} (\d+)$/m) ?? [])[1]);
  };
  const before = await fourxx();
  assert.ok(Number.isInteger(before), 'no tessera_http_responses_total{code="4xx"} in /metrics');
  const logged = fx.server.output().length;
  const big = 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ' + 'a'.repeat(20000) + '\r\n\r\n';
  assert.equal(status(await raw(fx.base, big)), 431);
  const tooLong = 'POST /v1/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUser-Agent: refused-body/1\r\n' +
    'Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n{}';
  assert.equal(status(await raw(fx.base, tooLong)), 413);
  assert.equal(status(await raw(fx.base, 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')), 400);
  assert.equal(await fourxx(), before + 3);
  // The last access line of each status since the scrape (the access log is written every
  // 200 ms); the three refusals are the last requests this server answered with those statuses.
  let by = {};
  for (let i = 0; i < 50 && !(by[431] && by[413] && by[400]); ++i) {
    await new Promise((r) => setTimeout(r, 100));
    by = Object.fromEntries(fx.server.output().slice(logged).split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"log":"access"')).map((l) => JSON.parse(l))
      .map((e) => [e.status, e]));
  }
  assert.equal(by[431]?.method, '-', 'the head never completed: nothing of it is logged');
  assert.equal(by[431]?.path, '-');
  assert.equal(by[413]?.method, 'POST');
  assert.equal(by[413]?.path, '/v1/login');
  assert.equal(by[413]?.ua, 'refused-body/1');
  assert.equal(by[400]?.ip, '127.0.0.1');
});
