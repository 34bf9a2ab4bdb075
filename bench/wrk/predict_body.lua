-- wrk script: POST /<app>/predict with one large numeric input per request, as a JSON body
-- {"input":[...]} or as a binary body (Content-Type application/octet-stream: the elements'
-- little-endian bytes, the app's element type), each request's input unique (nothing can come from
-- the prediction cache) and built at the same small cost in both modes: count - 1 random values are
-- fixed per wrk thread and run, and the first element is a per-request counter seeded from
-- /dev/urandom (see predict_random.lua for why LuaJIT's own seed is not enough).
-- usage: wrk -t1 -c8 -d5s -s bench/wrk/predict_body.lua http://127.0.0.1:1337/big/predict -- json|binary [COUNT] [doubles|floats]
-- Prints the same summary lines as predict_random.lua (p50/p99, defaults) for bench/wrk_runner.ts,
-- and "body bytes N" (the size of one request body).
local ffi = require("ffi")

wrk.method = "POST"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local mode = "json"
local prefix = ""
local suffix = ""
local first = nil
counter = 0
defaults = 0
bodyBytes = 0

local function seed_from_urandom()
  local f = io.open("/dev/urandom", "rb")
  local b1, b2, b3, b4 = f:read(4):byte(1, 4)
  f:close()
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

function init(args)
  mode = args[1] or "json"
  local count = tonumber(args[2] or "12288")
  local elementType = args[3] or "doubles"
  if mode ~= "json" and mode ~= "binary" then error("mode must be json or binary (got " .. tostring(mode) .. ")") end
  if count == nil or count < 1 then error("COUNT must be a positive number of elements") end
  local ctype = ({ doubles = "double", floats = "float" })[elementType]
  if ctype == nil then error("element type must be doubles or floats (got " .. tostring(elementType) .. ")") end
  local seed = seed_from_urandom()
  math.randomseed(seed)
  counter = seed
  if mode == "json" then
    wrk.headers["Content-Type"] = "application/json"
    local rest = {}
    for i = 1, count - 1 do rest[i] = string.format("%.17g", math.random()) end
    prefix = '{"input":['
    suffix = (count > 1 and "," or "") .. table.concat(rest, ",") .. "]}"
    bodyBytes = #prefix + #string.format("%d", counter) + #suffix
  else
    wrk.headers["Content-Type"] = "application/octet-stream"
    local rest = ffi.new(ctype .. "[?]", math.max(count - 1, 1))
    for i = 0, count - 2 do rest[i] = math.random() end
    first = ffi.new(ctype .. "[1]")
    suffix = ffi.string(rest, (count - 1) * ffi.sizeof(ctype))
    bodyBytes = ffi.sizeof(ctype) + #suffix
  end
end

function request()
  counter = counter + 1
  if mode == "binary" then
    -- A float's 24-bit mantissa would repeat the counter every 2^24 requests: fold it into [0, 1).
    first[0] = (counter % 16777216) / 16777216
    return wrk.format(nil, nil, nil, ffi.string(first, ffi.sizeof(first)) .. suffix)
  end
  return wrk.format(nil, nil, nil, prefix .. string.format("%d", counter) .. suffix)
end

function response(status, headers, body)
  if string.find(body, '"default":true', 1, true) then defaults = defaults + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("defaults") end
  io.write(string.format("p50 %.0f us, p99 %.0f us, max %.0f us\n", latency:percentile(50), latency:percentile(99), latency.max))
  io.write(string.format("defaults %d\n", total))
  io.write(string.format("body bytes %d\n", threads[1]:get("bodyBytes")))
end
