// The Traefik and Envoy examples (docs/deploy/traefik.yml, traefik-dynamic.yml, envoy.yaml).
// Neither proxy is packaged by Debian, so neither runs here (nginx and Caddy do, in their own
// tests). What can be checked without them is:
//  - each file parses, and has every key the recipe relies on, wired as its comments say: the
//    header scrubbing first, the checks on the protected routes only, the step-up check on
//    /admin/ only, fail closed, tessera's own routes unchecked;
//  - the X-Auth-* headers each passes to the app are exactly those nginx.conf and the Caddyfile
//    pass, and exactly those tessera answers with;
//  - the requests each proxy sends to tessera, built from the file's own values the way the
//    proxy's documentation says it builds them, get the right answers from a real tessera.
// Run by ctest (proxy_examples) with TESSERA_BIN set. Needs python3 with PyYAML.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TokenServer } from './token_fixture.mjs';
import { base32Decode, totp } from './totp.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = path.join(ROOT, 'docs/deploy');
const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

function loadYaml(file) {
  const r = spawnSync('python3', ['-c',
    'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), sys.stdout)',
    file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `cannot read ${file} (python3 with PyYAML): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const lower = (list) => list.map((h) => h.toLowerCase());
const sorted = (list) => [...list].sort();

// The headers nginx.conf sets on the request to the app in each protected location, and those
// the Caddyfile copies from tessera's answer: the reference the other recipes must match.
function referenceHeaders() {
  const nginx = fs.readFileSync(path.join(DEPLOY, 'nginx.conf'), 'utf8');
  const perLocation = [];
  for (const loc of ['/app/', '/api/', '/admin/']) {
    const start = nginx.indexOf(`location ${loc} {`);
    assert.ok(start >= 0, `nginx.conf: location ${loc}`);
    const body = nginx.slice(start, nginx.indexOf('\n    }', start));
    perLocation.push([...body.matchAll(/^\s*proxy_set_header\s+(X-Auth-[A-Za-z-]+)\s/gm)].map((m) => m[1]));
  }
  const caddy = fs.readFileSync(path.join(DEPLOY, 'Caddyfile'), 'utf8');
  const copied = [...caddy.matchAll(/^\s*copy_headers\s+(.+)$/gm)].map((m) => m[1].trim().split(/\s+/));
  assert.equal(copied.length, 3, 'Caddyfile: one copy_headers per protected path');
  const reference = perLocation[0];
  assert.equal(reference.length, 6, `nginx.conf /app/: ${reference}`);
  for (const list of [...perLocation, ...copied]) assert.deepEqual(sorted(list), sorted(reference));
  return reference;
}

let traefikStatic, traefik, envoy, reference;
let fx, weak, strong, logDir;

before(async () => {
  traefikStatic = loadYaml(path.join(DEPLOY, 'traefik.yml'));
  traefik = loadYaml(path.join(DEPLOY, 'traefik-dynamic.yml'));
  envoy = loadYaml(path.join(DEPLOY, 'envoy.yaml'));
  reference = referenceHeaders();

  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-proxies-log-'));
  fx = await TokenServer.start({ users: { carol: ['ops'] }, prefix: 'tessera-proxies-',
                                 env: { TESSERA_SERVER_ACCESS_LOG: path.join(logDir, 'access.log') } });
  // A password-only session, then a second factor turned on and a session signed in with it.
  weak = await fx.cookieLogin('carol');
  const json = { ...weak.headers, 'content-type': 'application/json' };
  const begun = await fx.fetch('/v1/me/totp', { method: 'POST', headers: json, body: '{}' });
  assert.equal(begun.status, 200);
  const secret = base32Decode((await begun.json()).secret);
  const confirmed = await fx.fetch('/v1/me/totp/confirm',
                                   { method: 'POST', headers: json, body: JSON.stringify({ code: totp(secret) }) });
  assert.equal(confirmed.status, 200, await confirmed.text());
  const step1 = await fx.login('carol', { mode: 'session' });
  assert.equal(step1.status, 401, step1.text);
  const step2 = await fx.fetch('/v1/login/mfa', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mfa_ticket: step1.body.mfa_ticket, code: totp(secret, { steps: 1 }) }) });
  assert.equal(step2.status, 200, await step2.text());
  strong = (step2.headers.get('set-cookie') ?? '').match(/__Host-tessera_session=([^;]+)/)[1];
});

after(async () => {
  if (fx) await fx.close();
  if (logDir) fs.rmSync(logDir, { recursive: true, force: true });
});

const cookie = (secret) => `__Host-tessera_session=${secret}`;
// tessera's own address in the examples, replaced by the test server's.
const toTest = (url) => {
  assert.ok(url.startsWith('http://127.0.0.1:8080/'), url);
  return fx.base + url.slice('http://127.0.0.1:8080'.length);
};

// The X-Auth-* headers of an answer, names lower-case.
const identity = (res) => Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('x-auth-')));

// A step-up check, `check(sessionSecret)`: the password-only session is sent to add a second
// factor (403 mfa_required), the TOTP session passes with its AMR and every X-Auth-* header.
async function expectStepUp(check) {
  const stepUp = await check(weak.cookie);
  assert.equal(stepUp.status, 403);
  assert.equal((await stepUp.json()).error, 'mfa_required');
  const admin = await check(strong);
  assert.equal(admin.status, 200);
  assert.deepEqual(sorted(Object.keys(identity(admin))), sorted(lower(reference)));
  assert.equal(identity(admin)['x-auth-amr'], 'pwd,otp');
}

test('tessera answers a check with exactly the headers the nginx and Caddy recipes pass on', async () => {
  const res = await fx.fetch('/v1/auth', { headers: { cookie: cookie(weak.cookie) } });
  assert.equal(res.status, 200);
  assert.deepEqual(sorted(Object.keys(identity(res))), sorted(lower(reference)));
});

// ---- Traefik --------------------------------------------------------------------------------

test('traefik: plain HTTP only redirects; no dashboard; the file provider loads the dynamic file', () => {
  const web = traefikStatic.entryPoints.web;
  assert.deepEqual(web.http.redirections.entryPoint, { to: 'websecure', scheme: 'https', permanent: true });
  assert.equal(traefikStatic.entryPoints.websecure.address, ':443');
  assert.equal(traefikStatic.entryPoints.websecure.http.sanitizePath, true,
               '/app/../admin/ must not take the app router past the step-up check');
  assert.equal(traefikStatic.entryPoints.websecure.forwardedHeaders, undefined,
               'trusting client X-Forwarded-* would let a client choose the address tessera sees');
  assert.equal(traefikStatic.api, undefined);
  assert.equal(traefikStatic.providers.file.filename, '/etc/traefik/tessera.yml');
});

test('traefik: each protected router scrubs X-Auth-* first and checks with tessera last', () => {
  const { routers, middlewares, services } = traefik.http;
  const strip = middlewares['tessera-strip-identity'].headers.customRequestHeaders;
  assert.deepEqual(sorted(Object.keys(strip)), sorted(reference));
  for (const v of Object.values(strip)) assert.equal(v, '', 'an empty value removes the header');

  const checks = { app: '/app/', api: '/api/', admin: '/admin/' };
  for (const [name, prefix] of Object.entries(checks)) {
    const r = routers[name];
    assert.ok(r.rule.includes(`PathPrefix(\`${prefix}\`)`), `${name}: ${r.rule}`);
    assert.equal(r.service, 'app');
    assert.deepEqual(r.entryPoints, ['websecure']);
    assert.ok(r.tls, `${name}: TLS`);
    assert.equal(r.middlewares[0], 'tessera-strip-identity', `${name}: scrub first`);
    const last = r.middlewares.at(-1);
    assert.equal(last, name === 'admin' ? 'tessera-session-mfa' : 'tessera-session', name);
    const fa = middlewares[last].forwardAuth;
    assert.equal(fa.address, name === 'admin' ? 'http://127.0.0.1:8080/v1/auth?require=mfa'
                                              : 'http://127.0.0.1:8080/v1/auth');
    assert.equal(fa.trustForwardHeader, false);
    assert.deepEqual(sorted(fa.authResponseHeaders), sorted(reference));
    assert.deepEqual(sorted(fa.authRequestHeaders), sorted(['Cookie', 'Authorization', 'Tessera-Passive']));
    // Go's (?i) flag, as JavaScript's i: every spelling with _ or - of every header, any case,
    // is removed before tessera's copies go in; nothing else is.
    assert.ok(fa.authResponseHeadersRegex.startsWith('(?i)'), fa.authResponseHeadersRegex);
    const scrub = new RegExp(fa.authResponseHeadersRegex.slice(4), 'i');
    for (const h of reference) {
      for (const spelling of [h, h.toLowerCase(), h.replace(/-/g, '_'), h.replace('-', '_'),
                              h.replace(/-(?=[^-]*$)/, '_')]) {
        assert.ok(scrub.test(spelling), `${name}: ${spelling} is not removed`);
      }
    }
    for (const other of ['Authorization', 'X-Authorization', 'Cookie', 'X-Forwarded-For']) {
      assert.ok(!scrub.test(other), `${name}: ${other} would be removed`);
    }
  }
  // tessera's own routes are not checked, and nothing else routes anywhere.
  const own = routers.tessera;
  assert.equal(own.service, 'tessera');
  assert.ok(!own.middlewares.some((m) => middlewares[m].forwardAuth), 'no check in front of the sign-in');
  assert.equal(own.middlewares[0], 'tessera-strip-identity');
  assert.deepEqual(sorted(Object.keys(routers)), ['admin', 'api', 'app', 'tessera']);
  for (const p of ['/healthz', '/readyz', '/metrics']) assert.ok(!own.rule.includes(p), p);
  assert.equal(services.tessera.loadBalancer.servers[0].url, 'http://127.0.0.1:8080');
  assert.equal(middlewares['tessera-hsts'].headers.stsSeconds, 63072000);
});

