-- wrk POST script for the gateway benchmark: one short, non-streaming chat completion.
-- The API key comes from the environment (BENCH_KEY); the model from BENCH_MODEL.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
local model = os.getenv("BENCH_MODEL") or "bench-model"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello in French."}],"max_tokens":16}'

-- Any non-200 answer is counted, so a run with errors can be rejected by the harness.
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
