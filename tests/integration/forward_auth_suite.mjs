// The forward-auth scenarios every shipped proxy recipe must pass the same way: tessera behind
// the real proxy (nginx.test.mjs: docs/deploy/nginx.conf; caddy.test.mjs: docs/deploy/Caddyfile),
// in front of a node upstream that echoes the request it received as JSON. The same requests get
// the same answers and the app the same X-Auth-* headers, whichever proxy runs the recipe.
//
// forwardAuthSuite(proxy) registers the tests; `proxy` says how to run one recipe:
//   name              as tests and messages say it ("nginx")
//   binary            the executable to find (in PATH, /usr/sbin, /usr/bin)
//   start(bin, dir, {tessera, app, cert, key}) -> {child, exited, running(), ports: {http, https}}
//                     the recipe pointed at these upstreams and certificate, on free ports
//   stop(running)     a graceful stop
//   failClosedStatus  what it answers while tessera cannot be reached (never the app's 200)
// It returns {dir(), bin()}: the temporary directory and the proxy's executable, for the
// recipe's own tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

import { BIN, findExecutable, startServer, tessera } from './tessera.mjs';
import { base32Decode, totp } from './totp.mjs';

const PASSWORD = 'correct horse battery';
const COOKIE = '__Host-tessera_session';

function startTessera(dataDir) {
  // The proxy is tessera's only client; it connects from loopback (both recipes' note on
  // trusted_proxies).
  return startServer(dataDir, { TESSERA_SERVER_TRUSTED_PROXIES: '127.0.0.1' });
}

// The upstream app: answers every request with what it received, and records it.
function startApp() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const record = { method: req.method, url: req.url, headers: req.headers, body };
      seen.push(record);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(record));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port }));
  });
}

