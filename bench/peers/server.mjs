// The Node stack users would otherwise pick for cookie sessions, answering the same two routes as
// tessera's benchmark: express + express-session (its default MemoryStore) + @node-rs/argon2.
//   node bench/peers/server.mjs [PORT]     (PORT 0 or absent: a free port)
// Prints "listening on http://127.0.0.1:PORT". Routes:
//   POST /v1/login  JSON {"username","password"}: Argon2id verify against a hash made at start-up
//                   with tessera's default cost (m=19456 KiB, t=2, p=1); on success a new session
//                   (regenerate, like tessera's fixation defence) holding the user; 401 otherwise.
//   GET  /v1/auth   200 with X-Auth-User / X-Auth-Subject / X-Auth-Roles when the session has a
//                   user, 401 otherwise (a forward-auth check).
// The user and password come from BENCH_USER / BENCH_PASSWORD (default alice / "correct horse
// battery"). The cookie is not Secure: the benchmark runs over plain HTTP on loopback.
import crypto from 'node:crypto';
import express from 'express';
import session from 'express-session';
import { hash, verify, Algorithm } from '@node-rs/argon2';

const USER = process.env.BENCH_USER ?? 'alice';
const PASSWORD = process.env.BENCH_PASSWORD ?? 'correct horse battery';
const ARGON2 = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };

const stored = {
  username: USER,
  sub: crypto.randomBytes(16).toString('base64url'),
  roles: [],
  hash: await hash(PASSWORD, ARGON2),
};

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(session({
  name: 'sid',
  secret: crypto.randomBytes(32).toString('hex'),
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 14 * 24 * 3600 * 1000 },
}));

app.post('/v1/login', express.json({ limit: '64kb' }), async (req, res, next) => {
  const { username, password } = req.body ?? {};
  if (typeof username !== 'string' || typeof password !== 'string') {
    return res.status(400).json({ error: 'invalid_request' });
  }
  // Unknown user and wrong password do the same work, as in tessera.
  const ok = await verify(stored.hash, password, ARGON2).catch(() => false);
  if (!ok || username.toLowerCase() !== stored.username) {
    return res.status(401).json({ error: 'invalid_credentials' });
  }
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = { username: stored.username, sub: stored.sub, roles: stored.roles };
    res.set('Cache-Control', 'no-store');
    res.json({ user: req.session.user, session: { id: req.sessionID.slice(0, 8) } });
  });
});

app.get('/v1/auth', (req, res) => {
  const user = req.session.user;
  if (!user) return res.status(401).end();
  res.set({
    'X-Auth-User': user.username,
    'X-Auth-Subject': user.sub,
    'X-Auth-Roles': user.roles.join(','),
    'Cache-Control': 'no-store',
  });
  res.status(200).end();
});

const server = app.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
