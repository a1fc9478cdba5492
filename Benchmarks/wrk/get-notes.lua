-- GET /notes with a bearer token (WRK_TOKEN): the notes service's hot path, a real SQLite read per request; run.py sends
-- the same request with the same token to the peers of Benchmarks/peers/ (which answer from memory).
local report = dofile(os.getenv("WRK_LUA_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
function done(summary, latency, requests) report(summary, latency) end
