-- wrk script: POST /<app>/predict with a unique random input per request (nothing can be cached).
-- usage: wrk -t1 -c64 -d10s -s bench/wrk/predict_random.lua http://127.0.0.1:1337/hello-world/predict
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"input":[%d.%d,%f,%f]}', counter, math.random(0, 999), math.random(), math.random())
  return wrk.format(nil, nil, nil, body)
end
local defaults = 0
response = function(status, headers, body)
  if string.find(body, '"default":true', 1, true) then defaults = defaults + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("p50 %.0f us, p99 %.0f us, max %.0f us\n", latency:percentile(50), latency:percentile(99), latency.max))
end
