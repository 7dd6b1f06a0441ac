// Shared by the token-mode integration tests (tokens.test.mjs, tokens_revocation.test.mjs) and
// tests/interop/jwks_interop.test.mjs: a throwaway data directory with users and a real
// `tessera serve` on it, the token-mode requests, JWT decoding and forging with node:crypto, and
// polls with deadlines (never fixed sleeps) for what reaches a server "within seconds".
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BIN, startServer, tessera } from './tessera.mjs';

// A canary (docs/security.md LG-01): it must never show up in a log.
export const PASSWORD = 'CANARY-9c4b-correct horse';
export const UA = 'tessera-token-tests/1.0 (integration)';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const b64url = (data) => Buffer.from(data).toString('base64url');

// Header, payload and signature of a compact JWS, decoded without any check.
export function decodeJwt(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, `not a compact JWS: ${token}`);
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    signature: Buffer.from(parts[2], 'base64url'),
    parts,
  };
}

// A JWS over `header` and `payload` (objects, or already-encoded segments) with `sign`, a
// function from the signing input to the signature bytes (empty for none).
export function forge(header, payload, sign = () => Buffer.alloc(0)) {
  const h = typeof header === 'string' ? header : b64url(JSON.stringify(header));
  const p = typeof payload === 'string' ? payload : b64url(JSON.stringify(payload));
  return `${h}.${p}.${b64url(sign(Buffer.from(`${h}.${p}`)))}`;
}

// ES256 signer for forge(): raw r||s (RFC 7518 section 3.4) with `privateKey`.
export const es256 = (privateKey) => (input) =>
  crypto.sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
export const hs256 = (secret) => (input) => crypto.createHmac('sha256', secret).update(input).digest();

// The other valid ECDSA signature of the same token: s replaced by n - s (P-256). A denylist
// keyed on the token's bytes would miss it (docs/security.md JV-09).
export function malleateEs256(token) {
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const { parts, signature } = decodeJwt(token);
  assert.equal(signature.length, 64);
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
  const s2 = Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex');
  return `${parts[0]}.${parts[1]}.${b64url(Buffer.concat([signature.subarray(0, 32), s2]))}`;
}

