-- POST /login with correct passwords: one password hash per request. The accounts WRK_USERNAME-0 … -(WRK_ACCOUNTS-1)
-- take turns, so that no account has more logins in flight than its free failures (attempts are counted before the
-- hash; see docs/decisions.md "Throttling").
local report = dofile(os.getenv("WRK_LUA_DIR") .. "/report.lua")
local accounts = tonumber(os.getenv("WRK_ACCOUNTS"))
local counter = 0

function request()
  counter = counter + 1
  local body = string.format('{"username":"%s-%d","password":"%s"}', os.getenv("WRK_USERNAME"), counter % accounts, os.getenv("WRK_PASSWORD"))
  return wrk.format("POST", "/login", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests) report(summary, latency) end
