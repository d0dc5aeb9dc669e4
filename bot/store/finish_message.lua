-- Keep a message's answer for WeChat's retries and save the session and profile: one script instead of
-- a MULTI/EXEC of five commands. KEYS: seen, session, profile (all {u:<openid>});
-- ARGV: seen JSON, seen TTL, session mode ('keep': untouched, 'del', or 'set'), session JSON,
-- session TTL, now, profile TTL
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
if ARGV[3] == 'keep' then return 1 end
if ARGV[3] == 'set' then
  redis.call('SET', KEYS[2], ARGV[4], 'EX', tonumber(ARGV[5]))
else
  redis.call('DEL', KEYS[2])
end
redis.call('HSETNX', KEYS[3], 'first_seen', ARGV[6])
redis.call('HSET', KEYS[3], 'last_seen', ARGV[6])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[7]))
return 1
