// tessera behind REAL nginx (auth_request), with the configuration we ship: docs/deploy/nginx.conf
// is read, and only its addresses and certificate paths are substituted (each substitution must
// match exactly once, so an edit to the shipped file that the test no longer understands fails
// here instead of silently testing something else). A minimal main configuration wraps it with
// temporary pid, log and temp paths; nginx runs in the foreground as the current user, over TLS
// with a throwaway self-signed certificate. The scenarios are forward_auth_suite.mjs, the same
// for every shipped recipe (caddy.test.mjs runs them against docs/deploy/Caddyfile).
// Run by ctest (nginx_forward_auth) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/nginx.test.mjs
// Needs nginx and openssl (scripts/install-deps installs both); fails, never skips, without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { forwardAuthSuite } from './forward_auth_suite.mjs';
import { launchOnFreePorts, nginxMainConfig, stopLaunched } from './tessera.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHIPPED = path.join(ROOT, 'docs/deploy/nginx.conf');

// `text` with `from` replaced by `to`; `from` must occur exactly once.
function replaceOnce(text, from, to) {
  const n = text.split(from).length - 1;
  assert.equal(n, 1, `docs/deploy/nginx.conf: expected "${from}" exactly once, found ${n}`);
  return text.replace(from, () => to);
}

// The shipped file, pointed at this test's processes. Everything else stays as shipped.
function deriveSiteConfig(shipped, p) {
  let conf = shipped;
  conf = replaceOnce(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${p.tessera};`);
  conf = replaceOnce(conf, 'server 127.0.0.1:3000;', `server 127.0.0.1:${p.app};`);
  conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${p.http};`);
  conf = replaceOnce(conf, 'listen 443 ssl http2;', `listen 127.0.0.1:${p.https} ssl http2;`);
  conf = replaceOnce(conf, '/etc/letsencrypt/live/app.example.com/fullchain.pem', p.cert);
  conf = replaceOnce(conf, '/etc/letsencrypt/live/app.example.com/privkey.pem', p.key);
  // IPv6 may be missing on a test machine; the IPv4 listeners above are the ones tested.
  const lines = conf.split('\n');
  const v6 = lines.filter((l) => /^\s*listen \[::\]:/.test(l));
  assert.equal(v6.length, 2, 'docs/deploy/nginx.conf: expected two IPv6 listen lines');
  return lines.filter((l) => !v6.includes(l)).join('\n');
}

// The main configuration a distribution would provide, with everything under `dir`.
function mainConfig(dir, sitePath) {
  return nginxMainConfig(dir, [`  include ${sitePath};`]);
}

function startNginx(bin, dir, sitePorts) {
  const shipped = fs.readFileSync(SHIPPED, 'utf8');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const errorLog = path.join(dir, 'error.log');
  return launchOnFreePorts(bin, sitePorts, (ports) => {
    const sitePath = path.join(dir, 'tessera.conf');
    fs.writeFileSync(sitePath, deriveSiteConfig(shipped, ports));
    const confPath = path.join(dir, 'nginx.conf');
    fs.writeFileSync(confPath, mainConfig(dir, sitePath));
    return ['-p', `${dir}/`, '-c', confPath, '-e', errorLog];
  }, { log: () => { try { return fs.readFileSync(errorLog, 'utf8'); } catch { return ''; } } });
}

// Graceful: the master waits for its workers and removes the pid file.
const stopNginx = (nginx) => stopLaunched(nginx, 'SIGQUIT');

// The scenarios (forward_auth_suite.mjs), then nginx's own check of the file.
const suite = forwardAuthSuite({
  name: 'nginx',
  binary: 'nginx',
  start: startNginx,
  stop: stopNginx,
  failClosedStatus: 500,  // auth_request: an upstream that cannot be reached is an internal error
});

test('the shipped file passes nginx -t unchanged apart from addresses and paths', () => {
  const dir = suite.dir();
  const t = spawnSync(suite.bin(), ['-t', '-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'),
                                 '-e', path.join(dir, 'error-t.log')], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const derived = fs.readFileSync(path.join(dir, 'tessera.conf'), 'utf8');
  const shipped = fs.readFileSync(SHIPPED, 'utf8');
  // Same directives apart from the substituted lines.
  const changed = shipped.split('\n').filter((l) => !derived.split('\n').includes(l));
  assert.equal(changed.length, 8, changed.join('\n'));
});

