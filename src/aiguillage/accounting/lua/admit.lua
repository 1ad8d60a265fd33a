-- Admission, atomically: GCRA rate limits (requests, tokens), then budgets, then reserve.
-- KEYS[1] requests bucket, KEYS[2] tokens bucket, KEYS[3..] budget counters (hash: s=spent, r=reserved, nano-EUR)
-- ARGV: 1 ncounters, 2 req interval us (0 = none), 3 tok interval us (0 = none), 4 tok units,
--       5 reserve nano (full), 6 reserve nano (downgraded), 7 nrules,
--       8..7+ncounters expire-at (epoch s, unused here: seed.lua sets it), then per rule: counter index, mode (0 soft 1 hard 2 downgrade),
--       amount nano, downgrade-at nano.
-- Returns {status, rule, req_remaining, req_reset_us, tok_remaining, tok_reset_us, retry_us, downgraded, ...}
-- status 0 ok, 1 requests, 2 tokens, 3 budget (then spent, reserved per counter follow), 4 seed (missing indexes follow).
local WINDOW = 60000000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ncnt = tonumber(ARGV[1])

-- One HMGET per counter; a counter without 's' does not exist yet and must be seeded from the ledger.
local spent, reserved, committed, missing = {}, {}, {}, {}
for i = 1, ncnt do
  local v = redis.call('HMGET', KEYS[2 + i], 's', 'r')
  if not v[1] then
    missing[#missing + 1] = i - 1
  else
    spent[i] = v[1]
    reserved[i] = v[2] or '0'
    committed[i] = tonumber(spent[i]) + tonumber(reserved[i])
  end
end
if #missing > 0 then
  local out = {4, 0, 0, 0, 0, 0, 0, 0}
  for _, m in ipairs(missing) do out[#out + 1] = m end
  return out
end

local function gcra(key, interval, units)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  return tat, tat + units * interval
end

local function state(interval, tat)
  local used = tat - now
  if used < 0 then used = 0 end
  local rem = math.floor((WINDOW - used) / interval + 1e-9)
  if rem < 0 then rem = 0 end
  return rem, math.floor(used)
end

local status, retry, rule, down = 0, 0, 0, 0
local req_i, tok_i = tonumber(ARGV[2]), tonumber(ARGV[3])
local req_tat, req_new, tok_tat, tok_new
if req_i > 0 then
  req_tat, req_new = gcra(KEYS[1], req_i, 1)
  if req_new - now > WINDOW + 1 then status = 1; retry = req_new - now - WINDOW end
end
if tok_i > 0 then
  tok_tat, tok_new = gcra(KEYS[2], tok_i, tonumber(ARGV[4]))
  if status == 0 and tok_new - now > WINDOW + 1 then status = 2; retry = tok_new - now - WINDOW end
end

if status == 0 then
  local base = 7 + ncnt
  for j = 1, tonumber(ARGV[7]) do
    local o = base + (j - 1) * 4
    local c, mode = tonumber(ARGV[o + 1]) + 1, tonumber(ARGV[o + 2])
    if mode ~= 0 and committed[c] >= tonumber(ARGV[o + 3]) then
      status = 3; rule = j - 1
      break
    end
    if mode == 2 and committed[c] > tonumber(ARGV[o + 4]) then down = 1 end
  end
end

local rr, rreset, tr, treset = 0, 0, 0, 0
if status == 0 then
  if req_i > 0 then
    redis.call('SET', KEYS[1], string.format('%.0f', req_new), 'PX', math.ceil((req_new - now) / 1000) + 1)
    req_tat = req_new
  end
  if tok_i > 0 then
    if tok_new > now then
      redis.call('SET', KEYS[2], string.format('%.0f', tok_new), 'PX', math.ceil((tok_new - now) / 1000) + 1)
    end
    tok_tat = tok_new
  end
  local res = ARGV[5]
  if down == 1 then res = ARGV[6] end
  -- The TTL was set when the counter was seeded (period end + grace); HINCRBY keeps it.
  for i = 1, ncnt do
    redis.call('HINCRBY', KEYS[2 + i], 'r', res)
  end
end
if req_i > 0 then rr, rreset = state(req_i, req_tat) end
if tok_i > 0 then tr, treset = state(tok_i, tok_tat) end

local out = {status, rule, rr, rreset, tr, treset, math.floor(retry), down}
for i = 1, ncnt do
  out[#out + 1] = spent[i]
  out[#out + 1] = reserved[i]
end
return out
