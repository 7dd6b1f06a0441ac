// examples/orders-service for the integration tests (orders.test.mjs, orders_revocation.test.mjs):
// started on a free port, and asked for GET /orders with a bearer token.
import { spawn } from 'node:child_process';

export const ORDERS_BIN = process.env.ORDERS_BIN;

// Starts orders-service for `issuer` with `args`; resolves once it prints its URL, rejects when it
// exits first (with its output).
export async function startOrders(issuer, args = [], env = {}) {
  const child = spawn(ORDERS_BIN, ['--listen', '127.0.0.1:0', '--issuer', issuer, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL from orders-service: ${out}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.stderr.on('data', (d) => { out += d; });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`orders-service exited ${code}: ${out}`));
    });
  });
  return { url, child, exited, output: () => out };
}

export const bearer = (at) => ({ authorization: `Bearer ${at}` });
export const getOrders = (svc, headers = {}) => fetch(`${svc.url}/orders`, { headers });

export async function ordersStatus(svc, at) {
  const res = await getOrders(svc, bearer(at));
  await res.arrayBuffer();
  return res.status;
}
