// tessera behind REAL Caddy (forward_auth), with the Caddyfile we ship: docs/deploy/Caddyfile is
// read, and only its site addresses, certificate paths and upstream addresses are substituted
// (each must match as often as the file has it, so an edit the test no longer understands fails
// here); a global options block put before it turns off Caddy's admin API and its port-80
// redirects, which a test machine cannot share. Caddy runs in the foreground as the current user,
// over TLS with a throwaway self-signed certificate. The scenarios are forward_auth_suite.mjs,
// the same as for nginx: the same answers, the same X-Auth-* headers at the app.
// Run by ctest (caddy_forward_auth) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/caddy.test.mjs
// Needs caddy and openssl (scripts/install-deps installs both); fails, never skips, without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { forwardAuthSuite } from './forward_auth_suite.mjs';
import { launchOnFreePorts, stopLaunched } from './tessera.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHIPPED = path.join(ROOT, 'docs/deploy/Caddyfile');

// `text` with every `from` replaced by `to`; `from` must occur exactly `count` times.
function replaceAll(text, from, to, count = 1) {
  const n = text.split(from).length - 1;
  assert.equal(n, count, `docs/deploy/Caddyfile: expected "${from}" ${count} time(s), found ${n}`);
  return text.split(from).join(to);
}

// Caddy keeps state under $HOME/.local/share and $HOME/.config: this test's directory.
const caddyEnv = (dir) => ({ ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, 'xdg-data'),
                             XDG_CONFIG_HOME: path.join(dir, 'xdg-config') });

const GLOBAL_OPTIONS = (dir) => [
  '{',
  '\tadmin off',
  '\tauto_https disable_redirects',
  `\tstorage file_system ${path.join(dir, 'caddy-storage')}`,
  '}',
  '',
].join('\n');

// The shipped file, pointed at this test's processes. Everything else stays as shipped.
function deriveCaddyfile(shipped, p, dir) {
  let conf = shipped;
  conf = replaceAll(conf, 'http://app.example.com {', `http://127.0.0.1:${p.http} {`);
  conf = replaceAll(conf, 'https://app.example.com {', `https://127.0.0.1:${p.https} {`);
  conf = replaceAll(conf, 'tls /etc/letsencrypt/live/app.example.com/fullchain.pem /etc/letsencrypt/live/app.example.com/privkey.pem',
                    `tls ${p.cert} ${p.key}`);
  conf = replaceAll(conf, '127.0.0.1:8080', `127.0.0.1:${p.tessera}`, 4);
  conf = replaceAll(conf, 'reverse_proxy 127.0.0.1:3000', `reverse_proxy 127.0.0.1:${p.app}`);
  return GLOBAL_OPTIONS(dir) + conf;
}

function startCaddy(bin, dir, sitePorts) {
  const shipped = fs.readFileSync(SHIPPED, 'utf8');
  const file = path.join(dir, 'Caddyfile');
  return launchOnFreePorts(bin, sitePorts, (ports) => {
    fs.writeFileSync(file, deriveCaddyfile(shipped, ports, dir));
    return ['run', '--config', file, '--adapter', 'caddyfile'];
  }, { env: caddyEnv(dir) });  // Caddy logs to its output, which the error includes
}

const stopCaddy = (caddy) => stopLaunched(caddy, 'SIGTERM');  // graceful

const suite = forwardAuthSuite({
  name: 'Caddy',
  binary: 'caddy',
  start: startCaddy,
  stop: stopCaddy,
  failClosedStatus: 502,  // forward_auth: an upstream that cannot be reached is a bad gateway
});

test('the shipped file passes caddy validate unchanged apart from addresses and paths', () => {
  const dir = suite.dir();
  const derived = path.join(dir, 'Caddyfile');
  const t = spawnSync(suite.bin(), ['validate', '--config', derived, '--adapter', 'caddyfile'],
                      { encoding: 'utf8', env: caddyEnv(dir) });
  assert.equal(t.status, 0, t.stderr);
  const shipped = fs.readFileSync(SHIPPED, 'utf8').split('\n');
  const lines = fs.readFileSync(derived, 'utf8').split('\n');
  // Same directives apart from the substituted lines.
  const changed = shipped.filter((l) => !lines.includes(l));
  assert.equal(changed.length, 8, changed.join('\n'));
});