// `s` with the character at `i` replaced by another base64url character.
export function flipChar(s, i) {
  return s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

export const sha256hex = (s) => crypto.createHash('sha256').update(s).digest('hex');

// HTTP Basic client authentication as RFC 6749 section 2.3.1 has it: id and secret
// form-urlencoded, then joined and base64-encoded.
export function basicAuth(id, secret) {
  const enc = (s) => new URLSearchParams({ x: s }).toString().slice(2);
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

// Calls `probe` every `interval` ms until it returns a truthy value; returns the milliseconds
// that took. Fails after `timeout` ms, naming `what` and the last value seen.
export async function pollUntil(probe, what, { timeout = 3000, interval = 50 } = {}) {
  const start = Date.now();
  let last;
  for (;;) {
    last = await probe();
    if (last) return Date.now() - start;
    if (Date.now() - start > timeout) {
      assert.fail(`${what}: not after ${timeout} ms (last: ${JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}

// Asserts the RFC 6750 refusal of a bearer request: 401, {"error":"invalid_token"} and a
// WWW-Authenticate challenge naming the error.
export async function assertInvalidToken(res, what) {
  const text = await res.text();
  assert.equal(res.status, 401, `${what}: ${res.status} ${text}`);
  assert.equal(JSON.parse(text).error, 'invalid_token', `${what}: ${text}`);
  const challenge = res.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer\b/, `${what}: WWW-Authenticate ${challenge}`);
  assert.ok(challenge.includes('error="invalid_token"'), `${what}: WWW-Authenticate ${challenge}`);
}

// The audit trail of `data` as parsed events (a line still being written is skipped).
export function readAudit(data) {
  const file = path.join(data, 'audit.log');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).flatMap((l) => {
    try { return [JSON.parse(l)]; } catch { return []; }
  });
}

const bearer = (at) => ({ authorization: `Bearer ${at}` });

// A data directory with users and a `tessera serve` on it. `env` goes to the server and to every
// CLI run (the CLI reads the same configuration).
export class TokenServer {
  // users: { name: [roles] }. Resolves once the server prints its URL.
  // listen: HOST:PORT to keep across restart() (a client that must find it again); default a
  // free port each time.
  static async start({ users = { alice: [] }, env = {}, prefix = 'tessera-tok-', listen } = {}) {
    assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
    const fx = new TokenServer();
    fx.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fx.data = path.join(fx.dir, 'data');
    fx.env = env;
    fx.listen = listen;
    fx.subs = {};
    try {
      for (const [name, roles] of Object.entries(users)) fx.addUser(name, roles);
      fx.server = await startServer(fx.data, env, { listen });
    } catch (err) {
      fs.rmSync(fx.dir, { recursive: true, force: true });
      throw err;
    }
    return fx;
  }

  get base() { return this.server.url; }

  cli(args, input = '') {
    return tessera([...args, '--data', this.data], input, this.env);
  }

  addUser(name, roles = []) {
    const r = this.cli(['user', 'add', name, ...roles.flatMap((x) => ['--role', x]), '--password-stdin'],
                       `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.err);
    const m = r.out.match(/\(id ([A-Za-z0-9_-]+)\)/);
    assert.ok(m, `no id in: ${r.out}`);
    this.subs[name] = m[1];
    return m[1];
  }

  // Another server on the same data directory (the same keys and sessions), with `env` added.
  async twin(env = {}) {
    return startServer(this.data, { ...this.env, ...env });
  }

  // SIGTERM, wait for the exit, start again on the same data directory. Returns the exit.
  async restart() {
    const stopped = await stop(this.server);
    this.server = await startServer(this.data, this.env, { listen: this.listen });
    return stopped;
  }

  async close() {
    if (this.server) await stop(this.server);
    this.server = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  fetch(p, init = {}) { return fetch(this.base + p, init); }

  // POST /v1/login; mode "token" unless told otherwise.
  async login(username, { password = PASSWORD, mode = 'token', headers = {} } = {}) {
    const res = await this.fetch('/v1/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': UA, ...headers },
      body: JSON.stringify(mode ? { username, password, mode } : { username, password }),
    });
    const text = await res.text();
    return { res, status: res.status, text, body: text ? JSON.parse(text) : null };
  }

  // A token login that must succeed: { at, rt, body, claims, header, sid }.
  async tokenLogin(username, opts = {}) {
    const r = await this.login(username, opts);
    assert.equal(r.status, 200, `token login ${username}: ${r.text}`);
    return pair(r.body);
  }

  // A session-mode login that must succeed: { cookie, csrf, sid, headers }.
  async cookieLogin(username) {
    const r = await this.login(username, { mode: 'session' });
    assert.equal(r.status, 200, `cookie login ${username}: ${r.text}`);
    const m = (r.res.headers.get('set-cookie') ?? '').match(/__Host-tessera_session=([^;]*)/);
    assert.ok(m, 'no session cookie');
    return { cookie: m[1], csrf: r.body.csrf_token, sid: r.body.session.id,
             headers: { cookie: `__Host-tessera_session=${m[1]}`, 'x-csrf-token': r.body.csrf_token } };
  }

  // POST /v1/token with grant_type=refresh_token, form-encoded (or JSON with {json: true}).
  async refresh(rt, { json = false, headers = {} } = {}) {
    const fields = { grant_type: 'refresh_token', refresh_token: rt };
    const res = await this.fetch('/v1/token', {
      method: 'POST',
      headers: { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
                 'user-agent': UA, ...headers },
      body: json ? JSON.stringify(fields) : new URLSearchParams(fields).toString(),
    });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* asserted by the caller */ }
    return { res, status: res.status, text, body };
  }

  // A refresh that must succeed: the new pair as tokenLogin() gives it.
  async rotate(rt, opts = {}) {
    const r = await this.refresh(rt, opts);
    assert.equal(r.status, 200, `refresh: ${r.text}`);
    return pair(r.body);
  }

  // A refresh that must be refused with 400 invalid_grant.
  async expectInvalidGrant(rt, what) {
    const r = await this.refresh(rt);
    assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
    assert.equal(r.body?.error, 'invalid_grant', `${what}: ${r.text}`);
    assert.equal(r.res.headers.get('cache-control'), 'no-store', what);
  }

  // GET `p` with the bearer `at`.
  get(p, at, headers = {}) { return this.fetch(p, { headers: { ...bearer(at), ...headers } }); }

  // The status of GET /v1/me with `at` (the body is drained).
  async meStatus(at) {
    const res = await this.get('/v1/me', at);
    await res.arrayBuffer();
    return res.status;
  }

  async expectAccepted(at, what) {
    const res = await this.get('/v1/me', at);
    const text = await res.text();
    assert.equal(res.status, 200, `${what}: ${res.status} ${text}`);
    return JSON.parse(text);
  }

  async expectRefused(at, what) {
    await assertInvalidToken(await this.get('/v1/me', at), what);
  }

  // `method p` with only the bearer (no CSRF token, no cookie).
  async call(method, p, at, body) {
    const res = await this.fetch(p, {
      method,
      headers: { ...bearer(at), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { res, status: res.status, text, body: text ? JSON.parse(text) : null };
  }

  // GET /v1/sessions with the bearer; must succeed.
  async sessions(at) {
    const r = await this.call('GET', '/v1/sessions', at);
    assert.equal(r.status, 200, `GET /v1/sessions: ${r.text}`);
    return r.body;
  }

  // POST a form to /v1/introspect or /v1/revoke with `authorization` (a header value or null).
  async clientPost(p, fields, authorization) {
    const res = await this.fetch(p, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded',
                 ...(authorization ? { authorization } : {}) },
      body: new URLSearchParams(fields).toString(),
    });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* asserted by the caller */ }
    return { res, status: res.status, text, body };
  }
}

export function pair(body) {
  const { header, payload } = decodeJwt(body.access_token);
  return { at: body.access_token, rt: body.refresh_token, body, header, claims: payload,
           sid: payload.sid };
}

export async function stop(server) {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
  return server.exited;
}
