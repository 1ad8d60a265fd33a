-- Settle one admission: swap its reservation for the actual cost, correct the token bucket.
-- KEYS[1] tokens bucket, KEYS[2..] budget counters.
-- ARGV: 1 tok interval us (0 = none), 2 token delta (actual - estimate), 3 -reservation nano,
--       4 actual nano.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tok_i, delta = tonumber(ARGV[1]), tonumber(ARGV[2])
if tok_i > 0 and delta ~= 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or now)
  if tat < now then tat = now end
  local new = tat + delta * tok_i
  if new <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
  end
end
-- A counter that has expired (its period ended more than the grace ago) is not recreated.
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'r', ARGV[3])
    redis.call('HINCRBY', KEYS[i], 's', ARGV[4])
  end
end
return 1
