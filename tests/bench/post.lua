-- post.lua: wrk script for tests/bench/run.sh.
--
-- Environment:
--   RX_BODIES  a file listing request bodies, one path a line; with one
--              body every request carries it, with several they rotate
--   RX_PATH    the request path (default /events)
--   RX_CT      Content-Type (default application/x-ndjson)
--
-- done() prints one parseable line:
--   RXWRK requests=N duration_us=D bytes=B connect_errors=.. read_errors=..
--         write_errors=.. status_errors=.. timeouts=.. p50_us=.. p90_us=..
--         p99_us=.. max_us=.. mean_us=..

local path = os.getenv("RX_PATH") or "/events"
local ct = os.getenv("RX_CT") or "application/x-ndjson"
local list = os.getenv("RX_BODIES")

local function slurp(name)
   local f = assert(io.open(name, "rb"))
   local s = f:read("*a")
   f:close()
   return s
end

local bodies = {}
if list then
   for name in io.lines(list) do
      if name ~= "" then
         bodies[#bodies + 1] = slurp(name)
      end
   end
end
assert(#bodies > 0, "RX_BODIES names no body")

wrk.method = "POST"
wrk.path = path
wrk.headers["Content-Type"] = ct
wrk.body = bodies[1]

if #bodies > 1 then
   local reqs, i = {}, 0
   for k, b in ipairs(bodies) do
      reqs[k] = wrk.format("POST", path, {["Content-Type"] = ct}, b)
   end
   bodies = nil
   function request()
      i = i % #reqs + 1
      return reqs[i]
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RXWRK requests=%d duration_us=%d bytes=%d connect_errors=%d " ..
      "read_errors=%d write_errors=%d status_errors=%d timeouts=%d " ..
      "p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
      summary.requests, summary.duration, summary.bytes, e.connect,
      e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
