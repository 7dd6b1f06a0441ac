// docs/openapi.yaml against the real server: every documented operation is called in several
// states (anonymous; with a session cookie and its CSRF token; with a bearer access token; with a
// token client's HTTP Basic credentials, right and wrong; with an empty and a malformed body),
// and each answer's status must be one the document lists for that operation, and each error
// body the document's Error shape ({"error", "error_description"}, both strings). That the
// document lists every route the server has, and no other, is tests/server/router_test.cc.
// Run by ctest (openapi_integration) with TESSERA_BIN set. Needs python3 with PyYAML
// (scripts/install-deps: python3-yaml) to read the document.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TokenServer, basicAuth, sha256hex } from './token_fixture.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DOCUMENT = path.join(ROOT, 'docs/openapi.yaml');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const CLIENT_SECRET = 'openapi-client-secret-0123456789';

function loadDocument() {
  const r = spawnSync('python3', ['-c',
    'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), sys.stdout)',
    DOCUMENT], { encoding: 'utf8' });
  assert.equal(r.status, 0, `cannot read docs/openapi.yaml (python3 with PyYAML): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Follows a local "$ref" ("#/components/...").
function deref(doc, node) {
  let n = node;
  for (let i = 0; n && n.$ref && i < 10; ++i) {
    assert.match(n.$ref, /^#\//, `only local references: ${n.$ref}`);
    n = n.$ref.slice(2).split('/').reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    assert.ok(n, `unresolved reference ${node.$ref}`);
  }
  return n;
}

// The documented response for `status` ("401", "4XX" or "default"), or undefined.
function documentedResponse(op, status) {
  const s = String(status);
  return op.responses[s] ?? op.responses[`${s[0]}XX`] ?? op.responses.default;
}

let doc, fx, alice, bob, bobCookie, client;

before(async () => {
  doc = loadDocument();
  fx = await TokenServer.start({
    users: { alice: ['admin'], bob: [] },
    env: { TESSERA_TOKEN_CLIENTS: `orders:${sha256hex(CLIENT_SECRET)}` },
    prefix: 'tessera-openapi-',
  });
  alice = await fx.tokenLogin('alice');
  bob = await fx.tokenLogin('bob');
  bobCookie = await fx.cookieLogin('bob');
  client = basicAuth('orders', CLIENT_SECRET);
});

after(async () => { if (fx) await fx.close(); });

test('the document is OpenAPI 3.1 with an Error schema, and every operation lists its answers', () => {
  assert.equal(doc.openapi, '3.1.0');
  const error = deref(doc, doc.components?.schemas?.Error);
  assert.ok(error, 'components.schemas.Error');
  assert.deepEqual([...(error.required ?? [])].sort(), ['error', 'error_description']);
  let operations = 0;
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      ++operations;
      assert.ok(op.operationId, `${m} ${p}: operationId`);
      assert.ok(op.responses && Object.keys(op.responses).length > 0, `${m} ${p}: responses`);
      assert.ok(!op.responses.default, `${m} ${p}: list the statuses, not "default"`);
      // Every documented JSON error names the Error schema (directly or through a component).
      for (const [status, r0] of Object.entries(op.responses)) {
        if (Number(status[0]) < 4) continue;
        const r = deref(doc, r0);
        const schema = r.content?.['application/json']?.schema;
        if (!schema) continue;
        const text = JSON.stringify(schema);
        assert.ok(text.includes('#/components/schemas/Error'), `${m} ${p} ${status}: not the Error schema`);
      }
    }
  }
  assert.ok(operations >= 30, `only ${operations} operations`);
});

// One call; the status must be documented for the operation, an error body must be an Error.
async function check(p, m, op, what, { headers = {}, body } = {}) {
  const res = await fx.fetch(p, { method: m.toUpperCase(), headers, body });
  const text = await res.text();
  const where = `${m.toUpperCase()} ${p} (${what}) answered ${res.status}: ${text.slice(0, 300)}`;
  const documented = documentedResponse(op, res.status);
  assert.ok(documented, `${where}; docs/openapi.yaml lists ${Object.keys(op.responses).join(', ')}`);
  if (res.status >= 400 && (res.headers.get('content-type') ?? '').startsWith('application/json')) {
    const e = JSON.parse(text);
    assert.equal(typeof e.error, 'string', where);
    assert.equal(typeof e.error_description, 'string', where);
    assert.match(e.error, /^[a-z_]+$/, where);
  }
  return res.status;
}

// A concrete path for a documented one: parameters get a value that names nothing real.
function concrete(p) {
  return p.replace(/\{[^}]+\}/g, (name) => (name === '{file}' || name === '{name}' ? 'nothing.css' : 'nobody'));
}

test('every documented operation answers only documented statuses, errors in the Error shape', async () => {
  const seen = new Set();
  const json = { 'content-type': 'application/json' };
  // The logout goes last: it ends the sessions the other calls use.
  const entries = Object.entries(doc.paths).sort(([a], [b]) => (a === '/v1/logout') - (b === '/v1/logout'));
  for (const [p0, item] of entries) {
    const p = concrete(p0);
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const hasBody = m !== 'get' && m !== 'delete';
      const states = [
        ['anonymous', {}],
        ['anonymous, empty JSON', hasBody ? { headers: json, body: '{}' } : null],
        ['malformed JSON', hasBody ? { headers: json, body: '{"username":' } : null],
        ['wrong media type', hasBody ? { headers: { 'content-type': 'text/plain' }, body: 'x' } : null],
        ['bearer', { headers: { authorization: `Bearer ${bob.at}` } }],
        ['bearer, empty JSON', hasBody ? { headers: { authorization: `Bearer ${bob.at}`, ...json }, body: '{}' } : null],
        ['admin bearer', { headers: { authorization: `Bearer ${alice.at}` } }],
        ['admin bearer, empty JSON', hasBody ? { headers: { authorization: `Bearer ${alice.at}`, ...json }, body: '{}' } : null],
        ['cookie without CSRF', { headers: { cookie: bobCookie.headers.cookie } }],
        ['cookie and CSRF, empty JSON', { headers: { ...bobCookie.headers, ...json }, body: hasBody ? '{}' : undefined }],
        ['garbage bearer', { headers: { authorization: 'Bearer not.a.token' } }],
        ['client Basic', { headers: { authorization: client } }],
        ['wrong client Basic', { headers: { authorization: basicAuth('orders', 'wrong-secret') } }],
        ['client Basic, form', hasBody ? { headers: { authorization: client, 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' } : null],
      ];
      for (const [what, init] of states) {
        if (!init) continue;
        seen.add(`${await check(p, m, op, what, init)} ${m} ${p0}`);
      }
    }
  }
  // Enough happened to mean something: successes and refusals both.
  const statuses = new Set([...seen].map((s) => s.split(' ')[0]));
  for (const s of ['200', '204', '400', '401', '403', '404']) assert.ok(statuses.has(s), `no ${s} seen at all`);
});