// What Traefik's forwardAuth sends: GET to the address, the listed request headers, and its own
// X-Forwarded-* (trustForwardHeader false: the client's are not kept).
async function traefikCheck(middleware, { secret, method = 'GET', uri = '/app/x' } = {}) {
  const fa = traefik.http.middlewares[middleware].forwardAuth;
  const headers = { 'x-forwarded-method': method, 'x-forwarded-proto': 'https',
                    'x-forwarded-host': 'app.example.com', 'x-forwarded-uri': uri,
                    'x-forwarded-for': '203.0.113.9' };
  if (secret) headers.cookie = cookie(secret);
  return fx.fetch(new URL(toTest(fa.address)).pathname + new URL(toTest(fa.address)).search, { headers });
}

test('traefik: tessera answers the checks Traefik sends as the recipe expects', async () => {
  const ok = await traefikCheck('tessera-session', { secret: weak.cookie, method: 'POST', uri: '/api/x?require=1' });
  assert.equal(ok.status, 200);
  assert.equal(identity(ok)['x-auth-user'], 'carol');
  assert.equal(identity(ok)['x-auth-roles'], 'ops');
  assert.equal(identity(ok)['x-auth-amr'], 'pwd');
  assert.equal((await traefikCheck('tessera-session')).status, 401);
  assert.equal((await traefikCheck('tessera-session', { secret: 'not-a-session' })).status, 401);
  await expectStepUp((secret) => traefikCheck('tessera-session-mfa', { secret, uri: '/admin/' }));
});

