-- POST /refresh with real rotation: every request presents an unused refresh token and gets its successor.
-- WRK_TOKENS_FILE holds one refresh token per line (one session each, at least connections + 1: wrk builds one
-- request per thread before any connection sends, and that token is never presented); a token is
-- taken from the queue for each request and the successor from the answer goes back in, so no token is presented
-- twice (a replay would be answered from the grace window without rotating, and measure less work).
local report = dofile(os.getenv("WRK_LUA_DIR") .. "/report.lua")
local queue = {}
local first, last = 1, 0  -- explicit ends: `#queue` is unreliable once the front has been set to nil

local function push(token)
  last = last + 1
  queue[last] = token
end

function init(args)
  for line in io.lines(os.getenv("WRK_TOKENS_FILE")) do
    if #line > 0 then push(line) end
  end
end

function request()
  local token = queue[first] or "exhausted"
  queue[first] = nil
  first = first + 1
  return wrk.format("POST", "/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and successor then push(successor) end
end

function done(summary, latency, requests) report(summary, latency) end
