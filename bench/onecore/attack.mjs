// Attack traffic for bench/onecore/run: failed sign-ins at a fixed rate, spread over several
// client addresses (X-Forwarded-For, which tessera believes from its trusted proxy 127.0.0.1) and
// several account names (one that exists, the others not), every password wrong.
//
//   node bench/onecore/attack.mjs BASE_URL RATE SECONDS [EXISTING_USER]
//
// Sends RATE requests a second for SECONDS, in batches every 10 ms, over at most 64 kept-alive
// connections, whatever the answers (a throttled 429 is still traffic the server must turn away),
// then prints one JSON line: {"sent", "seconds", "rate", "statuses": {"401": n, "429": n, ...},
// "errors"}.
import http from 'node:http';

const [base, rateArg, secondsArg, existing = 'alice'] = process.argv.slice(2);
if (!base || !rateArg || !secondsArg) {
  console.error('usage: node bench/onecore/attack.mjs BASE_URL RATE SECONDS [EXISTING_USER]');
  process.exit(2);
}
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const url = new URL('/v1/login', base);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const addresses = Array.from({ length: 16 }, (_, i) => `198.51.100.${i + 1}`);
const names = [existing, 'mallory', 'root', 'admin', 'test', 'guest', 'oracle', 'postgres'];

const statuses = {};
let sent = 0;
let errors = 0;
let answered = 0;

function one(i) {
  const body = JSON.stringify({ username: names[i % names.length], password: `wrong-${i}` });
  const req = http.request(url, {
    method: 'POST',
    agent,
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-forwarded-for': addresses[i % addresses.length],
    },
  }, (res) => {
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    res.resume();
    res.on('end', () => { answered += 1; });
  });
  req.on('error', () => { errors += 1; answered += 1; });
  req.end(body);
  sent += 1;
}

const started = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
const timer = setInterval(() => {
  const t = elapsed();
  if (t >= seconds) {
    clearInterval(timer);
    return;
  }
  // Catch up to where the schedule says we should be, so a late tick does not lower the rate.
  const due = Math.floor(t * rate);
  while (sent < due) one(sent);
}, 10);

// Waits for the last answers (at most 5 s), then reports.
const done = setInterval(() => {
  if (elapsed() < seconds) return;
  if (answered < sent && elapsed() < seconds + 5) return;
  clearInterval(done);
  agent.destroy();
  console.log(JSON.stringify({ sent, seconds: Number(elapsed().toFixed(2)),
                               rate: Number((sent / seconds).toFixed(1)), statuses, errors }));
}, 50);
