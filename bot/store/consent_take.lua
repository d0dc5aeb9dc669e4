-- Take one subscribe message (订阅通知) of a template from what the user agreed to.
-- KEYS: the user's consents hash; ARGV: template id, long_term ('1': the agreement stands until
-- withdrawn; else each agreement allows one message)
-- Returns 1 (taken) or 0 (no agreement, refused, or its messages used).
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'accept' then return 0 end
if ARGV[2] == '1' then return 1 end
local left = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':left') or '0')
if left <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':left', -1)
return 1
