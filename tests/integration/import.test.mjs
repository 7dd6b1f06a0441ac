// `tessera user import` end to end: a bcrypt account made at test time (libxcrypt, through
// python3's ctypes) is imported, signs in over HTTP, and its stored hash becomes Argon2id on that
// login. The stored hash is read from the SQLite file itself (python3's sqlite3 module), as the
// server wrote it. Run by ctest (import_integration) with TESSERA_BIN set, or by hand:
//   TESSERA_BIN=build/tessera node --test tests/integration/import.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BIN, startServer, tessera } from './tessera.mjs';

const PASSWORD = 'an imported password';

function python(script, input = '', args = []) {
  const r = spawnSync('python3', ['-c', script, ...args], { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `python3: ${r.stderr}`);
  return r.stdout.trim();
}

// bcrypt with libcrypt's own salt generator; the password goes through stdin, not argv.
function bcrypt(prefix, password) {
  return python(`
import ctypes, sys
c = ctypes.CDLL("libcrypt.so.1")
c.crypt_gensalt.restype = ctypes.c_char_p
c.crypt.restype = ctypes.c_char_p
setting = c.crypt_gensalt(sys.argv[1].encode(), 5, None, 0)
print(c.crypt(sys.stdin.buffer.read(), setting).decode())
`, password, [prefix]);
}

// The password_hash column of one user, read-only, straight from the database file.
function storedHash(dbPath, username) {
  return python(`
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
row = db.execute("SELECT password_hash FROM users WHERE username = ?", (sys.argv[2],)).fetchone()
print(row[0] if row else "")
`, '', [dbPath, username]);
}

let dir, data, db, server;

function login(username, password) {
  return fetch(`${server.url}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), 'TESSERA_BIN must name the tessera binary');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-import-'));
  data = path.join(dir, 'data');
  db = path.join(data, 'tessera.db');
});

after(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('an imported bcrypt account signs in once and is upgraded to Argon2id', async () => {
  const carol = bcrypt('$2b$', PASSWORD);
  const dave = bcrypt('$2y$', PASSWORD);
  assert.match(carol, /^\$2b\$05\$[./A-Za-z0-9]{53}$/);
  const file = path.join(dir, 'users.jsonl');
  fs.writeFileSync(file, [
    JSON.stringify({ username: 'Carol', password_hash: carol, roles: ['ops'] }),
    '',
    JSON.stringify({ username: 'dave', password_hash: dave }),
  ].join('\n') + '\n');
  const r = tessera(['user', 'import', file, '--data', data]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'imported 2 users\n');
  assert.ok(!r.out.includes(carol.slice(7)) && !r.err.includes(carol.slice(7)));

  server = await startServer(data);
  assert.equal(storedHash(db, 'carol'), carol);

  // A wrong password neither signs in nor touches the stored hash.
  const wrong = await login('carol', 'not the password');
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error, 'invalid_credentials');
  assert.equal(storedHash(db, 'carol'), carol);

  const ok = await login('carol', PASSWORD);
  assert.equal(ok.status, 200, await ok.clone().text());
  const body = await ok.json();
  assert.deepEqual(body.user.roles, ['ops']);
  const upgraded = storedHash(db, 'carol');
  assert.match(upgraded, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);

  // From now on the Argon2id hash decides: the right password still works, a wrong one does not.
  assert.equal((await login('carol', PASSWORD)).status, 200);
  assert.equal((await login('carol', PASSWORD + ' ')).status, 401);
  assert.equal(storedHash(db, 'carol'), upgraded, 'a current hash is not rewritten');

  // The other account was not touched by carol's logins, and upgrades on its own.
  assert.equal(storedHash(db, 'dave'), dave);
  assert.equal((await login('dave', PASSWORD)).status, 200);
  assert.match(storedHash(db, 'dave'), /^\$argon2id\$/);
});

test('an import while the server runs is visible to it at once; a bad file changes nothing', async () => {
  const file = path.join(dir, 'more.jsonl');
  const erin = bcrypt('$2a$', PASSWORD);
  fs.writeFileSync(file, JSON.stringify({ username: 'erin', password_hash: erin }) + '\n' +
                         JSON.stringify({ username: 'frank', password_hash: '$1$abc$def' }) + '\n');
  const bad = tessera(['user', 'import', file, '--data', data]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /line 2: password hash: unsupported scheme/);
  assert.ok(!bad.err.includes('$1$abc$def'));
  assert.equal((await login('erin', PASSWORD)).status, 401);
  assert.equal(storedHash(db, 'erin'), '');

  fs.writeFileSync(file, JSON.stringify({ username: 'erin', password_hash: erin }) + '\n');
  const good = tessera(['user', 'import', '-', '--data', data], fs.readFileSync(file, 'utf8'));
  assert.equal(good.code, 0, good.err);
  assert.equal((await login('erin', PASSWORD)).status, 200);
  assert.match(storedHash(db, 'erin'), /^\$argon2id\$/);
});
