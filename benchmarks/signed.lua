-- wrk script: POST pre-signed Twilio incoming-call webhooks, one line of BENCH_BODIES each.
-- A line is "<X-Twilio-Signature>\t<form body>"; every body has its own CallSid and caller.
-- wrk's Lua has no HMAC-SHA1, so the Python driver signs them beforehand.
local path = os.getenv("BENCH_BODIES")
local sigs, bodies = {}, {}
for line in io.lines(path) do
  local tab = line:find("\t", 1, true)
  sigs[#sigs + 1] = line:sub(1, tab - 1)
  bodies[#bodies + 1] = line:sub(tab + 1)
end
local n = #bodies
local i = 0
local headers = {["Content-Type"] = "application/x-www-form-urlencoded",
                 ["User-Agent"] = "TwilioProxy/1.1"}

request = function()
  i = i + 1
  if i > n then i = 1 end  -- only after n requests; the driver makes n larger than a run needs
  headers["X-Twilio-Signature"] = sigs[i]
  return wrk.format("POST", "/twilio/voice/incoming", headers, bodies[i])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"bodies":%d}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, n))
end
