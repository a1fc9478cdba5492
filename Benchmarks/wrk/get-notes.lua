-- GET /notes with a bearer token (WRK_TOKEN): the notes service's hot path, a real SQLite read per request.
local report = dofile(os.getenv("WRK_LUA_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
function done(summary, latency, requests) report(summary, latency) end
