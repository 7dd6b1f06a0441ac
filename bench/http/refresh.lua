-- wrk -s bench/http/refresh.lua -tN -cN URL/v1/token: refresh-token rotation, one chain per
-- connection. Every request is POST grant_type=refresh_token with the refresh token that the
-- previous response of the same chain returned, so no token is ever presented twice (a reused
-- one would be taken for theft and end the session). A chain needs the state of one connection,
-- and wrk's Lua state is per thread: run it with as many threads as connections (-tN -cN), so
-- that each thread has one connection and its requests and responses strictly alternate.
-- BENCH_REFRESH_TOKENS names a file of at least N refresh tokens, one a line, each from its own
-- login (its own session); thread i starts from line i. done() prints "chains broken: B of N"
-- (a chain breaks at its first non-200 answer: it has no valid token after that, and its
-- further requests are refused and counted by wrk as non-2xx).
local threads = {}
local tokens = {}

function setup(thread)
  if #tokens == 0 then
    local path = assert(os.getenv("BENCH_REFRESH_TOKENS"), "BENCH_REFRESH_TOKENS is not set")
    for line in io.lines(path) do
      if line ~= "" then tokens[#tokens + 1] = line end
    end
  end
  local i = #threads + 1
  assert(tokens[i], "fewer refresh tokens than threads in " .. os.getenv("BENCH_REFRESH_TOKENS"))
  thread:set("rt", tokens[i])
  thread:set("broken", 0)
  threads[i] = thread
end

local function form_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  -- wrk also calls this once in its main state to check the script; rt is nil there.
  return wrk.format("POST", nil, headers,
                    "grant_type=refresh_token&refresh_token=" .. form_escape(rt or "unset"))
end

function response(status, _, body)
  if status == 200 then
    local next_rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if next_rt then
      rt = next_rt
      return
    end
  end
  if not failed then
    failed = true
    broken = 1
    io.stderr:write(string.format("refresh.lua: chain broken: HTTP %d %s\n", status,
                                  body:sub(1, 200)))
  end
end

function done()
  local n = 0
  for _, thread in ipairs(threads) do n = n + (tonumber(thread:get("broken")) or 0) end
  io.write(string.format("chains broken: %d of %d\n", n, #threads))
end
