// A real PostgreSQL for the integration tests, as tests/testing/postgres_server.h starts one for
// the C++ tests: a fresh cluster (initdb) under `dir`, on a free loopback port, password (SCRAM)
// authentication over TCP for the superuser `tessera`, fsync off. PostgreSQL refuses to run as
// root, so under root (CI) the cluster belongs to, and the server runs as, the `postgres` user
// that Debian's package creates. Needs Debian's postgresql (scripts/install-deps test); fails,
// never skips, without it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { awaitListening, stopProc } from './cluster_client.mjs';
import { freePort, launch } from './tessera.mjs';

export const PG_PASSWORD = 'CANARY-pg-secret-51d0';

function binDir() {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).map(Number).filter((v) => v > 0) : [];
  if (versions.length === 0) throw new Error('no /usr/lib/postgresql/*: install postgresql (scripts/install-deps test)');
  return path.join(root, String(Math.max(...versions)), 'bin');
}

function owner() {
  if (process.getuid() !== 0) return {};
  const id = (flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

// Starts PostgreSQL in a new temporary directory of its own (under root it belongs to postgres,
// who could not enter the test's); returns {url(db), port, dir, exec(sql, db), freeze(), thaw(),
// kill(), start(), stop()}. stop() removes the directory.
export async function startPostgres() {
  const bin = binDir();
  const who = owner();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-pg-'));
  if (who.uid !== undefined) fs.chownSync(dir, who.uid, who.gid);
  const pwfile = path.join(dir, 'pwfile');
  fs.writeFileSync(pwfile, `${PG_PASSWORD}\n`);
  if (who.uid !== undefined) fs.chownSync(pwfile, who.uid, who.gid);
  const data = path.join(dir, 'data');
  const init = spawnSync(path.join(bin, 'initdb'),
                         ['-D', data, '-U', 'tessera', '--pwfile', pwfile, '--auth-local', 'trust',
                          '--auth-host', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C.UTF-8', '--no-sync'],
                         { encoding: 'utf8', ...who });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stdout}${init.stderr}`);
  const port = await freePort();
  let proc = null;
  const pg = {
    port,
    dir,
    url: (db = 'postgres') => `postgresql://tessera:${PG_PASSWORD}@127.0.0.1:${port}/${db}`,
    async start() {
      proc = launch(path.join(bin, 'postgres'),
                    ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
                     '-c', 'fsync=off', '-c', 'full_page_writes=off'], who);
      await awaitListening(proc, port, 'postgres', path.join(dir, 'postgres.log'));
      // Accepting TCP is not accepting queries yet (startup, crash recovery).
      for (let i = 0; i < 300; ++i) {
        if (pg.exec('SELECT 1', 'postgres', { check: false }).status === 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`postgres does not answer queries: ${proc.output()}`);
    },
    // psql from the same installation, over TCP with the password; rows unaligned, no headers.
    exec(sql, db = 'postgres', { check = true } = {}) {
      const r = spawnSync(path.join(bin, 'psql'), ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1',
                                                  '-p', String(port), '-U', 'tessera', '-d', db, '-c', sql],
                          { encoding: 'utf8', env: { ...process.env, PGPASSWORD: PG_PASSWORD } });
      if (check && r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
      return r;
    },
    // SIGSTOP/SIGCONT to the postmaster and every backend: connections hang, as with a host that
    // stopped answering.
    freeze() { signalAll('SIGSTOP'); },
    thaw() { signalAll('SIGCONT'); },
    // Immediate shutdown (every backend exits at once, as in a crash); start() brings it back.
    async kill() {
      signalAll('SIGCONT');
      await stopProc(proc, 'SIGQUIT');
    },
    async stop() {
      if (proc) {
        signalAll('SIGCONT');
        await stopProc(proc, 'SIGQUIT');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  function signalAll(sig) {
    if (!proc?.running()) return;
    spawnSync('pkill', [`-${sig.replace('SIG', '')}`, '-P', String(proc.child.pid)]);
    process.kill(proc.child.pid, sig);
  }
  await pg.start();
  return pg;
}
