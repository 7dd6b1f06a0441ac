// `tessera serve` over HTTPS (server.tls_cert / server.tls_key): a throwaway CA and a certificate
// for 127.0.0.1 made with the openssl CLI at test start, the CA pinned by every client here.
// Run by ctest (tls_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/tls.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { BIN, startServer, tessera } from './tessera.mjs';

const PASSWORD = 'correct horse battery';
const READ_TIMEOUT_MS = 15000;  // HttpServerOptions::read_timeout

let dir, data, files, ca, server, base;

function openssl(...args) {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

// A CA, a server certificate it signed for IP 127.0.0.1, and keys that do not belong to it.
function makeCredentials() {
  const p = (name) => path.join(dir, name);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=tessera test CA',
          '-addext', 'basicConstraints=critical,CA:TRUE',
          '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' +
                   'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
          '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
  // Wrong keys: another P-256 key (same type, "key values mismatch") and an RSA key.
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other-ec.key');
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'other-rsa.key');
  // The right key, encrypted with a passphrase.
  openssl('pkey', '-in', 'server.key', '-out', 'encrypted.key', '-aes256', '-passout', 'pass:secret');
  fs.copyFileSync(p('server.key'), p('readable.key'));
  for (const k of ['server.key', 'other-ec.key', 'other-rsa.key', 'encrypted.key']) {
    fs.chmodSync(p(k), 0o600);
  }
  fs.chmodSync(p('readable.key'), 0o644);
  return { cert: p('server.pem'), key: p('server.key'), ca: p('ca.pem'), p };
}

function tlsEnv(cert, key) {
  const env = {};
  if (cert !== undefined) env.TESSERA_SERVER_TLS_CERT = cert;
  if (key !== undefined) env.TESSERA_SERVER_TLS_KEY = key;
  return env;
}

// One HTTPS request with the test CA pinned (and nothing else trusted); no connection reuse
// unless an agent is given.
function request(url, { method = 'GET', headers = {}, body, agent, tlsOptions = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca, agent: agent ?? false, ...tlsOptions },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text,
                                      protocol: res.socket?.getProtocol?.() }));
      });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('request timed out')));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function login(username, password, opts = {}) {
  return request(`${base}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
    ...opts,
  });
}

// Writes `bytes` over plain TCP and collects whatever comes back until the server closes.
function rawExchange(port, bytes, ms = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ closed: false, data: Buffer.concat(chunks) });
    }, ms);
    sock.on('data', (d) => chunks.push(d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, data: Buffer.concat(chunks) });
    });
    sock.on('connect', () => sock.write(bytes));
    // A reset after connecting is one way of being dropped; failing to connect is a failure.
    sock.on('error', (e) => { if (sock.connecting) { clearTimeout(timer); reject(e); } });
  });
}

// Runs `tessera serve` expecting it to refuse to start.
function serveFails(env) {
  const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', data], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-tls-'));
  data = path.join(dir, 'data');
  files = makeCredentials();
  ca = fs.readFileSync(files.ca);
  const r = tessera(['user', 'add', 'alice', '--role', 'admin', '--password-stdin', '--data', data],
                    PASSWORD + '\n');
  assert.equal(r.code, 0, r.err);
  server = await startServer(data, tlsEnv(files.cert, files.key));
  base = server.url;
});

after(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('prints an https URL and answers /healthz over TLS with the pinned CA', async () => {
  assert.match(base, /^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await request(`${base}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.text).status, 'ok');
  assert.equal(res.protocol, 'TLSv1.3');
  // Without the CA the certificate is not trusted: the client really checks it.
  await assert.rejects(request(`${base}/healthz`, { tlsOptions: { ca: undefined } }),
                       (e) => /certificate|self.signed|UNABLE_TO/i.test(`${e.code} ${e.message}`));
});

test('login over HTTPS sets the cookie and forward-auth accepts it', async () => {
  const res = await login('alice', PASSWORD);
  assert.equal(res.status, 200, res.text);
  const set = res.headers['set-cookie']?.[0] ?? '';
  const m = set.match(/^__Host-tessera_session=([A-Za-z0-9_-]{43}); /);
  assert.ok(m, set);
  assert.match(set, /; Secure/);
  const cookie = `__Host-tessera_session=${m[1]}`;
  const auth = await request(`${base}/v1/auth`, { headers: { cookie } });
  assert.equal(auth.status, 200);
  assert.equal(auth.headers['x-auth-user'], 'alice');
  assert.equal((await request(`${base}/v1/auth`)).status, 401);
  assert.equal((await login('alice', 'wrong password!')).status, 401);
});

