// bench/postgres/cold.mjs: two steps of bench/postgres/run.
//   node cold.mjs login URL PASSWORD N OUT   signs in user0..user(N-1) once each at URL and writes
//                                            their session cookies to OUT (JSON)
//   node cold.mjs me URL COOKIES             GET /v1/me once with each cookie, one after the other,
//                                            on a server that has just started (its session and
//                                            account caches are empty, so every request reads
//                                            the stores); prints {n, p50_ms, p99_ms, max_ms}
import fs from 'node:fs';

const [mode, url, ...rest] = process.argv.slice(2);
const COOKIE = '__Host-tessera_session';

if (mode === 'login') {
  const [password, n, out] = rest;
  const cookies = [];
  for (let i = 0; i < Number(n); ++i) {
    const r = await fetch(`${url}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: `user${i}`, password }),
    });
    if (r.status !== 200) throw new Error(`login user${i}: ${r.status} ${await r.text()}`);
    const set = r.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`));
    cookies.push(set.split(';')[0]);
  }
  fs.writeFileSync(out, JSON.stringify(cookies));
} else if (mode === 'me') {
  const cookies = JSON.parse(fs.readFileSync(rest[0], 'utf8'));
  const ms = [];
  for (const cookie of cookies) {
    const start = process.hrtime.bigint();
    const r = await fetch(`${url}/v1/me`, { headers: { cookie } });
    await r.arrayBuffer();
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (r.status !== 200) throw new Error(`/v1/me: ${r.status}`);
  }
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  console.log(JSON.stringify({ n: ms.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: ms[ms.length - 1] }));
} else {
  throw new Error('usage: cold.mjs login URL PASSWORD N OUT | me URL COOKIES');
}
