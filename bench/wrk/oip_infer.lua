-- wrk script: one 100-element FP64 query per request, in one of three encodings, each request's input
-- unique (nothing can come from the prediction cache) and built at the same small cost in every mode:
-- 99 random values are fixed per wrk thread and run, and the first element is a per-request counter
-- seeded from /dev/urandom (see predict_random.lua for why LuaJIT's own seed is not enough).
--   clipper  POST /<app>/predict        {"input":[100 doubles]}
--   json     POST /v2/models/<m>/infer  {"inputs":[{"name":"input0","shape":[1,100],"datatype":"FP64","data":[...]}]}
--   binary   POST /v2/models/<m>/infer  JSON header + 800 bytes of little-endian doubles
--            (Inference-Header-Content-Length), the output asked for as binary too
-- usage: wrk -t1 -c64 -d5s -s bench/wrk/oip_infer.lua http://127.0.0.1:1337/v2/models/noop-model/infer -- binary
-- Prints the same summary lines as predict_random.lua (p50/p99, defaults) for bench/wrk_runner.ts.
local ffi = require("ffi")

wrk.method = "POST"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local mode = "json"
local prefix = ""
local suffix = ""
local first = ffi.new("double[1]")
counter = 0
defaults = 0

local function seed_from_urandom()
  local f = io.open("/dev/urandom", "rb")
  local b1, b2, b3, b4 = f:read(4):byte(1, 4)
  f:close()
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

function init(args)
  mode = args[1] or "json"
  local seed = seed_from_urandom()
  math.randomseed(seed)
  counter = seed
  local rest = {}
  local restBinary = ffi.new("double[99]")
  for i = 1, 99 do
    local v = math.random()
    rest[i] = string.format("%.17g", v)
    restBinary[i - 1] = v
  end
  local restText = table.concat(rest, ",")
  if mode == "clipper" then
    wrk.headers["Content-Type"] = "application/json"
    prefix = '{"input":['
    suffix = "," .. restText .. "]}"
  elseif mode == "json" then
    wrk.headers["Content-Type"] = "application/json"
    prefix = '{"inputs":[{"name":"input0","shape":[1,100],"datatype":"FP64","data":['
    suffix = "," .. restText .. "]}]}"
  elseif mode == "binary" then
    prefix = '{"inputs":[{"name":"input0","shape":[1,100],"datatype":"FP64","parameters":{"binary_data_size":800}}],'
      .. '"parameters":{"binary_data_output":true}}'
    suffix = ffi.string(restBinary, 99 * 8)
    wrk.headers["Content-Type"] = "application/octet-stream"
    wrk.headers["Inference-Header-Content-Length"] = tostring(#prefix)
  else
    error("mode must be clipper, json or binary (got " .. tostring(mode) .. ")")
  end
end

function request()
  counter = counter + 1
  if mode == "binary" then
    first[0] = counter
    return wrk.format(nil, nil, nil, prefix .. ffi.string(first, 8) .. suffix)
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
end
