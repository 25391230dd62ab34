-- wrk script for the benchmark: the request comes from environment variables, and done()
-- prints one machine-readable line (WRK_JSON {...}) that bench/loadgen.py parses.
--   WRK_METHOD   GET (default) or POST
--   WRK_BODY     request body
--   WRK_HEADERS  "Name: value" lines separated by "\n"
--   WRK_TOKENS   a file of bearer tokens, one per line: each request sends the next one
--                (every scenario of a comparison uses the same mode, so wrk's own cost is equal)

wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
end
local header_lines = os.getenv("WRK_HEADERS") or ""
for line in string.gmatch(header_lines, "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name ~= nil then
    wrk.headers[name] = value
  end
end

local tokens_file = os.getenv("WRK_TOKENS")
if tokens_file ~= nil and tokens_file ~= "" then
  local tokens = {}
  for line in io.lines(tokens_file) do
    if line ~= "" then
      tokens[#tokens + 1] = line
    end
  end
  local index = 0
  function request()
    index = index % #tokens + 1
    local headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    headers["Authorization"] = "Bearer " .. tokens[index]
    return wrk.format(nil, nil, headers, nil)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
