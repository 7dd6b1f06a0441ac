// The Node stacks users would otherwise pick, answering the same routes as tessera's benchmark:
// express + express-session (its default MemoryStore) + @node-rs/argon2 for cookie sessions, and
// express + jsonwebtoken for bearer tokens.
//   node bench/peers/server.mjs [PORT]     (PORT 0 or absent: a free port)
// Prints "listening on http://127.0.0.1:PORT". Routes:
//   POST /v1/login  JSON {"username","password"}: Argon2id verify against a hash made at start-up
//                   with tessera's default cost (m=19456 KiB, t=2, p=1); on success a new session
//                   (regenerate, like tessera's fixation defence) holding the user; 401 otherwise.
//   GET  /v1/auth   200 with X-Auth-User / X-Auth-Subject / X-Auth-Roles when the session has a
//                   user, 401 otherwise (a forward-auth check).
//   POST /v1/login-jwt/hs256, /v1/login-jwt/es256   JSON {"username","password"}: the same Argon2id
//                   check, then an access token signed with jsonwebtoken (HS256 with a 32-byte
//                   random secret, or ES256 with a P-256 key made at start-up): 200
//                   {"access_token","token_type":"Bearer","expires_in"}; 401 otherwise.
//   GET  /v1/auth-jwt/hs256, /v1/auth-jwt/es256     `Authorization: Bearer TOKEN` checked with
//                   jwt.verify (algorithm pinned, issuer and audience required, exp): 200 with the
//                   X-Auth-* headers from the claims, 401 otherwise. No cache: every request
//                   verifies the signature, as the jsonwebtoken README shows it.
// The user and password come from BENCH_USER / BENCH_PASSWORD (default alice / "correct horse
// battery"). The cookie is not Secure: the benchmark runs over plain HTTP on loopback.
// BENCH_REDIS_URL (e.g. redis://127.0.0.1:6379/0): sessions in Redis through connect-redis and
// the node-redis client (what an express deployment of several instances uses) instead of the
// MemoryStore.
import crypto from 'node:crypto';
import express from 'express';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import jwt from 'jsonwebtoken';
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
// Only the cookie routes load sessions: the bearer routes below pay nothing for them.
let store;
if (process.env.BENCH_REDIS_URL) {
  const client = createClient({ url: process.env.BENCH_REDIS_URL });
  await client.connect();
  store = new RedisStore({ client, prefix: 'sess:' });
}
const sessions = session({
  store,
  name: 'sid',
  secret: crypto.randomBytes(32).toString('hex'),
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 14 * 24 * 3600 * 1000 },
});

// Unknown user and wrong password do the same work, as in tessera.
async function checkPassword(body) {
  const { username, password } = body ?? {};
  if (typeof username !== 'string' || typeof password !== 'string') return 400;
  const ok = await verify(stored.hash, password, ARGON2).catch(() => false);
  return ok && username.toLowerCase() === stored.username ? 200 : 401;
}

function refuse(res, status) {
  const error = status === 400 ? 'invalid_request' : 'invalid_credentials';
  return res.status(status).json({ error });
}

app.post('/v1/login', sessions, express.json({ limit: '64kb' }), async (req, res, next) => {
  const status = await checkPassword(req.body);
  if (status !== 200) return refuse(res, status);
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = { username: stored.username, sub: stored.sub, roles: stored.roles };
    res.set('Cache-Control', 'no-store');
    res.json({ user: req.session.user, session: { id: req.sessionID.slice(0, 8) } });
  });
});

app.get('/v1/auth', sessions, (req, res) => {
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

// Bearer tokens with jsonwebtoken. Keys are KeyObjects made once at start-up (jsonwebtoken would
// otherwise parse a PEM string or wrap a secret on every call). Claims as in tessera's access
// tokens: sub, sid, jti, preferred_username, roles, iat, exp, iss, aud, and typ at+jwt.
const ISSUER = 'http://127.0.0.1';
const AUDIENCE = 'tessera-bench';
const ACCESS_TTL = 15 * 60;
const ecKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const hmacKey = crypto.createSecretKey(crypto.randomBytes(32));
const jwtAlgs = {
  hs256: { algorithm: 'HS256', signKey: hmacKey, verifyKey: hmacKey },
  es256: { algorithm: 'ES256', signKey: ecKeys.privateKey, verifyKey: ecKeys.publicKey },
};

function requireBearer({ algorithm, verifyKey }) {
  const options = { algorithms: [algorithm], issuer: ISSUER, audience: AUDIENCE };
  return (req, res, next) => {
    const [scheme, token] = (req.get('authorization') ?? '').split(' ');
    if (scheme !== 'Bearer' || !token) {
      return res.status(401).set('WWW-Authenticate', 'Bearer').end();
    }
    try {
      req.user = jwt.verify(token, verifyKey, options);
    } catch {
      return res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').end();
    }
    next();
  };
}

for (const [name, key] of Object.entries(jwtAlgs)) {
  app.post(`/v1/login-jwt/${name}`, express.json({ limit: '64kb' }), async (req, res) => {
    const status = await checkPassword(req.body);
    if (status !== 200) return refuse(res, status);
    const claims = { preferred_username: stored.username, roles: stored.roles,
                     sid: crypto.randomBytes(16).toString('hex') };
    const accessToken = jwt.sign(claims, key.signKey, {
      algorithm: key.algorithm, expiresIn: ACCESS_TTL, issuer: ISSUER, audience: AUDIENCE,
      subject: stored.sub, jwtid: crypto.randomBytes(16).toString('base64url'),
      keyid: name, header: { typ: 'at+jwt' },
    });
    res.set('Cache-Control', 'no-store');
    res.json({ access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TTL });
  });

  app.get(`/v1/auth-jwt/${name}`, requireBearer(key), (req, res) => {
    res.set({
      'X-Auth-User': req.user.preferred_username,
      'X-Auth-Subject': req.user.sub,
      'X-Auth-Roles': req.user.roles.join(','),
      'Cache-Control': 'no-store',
    });
    res.status(200).end();
  });
}

const server = app.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
