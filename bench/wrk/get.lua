-- wrk script: GET the URL, with an If-None-Match header when the first argument is not
-- "-"; print the same JSON summary as rotate.lua. A 304 is an expected answer here.
--
-- Usage: wrk ... -s bench/wrk/get.lua URL -- ETAG|-

local prepared = nil

function init(args)
  local headers = {}
  if args[1] and args[1] ~= "-" then
    headers["If-None-Match"] = args[1]
  end
  prepared = wrk.format("GET", wrk.path, headers)
end

function request()
  return prepared
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
