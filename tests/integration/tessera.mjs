// Shared by the integration tests: run the tessera CLI, and start `tessera serve` on a free port.
import { spawn, spawnSync } from 'node:child_process';

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
export async function startServer(dataDir, env = {}, { args = [] } = {}) {
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, ...args], {
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
