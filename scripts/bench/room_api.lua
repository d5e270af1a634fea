-- wrk script: each request is one client of the benchmark population (users.lua), chosen in
-- turn, calling API (pusher_heartbeat or get_pushers) for its room. Answers whose code is not
-- 0 are counted and reported, so a broken run cannot pass for a fast one.
local api = os.getenv("API") or "pusher_heartbeat"
local users = dofile(os.getenv("USERS_LUA"))
local next_user = 0
local bad = 0

request = function()
  next_user = next_user % #users + 1
  local u = users[next_user]
  local body
  if api == "pusher_heartbeat" then
    body = '{"roomID":"' .. u[3] .. '","userID":"' .. u[1] .. '"}'
  else
    body = '{"roomID":"' .. u[3] .. '"}'
  end
  return wrk.format("POST", "/weapp/multi_room/" .. api .. "?userID=" .. u[1] .. "&token=" .. u[2],
    { ["Content-Type"] = "application/json" }, body)
end

response = function(status, headers, body)
  if status ~= 200 or not body:find('"code":0', 1, true) then
    bad = bad + 1
  end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT api=%s rps=%.0f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d bad_codes=%d\n",
    api, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout, bad))
end
