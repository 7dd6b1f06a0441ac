# Shell helpers of the HTTP benchmark scripts (bench/cluster/run, bench/verifier/run). Source it
# after setting NAME (the prefix of messages); it sets `tmp` (removed on exit) and `pids` (every
# process started, stopped on exit, failure included).
say() { echo "$NAME: $*"; }
die() { echo "$NAME: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-$(basename "$NAME").XXXXXX")
pids=()
cleanup() {
  local rc=$? p
  if [ "$rc" != 0 ]; then echo "$NAME: failed (exit $rc)" >&2; fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until LOG (of process PID) shows "listening on http://...", then prints that URL.
wait_url() {
  local pid=$1 log=$2 url
  for _ in $(seq 300); do
    url=$(grep -o 'listening on http://[^ ]*' "$log" | head -1 | cut -d' ' -f3 || true)
    if [ -n "$url" ]; then echo "$url"; return; fi
    kill -0 "$pid" 2>/dev/null || die "server exited: $(cat "$log")"
    sleep 0.1
  done
  die "no URL after 30 s: $(cat "$log")"
}

# Starts redis-server on a free port as docs/design.md "Redis" asks for it (appendonly yes,
# appendfsync always, noeviction); sets redis_port and redis_pid.
start_redis() {
  redis_port=$(free_port)
  mkdir -p "$tmp/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis" --save '' \
    --appendonly yes --appendfsync always --maxmemory-policy noeviction >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited: $(cat "$tmp/redis.log")"
    sleep 0.1
  done
  die "redis-server did not answer PING"
}
