-- POST /notes: one durable insert per request.
local report = dofile(os.getenv("WRK_LUA_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"benchmark note","body":"written by wrk"}'
function done(summary, latency, requests) report(summary, latency) end
