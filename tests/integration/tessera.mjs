// Shared by the integration tests: run the tessera CLI, and start `tessera serve` on a free port.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const BIN = process.env.TESSERA_BIN;

// Runs `tessera ARGS` to completion with `input` on stdin.
export function tessera(args, input = '', env = {}) {
  const r = spawnSync(BIN, args, { input, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Starts `tessera serve` on 127.0.0.1 and a free port; resolves once it prints its URL
// (http:// or, with TLS configured, https://). `env` is added to the environment; `args` are
// appended to the command line (e.g. ['--config', file]). `exited` resolves with {code, signal}
// when the process ends.
export async function startServer(dataDir, env = {}, { args = [], listen = '127.0.0.1:0' } = {}) {
  const child = spawn(BIN, ['serve', '--listen', listen, '--data', dataDir, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL from tessera serve: ${out}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (https?:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.stderr.on('data', (d) => { out += d; });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`tessera serve exited ${code}: ${out}`));
    });
  });
  return { url, port: Number(new URL(url).port), child, exited, output: () => out };
}

// The first executable called `name` on PATH or in `extra` directories (Debian keeps nginx in
// /usr/sbin, outside a normal user's PATH); null when there is none.
export function findExecutable(name, extra = []) {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean).concat(extra)) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

// A loopback port nobody listens on right now (for servers that cannot report the port they
// chose for :0, such as nginx and redis-server).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Whether something accepts connections on 127.0.0.1:port.
export function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('connect', () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
  });
}

// A main nginx configuration for running it in the foreground as the current user with every
// file under `dir` (pid, logs, temp paths), around `httpLines` (the content of its http block).
export function nginxMainConfig(dir, httpLines, { workerConnections = 64 } = {}) {
  const tmp = path.join(dir, 'tmp');
  return [
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    // As root nginx would switch its workers to "nobody", who cannot enter the 0700 temp dir.
    ...(process.getuid() === 0 ? [`user ${os.userInfo().username};`] : []),
    `pid ${path.join(dir, 'nginx.pid')};`,
    `error_log ${path.join(dir, 'error.log')} info;`,
    `events { worker_connections ${workerConnections}; }`,
    'http {',
    `  access_log ${path.join(dir, 'access.log')};`,
    `  client_body_temp_path ${tmp}/body;`,
    `  proxy_temp_path ${tmp}/proxy;`,
    `  fastcgi_temp_path ${tmp}/fastcgi;`,
    `  uwsgi_temp_path ${tmp}/uwsgi;`,
    `  scgi_temp_path ${tmp}/scgi;`,
    ...httpLines,
    '}',
    '',
  ].join('\n');
}

// Spawns `bin args` with its output collected: {child, exited (a promise of {code, signal}),
// running(), exit() (null while running), output()}. `options` go to spawn (uid, gid, env).
export function launch(bin, args, options = {}) {
  const child = spawn(bin, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  let exit = null;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    exit = { code, signal };
    resolve(exit);
  }));
  return { child, exited, running: () => exit === null, exit: () => exit, output: () => out };
}

// Starts a proxy listening on two free ports (`http`, `https`, added to `sitePorts`), trying
// again when another process takes a port first. `prepare(ports)` writes its configuration and
// returns its arguments; `log()` is what it logged, for the error when it does not start.
// Resolves with {child, exited, ports, running()} once both ports accept connections.
export async function launchOnFreePorts(bin, sitePorts, prepare, { env, log = () => '' } = {}) {
  let lastError = '';
  for (let attempt = 0; attempt < 5; ++attempt) {
    const ports = { ...sitePorts, http: await freePort(), https: await freePort() };
    const proc = launch(bin, prepare(ports), env ? { env } : {});
    const deadline = Date.now() + 20000;
    while (proc.running() && Date.now() < deadline) {
      if (await canConnect(ports.https) && await canConnect(ports.http)) {
        return { child: proc.child, exited: proc.exited, ports, running: proc.running };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (proc.running()) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    lastError = `${path.basename(bin)} did not start (${JSON.stringify(proc.exit())}): ${proc.output()}\n${log()}`;
    if (!/address already in use/i.test(lastError)) break;
  }
  throw new Error(lastError);
}

// Stops what launchOnFreePorts started with `signal` (its graceful stop), SIGKILL after 10 s.
export async function stopLaunched(proc, signal) {
  if (!proc || !proc.running()) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10000);
  await proc.exited;
  clearTimeout(timer);
}
