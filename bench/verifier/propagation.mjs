// Revocation propagation to a service that verifies tokens itself (issue 15): how long after a
// logout is answered by tessera the service (examples/orders-service, subscribed to tessera's
// GET /v1/revocations through token::Verifier) refuses the access token. One trial: a token
// sign-in on tessera, GET /orders at the service (200), logout on tessera; the clock starts when
// tessera's answer arrives and stops at the service's first 401, the service being asked back to
// back. Prints one JSON object:
//   {"trials", "p50_ms", "p99_ms", "max_ms", "mean_ms", "checks_per_trial"}
//   node bench/verifier/propagation.mjs TESSERA_URL SERVICE_URL USER PASSWORD [TRIALS]
// Any answer from the service other than 200 before the logout, or 200/401 after it, fails the run.
import http from 'node:http';

import { runTrials } from '../trials.mjs';

const [TESSERA, SERVICE, USER, PASSWORD, TRIALS = '1000'] = process.argv.slice(2);
const trials = Number(TRIALS);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function request(base, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers, agent }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function trial() {
  const login = await request(TESSERA, 'POST', '/v1/login', { 'content-type': 'application/json' },
    JSON.stringify({ username: USER, password: PASSWORD, mode: 'token' }));
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`);
  const auth = { authorization: `Bearer ${JSON.parse(login.body).access_token}` };
  const warm = await request(SERVICE, 'GET', '/orders', auth);
  if (warm.status !== 200) throw new Error(`the service before the logout: ${warm.status} ${warm.body}`);
  const out = await request(TESSERA, 'POST', '/v1/logout', auth);
  if (out.status !== 204) throw new Error(`logout: ${out.status} ${out.body}`);
  const t0 = process.hrtime.bigint();
  for (let checks = 1; ; ++checks) {
    const r = await request(SERVICE, 'GET', '/orders', auth);
    if (r.status === 401) return { ms: Number(process.hrtime.bigint() - t0) / 1e6, checks };
    if (r.status !== 200) throw new Error(`the service after the logout: ${r.status} ${r.body}`);
    if (Number(process.hrtime.bigint() - t0) > 10e9) throw new Error('the service still says 200 after 10 s');
  }
}

console.log(JSON.stringify(await runTrials(trial, trials)));
agent.destroy();