// ---- Envoy ----------------------------------------------------------------------------------

function envoyParts() {
  const https = envoy.static_resources.listeners.find((l) => l.name === 'https');
  const hcm = https.filter_chains[0].filters[0].typed_config;
  return { https, hcm, filters: hcm.http_filters, vhost: hcm.route_config.virtual_hosts[0] };
}

// Whether the ext_authz filter `name` runs on `route`: the most specific per-route setting wins.
function runs(vhost, route, name) {
  const setting = route.typed_per_filter_config?.[name] ?? vhost.typed_per_filter_config?.[name];
  if (!setting) return true;
  assert.equal(setting['@type'], PER_ROUTE);
  return setting.disabled !== true;
}

test('envoy: scrub first, two ext_authz filters that fail closed, the router last', () => {
  const { https, hcm, filters } = envoyParts();
  assert.equal(https.filter_chains[0].transport_socket.name, 'envoy.transport_sockets.tls');
  assert.equal(hcm.use_remote_address, true);
  assert.equal(hcm.common_http_protocol_options.headers_with_underscores_action, 'DROP_HEADER');
  // Routing on the normalised path, so that /app/../admin/ cannot skip the step-up check.
  assert.equal(hcm.normalize_path, true);
  assert.equal(hcm.merge_slashes, true);
  assert.ok(['UNESCAPE_AND_REDIRECT', 'UNESCAPE_AND_FORWARD', 'REJECT_REQUEST']
    .includes(hcm.path_with_escaped_slashes_action), hcm.path_with_escaped_slashes_action);
  // HSTS on Envoy's own answers too (ext_authz's refusals are local replies).
  const [mapper] = hcm.local_reply_config.mappers;
  assert.deepEqual(mapper.filter.status_code_filter.comparison.op, 'GE');
  assert.ok(mapper.filter.status_code_filter.comparison.value.default_value <= 100);
  assert.deepEqual(mapper.headers_to_add.map((h) => h.header.key), ['Strict-Transport-Security']);
  assert.deepEqual(filters.map((f) => f.name), ['tessera-strip-identity', 'tessera', 'tessera-mfa',
                                                 'envoy.filters.http.router']);
  const removed = filters[0].typed_config.mutations.request_mutations.map((m) => m.remove);
  assert.deepEqual(sorted(removed), sorted(lower(reference)));
  for (const f of filters.slice(1, 3)) {
    const c = f.typed_config;
    assert.equal(c['@type'], EXT_AUTHZ, f.name);
    assert.equal(c.failure_mode_allow, false, `${f.name}: fail closed`);
    assert.equal(c.transport_api_version, 'V3');
    assert.equal(c.http_service.path_prefix, '/v1/auth');
    assert.equal(c.http_service.server_uri.cluster, 'tessera');
    const allowed = c.allowed_headers.patterns.map((p) => p.exact);
    assert.ok(allowed.includes('cookie'), `${f.name}: the session cookie must reach tessera`);
    const upstream = c.http_service.authorization_response.allowed_upstream_headers.patterns.map((p) => p.exact);
    assert.deepEqual(sorted(upstream), sorted(lower(reference)), f.name);
  }
  assert.deepEqual(filters[1].typed_config.http_service.authorization_request.headers_to_add,
                   [{ key: 'x-tessera-require', value: 'none' }]);
  assert.deepEqual(filters[2].typed_config.http_service.authorization_request.headers_to_add,
                   [{ key: 'x-tessera-require', value: 'mfa' }]);
  const clusters = Object.fromEntries(envoy.static_resources.clusters.map((c) => [c.name, c]));
  const endpoint = clusters.tessera.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(endpoint, { address: '127.0.0.1', port_value: 8080 });
  const plain = envoy.static_resources.listeners.find((l) => l.name === 'http');
  const redirect = plain.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  assert.deepEqual(redirect, [{ match: { prefix: '/' }, redirect: { https_redirect: true } }]);
});

