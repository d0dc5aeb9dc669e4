-- Take one customer-service message from the user's allowance.
-- KEYS: the user's profile, the user's cs hash; ARGV: now, limit, window
-- Returns {verdict, used}: 'ok' (taken), 'spent' (none left), 'closed' (48 hours passed), 'unknown'
-- (we never saw the user write: WeChat decides; counted all the same).
local last = redis.call('HGET', KEYS[1], 'last_seen')
local verdict = 'ok'
if not last then
  last = '-'
  verdict = 'unknown'
elseif tonumber(ARGV[1]) - tonumber(last) > tonumber(ARGV[3]) then
  return {'closed', 0}
end
if redis.call('HGET', KEYS[2], 'since') ~= last then
  redis.call('HSET', KEYS[2], 'since', last, 'used', 0)
end
local used = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
if used >= tonumber(ARGV[2]) then return {'spent', used} end
redis.call('HINCRBY', KEYS[2], 'used', 1)
redis.call('HINCRBY', KEYS[2], 'total', 1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]) * 4)
return {verdict, used + 1}
