-- Create a budget counter from the ledger's spend, unless another replica already did.
-- KEYS[1] counter; ARGV: 1 spent nano, 2 expire-at (epoch s).
if redis.call('HSETNX', KEYS[1], 's', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'r', '0')
end
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return 1