test('TLS 1.2 with a modern suite is served; TLS 1.1 is refused by the server', async () => {
  const v12 = await request(`${base}/healthz`, { tlsOptions: { maxVersion: 'TLSv1.2' } });
  assert.equal(v12.status, 200);
  assert.equal(v12.protocol, 'TLSv1.2');

  // Lower the client's own floor (OpenSSL 3 would otherwise not even offer TLS 1.1), so the
  // refusal seen is the server's protocol_version alert.
  const legacy = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' };
  const err = await new Promise((resolve) => {
    const sock = tls.connect({ port: server.port, host: '127.0.0.1', ca, ...legacy },
                             () => { sock.destroy(); resolve(null); });
    sock.on('error', resolve);
  });
  assert.ok(err, 'a TLS 1.1 handshake must not succeed');
  assert.match(`${err.code} ${err.message}`, /PROTOCOL_VERSION|protocol version/i);

  // A TLS 1.2 client offering only CBC suites (no AEAD) is refused too.
  const cbc = await new Promise((resolve) => {
    const sock = tls.connect({ port: server.port, host: '127.0.0.1', ca, maxVersion: 'TLSv1.2',
                               ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' },
                             () => { sock.destroy(); resolve(null); });
    sock.on('error', resolve);
  });
  assert.ok(cbc, 'CBC-only TLS 1.2 must not be accepted');
  assert.match(`${cbc.code} ${cbc.message}`, /HANDSHAKE_FAILURE|handshake failure/i);
  assert.equal((await request(`${base}/healthz`)).status, 200);
});

test('client-initiated renegotiation is refused', async () => {
  const sock = await new Promise((resolve, reject) => {
    const s = tls.connect({ port: server.port, host: '127.0.0.1', ca, maxVersion: 'TLSv1.2' },
                          () => resolve(s));
    s.on('error', reject);
  });
  const outcome = await new Promise((resolve) => {
    setTimeout(() => resolve('no answer'), 5000);
    sock.on('error', (e) => resolve(e));
    sock.on('close', () => resolve('closed'));
    try {
      sock.renegotiate({}, (e) => resolve(e ?? 'renegotiated'));
    } catch (e) {
      resolve(e);
    }
  });
  sock.destroy();
  // The server answers the new ClientHello with its no_renegotiation alert.
  assert.match(`${outcome?.code ?? outcome}`, /NO_RENEGOTIATION/, `${outcome?.message ?? outcome}`);
  assert.equal((await request(`${base}/healthz`)).status, 200);
});

test('plain HTTP and garbage on the TLS port get no HTTP answer; the server keeps serving', async () => {
  const plain = await rawExchange(server.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  assert.ok(plain.closed, 'the connection is closed');
  assert.ok(!plain.data.toString('latin1').includes('HTTP/1.1'), plain.data.toString('latin1'));
  const garbage = await rawExchange(server.port, Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) & 0xff)));
  assert.ok(garbage.closed);
  assert.ok(!garbage.data.toString('latin1').includes('HTTP/'));
  // A ClientHello-looking record header with an absurd length, then silence is covered by the
  // idle test below; a truncated handshake record followed by close:
  const truncated = await rawExchange(server.port, Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01]), 1000);
  assert.ok(!truncated.data.toString('latin1').includes('HTTP/'));
  assert.equal((await request(`${base}/healthz`)).status, 200);
  assert.equal(server.child.exitCode, null, 'the server is still running');
});

