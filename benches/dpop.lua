-- wrk script: token requests with Basic auth, each with its own DPoP proof
-- read from TM_DPOP_PROOFS (one proof per line, made by benches/dpop_proofs.py
-- just before the run: proofs are good for [dpop] proof_max_age). For wrk -t2:
-- thread n takes the lines i with i % 2 == n, so no proof is sent twice.
local id = os.getenv("TM_CLIENT") or "bench"
local secret = os.getenv("TM_SECRET") or "bench-secret"
local file = os.getenv("TM_DPOP_PROOFS")
local counter = 0

function setup(thread)
  thread:set("n", counter)
  counter = counter + 1
end

local proofs, next_proof = {}, 1

function init(args)
  local n = tonumber(wrk.thread:get("n")) or 0
  local i = 0
  for line in io.lines(file) do
    if i % 2 == n then table.insert(proofs, line) end
    i = i + 1
  end
end

local function b64(data)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local auth = "Basic " .. b64(id .. ":" .. secret)

function request()
  local proof = proofs[next_proof]
  next_proof = next_proof + 1
  if proof == nil then
    proof = "exhausted"  -- more requests than proofs: answered 400, counted as non-200
  end
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth,
    ["DPoP"] = proof,
  }, "grant_type=client_credentials")
end

done = function(summary, latency, requests)
  io.write(string.format("non-200 responses: %d\n", summary.errors.status))
end
