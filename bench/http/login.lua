-- wrk -s bench/http/login.lua URL: every request is a password sign-in, POST with a JSON body.
-- The same script drives tessera's /v1/login and the Node peer's; BENCH_USER and BENCH_PASSWORD
-- name the account (default alice / "correct horse battery"). wrk keeps no cookies, so each
-- request is a fresh sign-in that creates a new session.
local user = os.getenv("BENCH_USER") or "alice"
local password = os.getenv("BENCH_PASSWORD") or "correct horse battery"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}', user, password)