test('200 connections that never handshake neither starve a real client nor stay open', async () => {
  const idle = [];
  await Promise.all(Array.from({ length: 200 }, () => new Promise((resolve, reject) => {
    const s = net.connect(server.port, '127.0.0.1', () => resolve());
    s.on('error', reject);
    s.closedAt = null;
    s.on('close', () => { s.closedAt = Date.now(); });
    idle.push(s);
  })));
  const opened = Date.now();
  // A real client still gets answers, quickly, while all 200 sit there.
  for (let i = 0; i < 3; ++i) {
    const t0 = Date.now();
    const res = await request(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.ok(Date.now() - t0 < 3000, `healthz took ${Date.now() - t0} ms`);
  }
  const res = await login('alice', PASSWORD);
  assert.equal(res.status, 200);
  // The server drops each of them once the read timeout (which covers the handshake) passes.
  const deadline = opened + READ_TIMEOUT_MS + 10000;
  while (idle.some((s) => s.closedAt === null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
  }
  const open = idle.filter((s) => s.closedAt === null).length;
  for (const s of idle) s.destroy();
  assert.equal(open, 0, `${open} of 200 idle connections still open after the read timeout`);
  assert.ok(Math.min(...idle.map((s) => s.closedAt)) - opened >= READ_TIMEOUT_MS - 2000,
            'not dropped before the read timeout');
});

test('TLS misconfiguration stops startup with exit 2, naming the key and the file', () => {
  const keyPem = fs.readFileSync(files.key, 'utf8');
  const keyBody = keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
  const cases = [
    { env: tlsEnv(files.cert, undefined), key: 'server.tls_key', file: null },
    { env: tlsEnv(undefined, files.key), key: 'server.tls_cert', file: null },
    { env: tlsEnv(files.p('missing.pem'), files.key), key: 'server.tls_cert', file: files.p('missing.pem') },
    { env: tlsEnv(files.cert, files.p('missing.key')), key: 'server.tls_key', file: files.p('missing.key') },
    { env: tlsEnv(files.key, files.key), key: 'server.tls_cert', file: files.key },  // a key as cert
    { env: tlsEnv(files.cert, files.cert), key: 'server.tls_key', file: files.cert },  // a cert as key
    { env: tlsEnv(files.cert, files.p('other-ec.key')), key: 'server.tls_key', file: files.p('other-ec.key') },
    { env: tlsEnv(files.cert, files.p('other-rsa.key')), key: 'server.tls_key', file: files.p('other-rsa.key') },
    { env: tlsEnv(files.cert, files.p('encrypted.key')), key: 'server.tls_key', file: files.p('encrypted.key'), says: /encrypted/ },
    { env: tlsEnv(files.cert, files.p('readable.key')), key: 'server.tls_key', file: files.p('readable.key'), says: /mode 0644/ },
    { env: tlsEnv(files.cert, dir), key: 'server.tls_key', file: dir },
  ];
  for (const c of cases) {
    const r = serveFails(c.env);
    const what = JSON.stringify(c.env);
    assert.equal(r.code, 2, `${what}: exit ${r.code} ${r.signal ?? ''} ${r.err}`);
    assert.ok(r.err.includes(c.key), `${what}: ${r.err}`);
    if (c.file) assert.ok(r.err.includes(c.file), `${what}: ${r.err}`);
    if (c.says) assert.match(r.err, c.says);
    assert.ok(!/listening on/.test(r.out), `${what}: ${r.out}`);
    for (const line of keyBody) {
      assert.ok(!r.err.includes(line) && !r.out.includes(line), `${what}: key material printed`);
    }
    assert.ok(!r.err.includes('PRIVATE KEY'), `${what}: ${r.err}`);
  }
});

test('SIGTERM drains an in-flight HTTPS request, then the server exits 0', async () => {
  // A second server whose Argon2id takes long enough that the request is surely in flight.
  const slowData = path.join(dir, 'slow-data');
  const add = tessera(['user', 'add', 'bob', '--password-stdin', '--data', slowData], PASSWORD + '\n',
                      { TESSERA_PASSWORD_ARGON2_ITERATIONS: '24' });
  assert.equal(add.code, 0, add.err);
  const slow = await startServer(slowData, { ...tlsEnv(files.cert, files.key),
                                             TESSERA_PASSWORD_ARGON2_ITERATIONS: '24' });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  try {
    // Handshake first, on a kept-alive connection, so the login below is only the request.
    assert.equal((await request(`${slow.url}/healthz`, { agent })).status, 200);
    const t0 = Date.now();
    const pending = request(`${slow.url}/v1/login`, {
      method: 'POST', agent, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: PASSWORD }),
    });
    await new Promise((r) => setTimeout(r, 30));
    slow.child.kill('SIGTERM');
    const res = await pending;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.connection, 'close');
    const { code, signal } = await slow.exited;
    assert.equal(signal, null);
    assert.equal(code, 0, slow.output());
    assert.match(slow.output(), /tessera: stopped/);
    assert.ok(Date.now() - t0 < 10000);
  } finally {
    agent.destroy();
    if (slow.child.exitCode === null) slow.child.kill('SIGKILL');
  }
  // And the main server too, last.
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  assert.equal(code, 0, server.output());
});