export function forwardAuthSuite(proxy) {
  let dir, running, app, server, ca, base, proxyBin;

  // One HTTP(S) exchange with full control over the headers sent; `json` parses the body.
  function request(method, urlPath, { headers = {}, body, localAddress, url } = {}) {
    const target = new URL(urlPath, url ?? base);
    const lib = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(target, {
        method, headers, ca, localAddress, agent: false,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({
          status: res.statusCode,
          headers: res.headers,
          text,
          json: () => JSON.parse(text),
        }));
      });
      req.on('error', reject);
      req.setTimeout(10000, () => req.destroy(new Error(`${method} ${urlPath}: timeout`)));
      req.end(body);
    });
  }

  const cookieHeader = (secret) => ({ cookie: `${COOKIE}=${secret}` });

  async function login(username = 'alice', extra = {}) {
    const res = await request('POST', '/v1/login', {
      headers: { 'content-type': 'application/json', ...(extra.headers ?? {}) },
      body: JSON.stringify({ username, password: PASSWORD }),
      localAddress: extra.localAddress,
    });
    assert.equal(res.status, 200, res.text);
    const m = (res.headers['set-cookie'] ?? []).join('\n').match(/__Host-tessera_session=([^;]+)/);
    assert.ok(m, `login through ${proxy.name} sets the session cookie`);
    return { res, body: res.json(), secret: m[1] };
  }

  // The request the app received for the last call, or null when the proxy never contacted it.
  async function throughApp(method, urlPath, options) {
    const before = app.seen.length;
    const res = await request(method, urlPath, options);
    const seen = app.seen.length > before ? app.seen[app.seen.length - 1] : null;
    assert.ok(app.seen.length - before <= 1, 'one request reaches the app at most');
    return { res, seen };
  }

  before(async () => {
    assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
    proxyBin = findExecutable(proxy.binary, ['/usr/sbin', '/usr/bin']);
    assert.ok(proxyBin, `${proxy.binary} is not installed: run scripts/install-deps`);
    const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
    assert.equal(openssl.status, 0, 'openssl is not installed: run scripts/install-deps');

    dir = fs.mkdtempSync(path.join(os.tmpdir(), `tessera-${proxy.binary}-`));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
                                      'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
                                      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                                      '-keyout', key, '-out', cert], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    ca = fs.readFileSync(cert);

    const data = path.join(dir, 'data');
    for (const [name, roles] of [['alice', ['ops', 'viewer']], ['bob', []], ['carol', []]]) {
      const args = ['user', 'add', name, '--password-stdin', '--data', data];
      for (const r of roles) args.push('--role', r);
      const r = tessera(args, PASSWORD + '\n');
      assert.equal(r.code, 0, r.err);
    }
    server = await startTessera(data);
    app = await startApp();
    running = await proxy.start(proxyBin, dir, { tessera: server.port, app: app.port, cert, key });
    base = `https://127.0.0.1:${running.ports.https}`;
  });

  // Every process and the temp dir go, whatever happened above.
  after(async () => {
    await proxy.stop(running);
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    if (app) await new Promise((resolve) => { app.server.closeAllConnections(); app.server.close(resolve); });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Last resort if the test process dies in between: no proxy or tessera left behind.
  process.on('exit', () => {
    for (const p of [running?.child, server?.child]) {
      if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });

  test('(1) no cookie: the API answers 401 JSON, the browser app redirects to sign-in', async () => {
    const api = await throughApp('GET', '/api/things');
    assert.equal(api.res.status, 401);
    assert.equal(api.seen, null, 'the app is never contacted');
    assert.match(api.res.headers['content-type'], /^application\/json/);
    assert.deepEqual(api.res.json(), { error: 'invalid_token', error_description: 'not signed in' });
    assert.match(api.res.headers['strict-transport-security'], /^max-age=\d{8,}/);

    const page = await throughApp('GET', '/app/reports?year=2024');
    assert.equal(page.res.status, 302);
    assert.equal(page.seen, null);
    assert.equal(page.res.headers.location, '/?next=/app/reports?year=2024');
    assert.match(page.res.headers['strict-transport-security'], /^max-age=/);

    // A garbage or unknown cookie is no better than none.
    for (const secret of ['garbage', 'A'.repeat(43)]) {
      const r = await throughApp('GET', '/api/x', { headers: cookieHeader(secret) });
      assert.equal(r.res.status, 401);
      assert.equal(r.seen, null);
    }
    // The sign-in page itself is tessera's, not the app's, and needs no session.
    const signin = await throughApp('GET', '/');
    assert.equal(signin.seen, null);
    assert.notEqual(signin.res.status, 302);
    assert.equal(signin.res.headers['x-content-type-options'], 'nosniff', 'answered by tessera');
    assert.match(signin.res.headers['content-security-policy'], /default-src 'none'/);
    // ...and so are its style sheet and script, or the page would render bare behind the proxy.
    for (const [p, type] of [['/assets/app.css', /^text\/css/], ['/assets/signin.js', /javascript/]]) {
      const asset = await throughApp('GET', p);
      assert.equal(asset.res.status, 200, p);
      assert.match(asset.res.headers['content-type'], type, p);
      assert.equal(asset.seen, null, p);
    }
  });

  test(`(2) login through ${proxy.name}, then the app sees who is calling`, async () => {
    const { res, body, secret } = await login();
    assert.match(res.headers['strict-transport-security'], /^max-age=/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(body.csrf_token, /^[A-Za-z0-9_-]{43}$/);

    for (const p of ['/app/', '/api/things?x=1']) {
      const { res: r, seen } = await throughApp('GET', p, { headers: cookieHeader(secret) });
      assert.equal(r.status, 200, p);
      assert.ok(seen, `${p} reaches the app`);
      assert.equal(seen.url, p);
      assert.equal(seen.headers['x-auth-user'], 'alice');
      assert.equal(seen.headers['x-auth-subject'], body.user.sub);
      assert.equal(seen.headers['x-auth-roles'], 'ops,viewer');
      assert.equal(seen.headers['x-auth-session'], body.session.id);
      assert.equal(seen.headers['x-auth-expires-at'], String(body.session.expires_at));
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers.cookie, undefined, 'the session secret never reaches the app');
      assert.deepEqual(r.json().headers, seen.headers, 'the answer is the app\'s');
    }

    // Other cookies reach the app, tessera's never does, wherever it stands in the header.
    for (const [sent, expected] of [[`theme=dark; ${COOKIE}=${secret}; lang=en`, 'theme=dark; lang=en'],
                                    [`${COOKIE}=${secret}; theme=dark`, 'theme=dark'],
                                    [`theme=dark; ${COOKIE}=${secret}`, 'theme=dark']]) {
      const { res: r, seen } = await throughApp('GET', '/app/', { headers: { cookie: sent } });
      assert.equal(r.status, 200, sent);
      assert.equal(seen.headers.cookie, expected);
      assert.equal(seen.headers['x-auth-user'], 'alice');
    }

    // A POST with a body: the auth request leaves the body for the app.
    const post = await throughApp('POST', '/api/items', {
      headers: { ...cookieHeader(secret), 'content-type': 'application/json' },
      body: '{"name":"widget"}',
    });
    assert.equal(post.res.status, 200);
    assert.equal(post.seen.method, 'POST');
    assert.equal(post.seen.body, '{"name":"widget"}');
    assert.equal(post.seen.headers['x-auth-user'], 'alice');
  });

  test('(3) forged X-Auth-* headers never reach the app', async () => {
    const forged = {
      'x-auth-user': 'admin', 'x-auth-subject': 'admin-sub', 'x-auth-roles': 'admin',
      'x-auth-session': 'forged', 'x-auth-expires-at': '9999999999',
    };
    for (const p of ['/api/admin', '/app/admin']) {
      const r = await throughApp('GET', p, { headers: forged });
      assert.ok(r.res.status === 401 || r.res.status === 302, `${p}: ${r.res.status}`);
      assert.equal(r.seen, null, 'a forged identity without a cookie is refused');
    }

    const alice = await login();
    const { res, seen } = await throughApp('GET', '/api/admin', {
      headers: { ...forged, ...cookieHeader(alice.secret), 'x-auth_user': 'admin',
                 'x_auth_roles': 'admin', 'X_Auth-Subject': 'admin-sub', 'X-AUTH_SESSION': 'forged' },
    });
    assert.equal(res.status, 200);
    assert.equal(seen.headers['x-auth-user'], 'alice');
    assert.equal(seen.headers['x-auth-subject'], alice.body.user.sub);
    assert.equal(seen.headers['x-auth-roles'], 'ops,viewer');
    assert.equal(seen.headers['x-auth-session'], alice.body.session.id);
    assert.equal(seen.headers['x-auth-expires-at'], String(alice.body.session.expires_at));
    // Underscore look-alikes, which CGI-style frameworks read as the real names, are dropped in
    // any spelling.
    assert.deepEqual(Object.keys(seen.headers).filter((h) => h.includes('_')), [],
                     'underscore look-alikes are dropped');
    assert.ok(!JSON.stringify(seen.headers).includes('admin-sub'));

    // bob has no roles: tessera's empty X-Auth-Roles must remove the client's, not let it through.
    const bob = await login('bob');
    const b = await throughApp('GET', '/api/admin', { headers: { ...forged, ...cookieHeader(bob.secret) } });
    assert.equal(b.res.status, 200);
    assert.equal(b.seen.headers['x-auth-user'], 'bob');
    assert.ok(!b.seen.headers['x-auth-roles'], `bob's roles: ${b.seen.headers['x-auth-roles']}`);

    // X-Forwarded-For is the proxy's to set: the app sees the client's real address only.
    for (const p of ['/app/', '/api/x']) {
      const r = await throughApp('GET', p, {
        headers: { ...cookieHeader(alice.secret), 'x-forwarded-for': '203.0.113.9' },
        localAddress: '127.0.0.2' });
      assert.equal(r.res.status, 200);
      assert.equal(r.seen.headers['x-forwarded-for'], '127.0.0.2', p);
    }
    // Nor does a forged one choose the address tessera records: the proxy sets it to its peer and
    // tessera believes the proxy because trusted_proxies lists it. From 127.0.0.2 (an untrusted
    // client) and from 127.0.0.1 (a client on a trusted address, where appending would let the
    // forged value through).
    for (const from of ['127.0.0.2', '127.0.0.1']) {
      const s = await login('alice', { headers: { 'x-forwarded-for': '203.0.113.9' }, localAddress: from });
      const list = await request('GET', '/v1/sessions', { headers: cookieHeader(s.secret) });
      assert.equal(list.status, 200, list.text);
      const current = list.json().find((x) => x.current);
      assert.equal(current.id, s.body.session.id);
      assert.equal(current.ip, from);
    }
  });

  test(`(4) logout through ${proxy.name} ends access through ${proxy.name}`, async () => {
    const { body, secret } = await login();
    assert.equal((await throughApp('GET', '/app/', { headers: cookieHeader(secret) })).res.status, 200);

    // The proxy passes the browser's Host on, so tessera's Origin check still works behind it.
    const crossSite = await request('POST', '/v1/logout', {
      headers: { ...cookieHeader(secret), 'x-csrf-token': body.csrf_token,
                 origin: 'https://evil.example' } });
    assert.equal(crossSite.status, 403);
    const noToken = await request('POST', '/v1/logout', { headers: cookieHeader(secret) });
    assert.equal(noToken.status, 403);
    assert.equal((await throughApp('GET', '/api/x', { headers: cookieHeader(secret) })).res.status, 200);

    const out = await request('POST', '/v1/logout', {
      headers: { ...cookieHeader(secret), 'x-csrf-token': body.csrf_token, origin: base } });
    assert.equal(out.status, 204, out.text);
    assert.match(out.headers['set-cookie'].join('\n'), /^__Host-tessera_session=; Path=\/; Max-Age=0;/);

    const api = await throughApp('GET', '/api/x', { headers: cookieHeader(secret) });
    assert.equal(api.res.status, 401);
    assert.equal(api.seen, null);
    const page = await throughApp('GET', '/app/', { headers: cookieHeader(secret) });
    assert.equal(page.res.status, 302);
    assert.equal(page.seen, null);
  });

  test('(5) HEAD is authenticated like GET', async () => {
    const { body, secret } = await login();
    const ok = await throughApp('HEAD', '/app/page', { headers: cookieHeader(secret) });
    assert.equal(ok.res.status, 200);
    assert.equal(ok.res.text, '');
    assert.equal(ok.seen.method, 'HEAD');
    assert.equal(ok.seen.headers['x-auth-user'], 'alice');
    assert.equal(ok.seen.headers['x-auth-session'], body.session.id);

    const api = await throughApp('HEAD', '/api/x');
    assert.equal(api.res.status, 401);
    assert.equal(api.seen, null);
    const page = await throughApp('HEAD', '/app/page');
    assert.equal(page.res.status, 302);
    assert.equal(page.res.headers.location, '/?next=/app/page');
    assert.equal(page.seen, null);
    const forged = await throughApp('HEAD', '/api/x', { headers: { 'x-auth-user': 'admin' } });
    assert.equal(forged.res.status, 401);
    assert.equal(forged.seen, null);
  });

  test('(6) /admin/ asks for a second factor: step-up for a password-only session, the AMR to the app', async () => {
    // carol has no second factor: signed in, but sent to sign in again with one.
    const carol = await login('carol');
    const weak = await throughApp('GET', '/admin/panel', { headers: cookieHeader(carol.secret) });
    assert.equal(weak.res.status, 302);
    assert.equal(weak.res.headers.location, '/?mfa=required&next=/admin/panel');
    assert.equal(weak.seen, null);
    const anonymous = await throughApp('GET', '/admin/panel');
    assert.equal(anonymous.res.status, 302);
    assert.equal(anonymous.res.headers.location, '/?next=/admin/panel');
    // The password-only session still reaches /app/, and the app learns how it signed in.
    const plain = await throughApp('GET', '/app/x', { headers: { ...cookieHeader(carol.secret), 'x-auth-amr': 'pwd,otp' } });
    assert.equal(plain.res.status, 200);
    assert.equal(plain.seen.headers['x-auth-amr'], 'pwd', 'a forged X-Auth-AMR is replaced');
    // carol turns on TOTP through the proxy and signs in with a code.
    const json = { ...cookieHeader(carol.secret), 'x-csrf-token': carol.body.csrf_token,
                   'content-type': 'application/json' };
    const begun = await request('POST', '/v1/me/totp', { headers: json, body: '{}' });
    assert.equal(begun.status, 200, begun.text);
    const secret = base32Decode(begun.json().secret);
    const confirmed = await request('POST', '/v1/me/totp/confirm',
                                    { headers: json, body: JSON.stringify({ code: totp(secret) }) });
    assert.equal(confirmed.status, 200, confirmed.text);
    const step1 = await request('POST', '/v1/login', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: PASSWORD }) });
    assert.equal(step1.status, 401, step1.text);
    const step2 = await request('POST', '/v1/login/mfa', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mfa_ticket: step1.json().mfa_ticket, code: totp(secret, { steps: 1 }) }) });
    assert.equal(step2.status, 200, step2.text);
    const strong = (step2.headers['set-cookie'] ?? []).join('\n').match(/__Host-tessera_session=([^;]+)/)[1];
    const admin = await throughApp('GET', '/admin/panel', { headers: cookieHeader(strong) });
    assert.equal(admin.res.status, 200);
    assert.equal(admin.seen.headers['x-auth-user'], 'carol');
    assert.equal(admin.seen.headers['x-auth-amr'], 'pwd,otp');
    assert.equal(admin.seen.url, '/admin/panel');
  });

  test('only what the file lists is reachable; plain HTTP only redirects', async () => {
    for (const p of ['/_tessera_auth', '/healthz', '/readyz', '/metrics', '/other',
                     '/assets/a/b.css', '/account/x']) {
      const r = await throughApp('GET', p);
      assert.equal(r.res.status, 404, p);
      assert.equal(r.seen, null, p);
    }
    const plain = await throughApp('GET', '/app/x?y=1', { url: `http://127.0.0.1:${running.ports.http}` });
    assert.equal(plain.res.status, 301);
    assert.equal(plain.res.headers.location, 'https://127.0.0.1/app/x?y=1');
    assert.equal(plain.seen, null);
  });

  // Last: it stops tessera.
  test(`tessera unreachable: ${proxy.name} fails closed`, async () => {
    const { secret } = await login();
    server.child.kill('SIGTERM');
    await server.exited;
    for (const p of ['/app/', '/api/x']) {
      const r = await throughApp('GET', p, { headers: cookieHeader(secret) });
      assert.equal(r.res.status, proxy.failClosedStatus, p);
      assert.equal(r.seen, null, p);
    }
  });

  return { dir: () => dir, bin: () => proxyBin };
}
