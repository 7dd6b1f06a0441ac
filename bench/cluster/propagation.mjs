// Revocation propagation between instances (issue 13): how long after a logout is answered on one
// instance another instance refuses the session. One trial: sign in on A, check the cookie on C
// (200: now cached there), log out on A; the clock starts when A's answer arrives and stops at
// C's first 401, C being asked back to back. Prints one JSON object:
//   {"trials", "p50_ms", "p99_ms", "max_ms", "mean_ms", "checks_per_trial"}
//   node bench/cluster/propagation.mjs A_URL C_URL USER PASSWORD [TRIALS]
// Any answer from C other than 200 before the logout or 200/401 after it fails the run.
import http from 'node:http';

import { runTrials } from '../trials.mjs';

const [A, C, USER, PASSWORD, TRIALS = '1000'] = process.argv.slice(2);
const trials = Number(TRIALS);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const COOKIE = '__Host-tessera_session';

function request(base, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers, agent }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function trial() {
  const login = await request(A, 'POST', '/v1/login', { 'content-type': 'application/json' },
    JSON.stringify({ username: USER, password: PASSWORD }));
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`);
  const set = [].concat(login.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${COOKIE}=`));
  const cookie = set.split(';')[0];
  const csrf = JSON.parse(login.body).csrf_token;
  const warm = await request(C, 'GET', '/v1/auth', { cookie });
  if (warm.status !== 200) throw new Error(`C before the logout: ${warm.status}`);
  const out = await request(A, 'POST', '/v1/logout', { cookie, 'x-csrf-token': csrf, origin: A });
  if (out.status !== 204) throw new Error(`logout: ${out.status} ${out.body}`);
  const t0 = process.hrtime.bigint();
  for (let checks = 1; ; ++checks) {
    const r = await request(C, 'GET', '/v1/auth', { cookie });
    if (r.status === 401) return { ms: Number(process.hrtime.bigint() - t0) / 1e6, checks };
    if (r.status !== 200) throw new Error(`C after the logout: ${r.status}`);
    if (Number(process.hrtime.bigint() - t0) > 10e9) throw new Error('C still says 200 after 10 s');
  }
}

console.log(JSON.stringify(await runTrials(trial, trials)));
agent.destroy();
