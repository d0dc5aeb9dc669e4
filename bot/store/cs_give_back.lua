-- Give back a message taken for a send that did not happen, if the count is still the same one.
-- KEYS: profile, cs hash
local last = redis.call('HGET', KEYS[1], 'last_seen') or '-'
if redis.call('HGET', KEYS[2], 'since') == last and tonumber(redis.call('HGET', KEYS[2], 'used') or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], 'used', -1)
  redis.call('HINCRBY', KEYS[2], 'total', -1)
end
return 1
