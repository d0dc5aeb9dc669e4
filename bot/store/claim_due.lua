-- Lease the outbox messages due now to one worker: each stays in the due set, scored by its lease
-- deadline, so a crashed worker's messages come back when the lease runs out.
-- KEYS: due set ({outbox}); ARGV: now, lease deadline, limit. Returns the ids leased.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
