-- wrk script of bench/side_by_side.py: POST one GraphQL request over and over, check every
-- answer, and record when each answer came (CLOCK_MONOTONIC seconds, the clock of Python's
-- time.monotonic()) and how long it took. The script picks the measured window afterwards.
--
-- Run with one connection per thread (wrk -t N -c N): each thread then has at most one
-- request in flight, so request() and response() pair up and give each request's latency.
-- Connection i of N sends its first request (i - 1) / N * BENCH_STAGGER_MS after the start:
-- started all at once, N requests to a server that interleaves them would all finish at
-- about the same time, and keep doing so, which makes a short window count one batch more
-- or less. The first answer of each connection is recorded without a latency (it did not
-- queue behind the others as later ones do), and creates the file BENCH_MARKS/<i>, so the
-- script sees when every connection has been answered once.
--
-- Environment: BENCH_BODY (file with the request body), BENCH_HEADERS (file, one
-- "Name: value" per line), BENCH_CONNECTIONS, BENCH_STAGGER_MS, BENCH_MARKS (a folder),
-- BENCH_OUT (JSON written by done()).
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("BENCH_BODY"))
for line in io.lines(os.getenv("BENCH_HEADERS")) do
  local name, value = line:match("^([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end
local connections = tonumber(os.getenv("BENCH_CONNECTIONS"))
local stagger = tonumber(os.getenv("BENCH_STAGGER_MS"))
local marks = os.getenv("BENCH_MARKS")
local request_bytes = nil

-- Called by wrk.init() in each thread, after it has set the Host header.
function init(args)
  request_bytes = wrk.format()
end

-- Per thread (each thread has its own Lua state; done() collects them).
ok_at = {}   -- when each good answer came
ok_took = {} -- its latency, or -1 for the connection's first answer
bad_at = {}  -- when each bad answer came
local sent_at = nil
local answers = 0

local threads = {}
function setup(thread)
  thread:set("index", #threads + 1)
  thread:set("first_delay_ms", math.floor(#threads * stagger / connections))
  table.insert(threads, thread)
end

local delayed = false
function delay()
  if delayed then
    return 0
  end
  delayed = true
  return first_delay_ms
end

function request()
  sent_at = now()
  return request_bytes
end

function response(status, headers, body)
  local t = now()
  answers = answers + 1
  -- A GraphQL answer with "errors", or without "data", is a failure even with status 200.
  local good = status == 200 and body:find('"data"', 1, true) ~= nil
    and body:find('"errors"', 1, true) == nil
  if good then
    ok_at[#ok_at + 1] = t
    ok_took[#ok_took + 1] = answers > 1 and t - sent_at or -1
  else
    bad_at[#bad_at + 1] = t
  end
  if answers == 1 then
    local mark = assert(io.open(marks .. "/" .. index, "w"))
    mark:close()
  end
end

local function numbers(values, into)
  for _, v in ipairs(values) do
    into[#into + 1] = string.format("%.6f", v)
  end
end

function done(summary, latency, requests)
  local at, took, bad = {}, {}, {}
  for _, thread in ipairs(threads) do
    numbers(thread:get("ok_at"), at)
    numbers(thread:get("ok_took"), took)
    numbers(thread:get("bad_at"), bad)
  end
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"socket_errors": %d, "timeouts": %d, "ok_at": [%s], "ok_took": [%s], "bad_at": [%s]}\n',
    e.connect + e.read + e.write, e.timeout,
    table.concat(at, ","), table.concat(took, ","), table.concat(bad, ",")
  ))
  out:close()
end