test('envoy: each route runs the checks the layout says, and only those', () => {
  const { vhost } = envoyParts();
  // The route a path takes: the first match, as Envoy picks it.
  const routeFor = (p) => vhost.routes.find((r) => (r.match.prefix !== undefined ? p.startsWith(r.match.prefix)
    : new RegExp(r.match.safe_regex.regex).test(p)));
  const expect = {
    '/app/x': ['tessera'], '/api/orders': ['tessera'], '/admin/panel': ['tessera-mfa'],
    '/': [], '/account': [], '/v1/login': [], '/v1/auth': [], '/assets/app.css': [],
    '/.well-known/jwks.json': [],
  };
  for (const [p, checks] of Object.entries(expect)) {
    const r = routeFor(p);
    assert.ok(r, p);
    assert.deepEqual(['tessera', 'tessera-mfa'].filter((n) => runs(vhost, r, n)), checks, p);
    assert.equal(r.route?.cluster, checks.length ? 'app' : 'tessera', p);
  }
  for (const p of ['/healthz', '/readyz', '/metrics', '/other', '/assets/a/b.css']) {
    const r = routeFor(p);
    assert.equal(r.direct_response?.status, 404, p);
  }
});

// A request through node:http, which sends what fetch() will not: TRACE, and a header twice (an
// array value) or empty. Resolves with {status, body}.
function plainRequest(method, p, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${fx.base}${p}`, { method, headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// What Envoy's ext_authz (HTTP) sends: the request's own method, path_prefix + its path and
// query, no body, the allowed headers and the filter's headers_to_add.
async function envoyCheck(filterName, { secret, method = 'GET', path: p = '/app/x' } = {}) {
  const { filters } = envoyParts();
  const c = filters.find((f) => f.name === filterName).typed_config.http_service;
  const headers = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' };
  if (secret) headers.cookie = cookie(secret);
  for (const { key, value } of c.authorization_request?.headers_to_add ?? []) headers[key] = value;
  return fx.fetch(c.path_prefix + p, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : '' });
}

test('envoy: tessera answers the checks Envoy sends, with any method and the app\'s own query', async () => {
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const ok = await envoyCheck('tessera', { secret: weak.cookie, method, path: '/api/orders/7?require=garbage' });
    assert.equal(ok.status, 200, method);
    assert.equal(identity(ok)['x-auth-user'], 'carol', method);
  }
  const root = await envoyCheck('tessera', { secret: weak.cookie, path: '/' });
  assert.equal(root.status, 200);
  assert.equal((await envoyCheck('tessera', { path: '/api/x' })).status, 401);
  await expectStepUp((secret) => envoyCheck('tessera-mfa', { secret, path: '/admin/panel' }));
  // A requirement tessera does not know is refused, never ignored; the query cannot ask for one.
  const typo = await fx.fetch('/v1/auth/app/x', { headers: { cookie: cookie(strong), 'x-tessera-require': 'mfa2' } });
  assert.equal(typo.status, 400);
  assert.equal((await typo.json()).error, 'invalid_request');
  const viaQuery = await envoyCheck('tessera', { secret: weak.cookie, path: '/admin/x?require=mfa' });
  assert.equal(viaQuery.status, 200, 'the path form never reads the query');
  // A proxy pointed at the path form without the header (say `/v1/auth/?require=mfa` in a
  // Traefik address) is refused, never let through without the check it meant to ask for.
  for (const [what, headers] of [['no header', {}],
                                 ['twice', { 'x-tessera-require': ['none', 'none'] }],
                                 ['empty', { 'x-tessera-require': '' }]]) {
    const res = await plainRequest('GET', '/v1/auth/?require=mfa', { cookie: cookie(strong), ...headers });
    assert.equal(res.status, 400, what);
    assert.equal(JSON.parse(res.body).error, 'invalid_request', what);
  }
  // A method tessera's check does not take is refused (Envoy then refuses the request).
  const trace = await plainRequest('TRACE', '/v1/auth/x', { cookie: cookie(strong) });
  assert.equal(trace.status, 405);
});

test('the access log keeps the path form\'s forwarded path (the app\'s) out', async () => {
  const secretPath = '/reset/SECRET-LINK-TOKEN-4f2a';
  const res = await envoyCheck('tessera', { secret: weak.cookie, path: secretPath });
  assert.equal(res.status, 200);
  const file = path.join(logDir, 'access.log');
  let text = '';
  for (let i = 0; i < 50 && !text.includes('/v1/auth/...'); ++i) {
    await new Promise((r) => setTimeout(r, 100));  // the access log is written every 200 ms
    text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  }
  assert.ok(text.includes('"path":"/v1/auth/..."'), text.slice(-500));
  assert.ok(!text.includes('SECRET-LINK-TOKEN'), 'the forwarded path is in the access log');
});
