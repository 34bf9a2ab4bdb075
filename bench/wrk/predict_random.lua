-- wrk script: POST /<app>/predict with a unique random input per request (nothing can be cached),
-- counting answers that carry the default output. Each run (and each wrk thread) seeds its inputs
-- from /dev/urandom: LuaJIT's math.random starts from the same seed every run, so without this a
-- measured run would repeat its warm-up's inputs and be answered from the prediction cache.
-- usage: wrk -t1 -c64 -d10s -s bench/wrk/predict_random.lua http://127.0.0.1:1337/hello-world/predict
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

counter = 0
defaults = 0

function init(args)
  local f = io.open("/dev/urandom", "rb")
  local b1, b2, b3, b4 = f:read(4):byte(1, 4)
  f:close()
  local seed = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  math.randomseed(seed)
  counter = seed
end

function request()
  counter = counter + 1
  local body = string.format('{"input":[%d.%d,%f,%f]}', counter, math.random(0, 999), math.random(), math.random())
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if string.find(body, '"default":true', 1, true) then defaults = defaults + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("defaults") end
  io.write(string.format("p50 %.0f us, p99 %.0f us, max %.0f us\n", latency:percentile(50), latency:percentile(99), latency.max))
  io.write(string.format("defaults %d\n", total))
end
