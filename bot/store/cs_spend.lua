-- WeChat answered 45047: the allowance is spent, whatever we counted. KEYS: profile, cs hash; ARGV: limit
local last = redis.call('HGET', KEYS[1], 'last_seen') or '-'
redis.call('HSET', KEYS[2], 'since', last, 'used', ARGV[1])
return 1
