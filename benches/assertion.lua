-- wrk script: POST client_credentials requests with pre-signed client
-- assertions, one line of TM_ASSERTIONS each (never the same one twice:
-- a replayed jti is refused), or the same one again with TM_REUSE=1 (a
-- platform token). Threads take every n-th line so they never share one.
local file = os.getenv("TM_ASSERTIONS")
local reuse = os.getenv("TM_REUSE") == "1"
local threads, counter = {}, 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
local lines, i = {}, 0
function init(args)
  local n = tonumber(os.getenv("TM_THREADS") or "2")
  local k = 0
  for line in io.lines(file) do
    if k % n == tid then table.insert(lines, line) end
    k = k + 1
  end
end
local prefix = "grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion="
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
function request()
  if reuse then
    i = 1
  else
    i = i + 1
  end
  local line = lines[i] or lines[#lines]
  return wrk.format("POST", nil, headers, prefix .. line)
end
done = function(summary, latency, requests)
  io.write(string.format("non-200 responses: %d\n", summary.errors.status))
end
