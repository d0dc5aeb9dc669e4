-- Take a seat: all keys share the resource-day hash tag, so this runs on Redis Cluster too.
-- KEYS: slot set, person-day set, bookings hash, sequence, idempotency key
-- ARGV: capacity, per-person-per-day limit, code prefix, booking JSON, idempotency TTL
-- Returns {outcome, code} and, for a duplicate, the stored booking.
local seen = redis.call('GET', KEYS[5])
if seen then return {'duplicate', seen, redis.call('HGET', KEYS[3], seen) or ''} end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {'full', ''} end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then
  return {'daily_limit', redis.call('SRANDMEMBER', KEYS[2])}
end
local seq = redis.call('INCR', KEYS[4])
local code = ARGV[3] .. string.format('%02d', seq)
local booking = cjson.decode(ARGV[4])
booking['code'] = code
redis.call('SADD', KEYS[1], code)
redis.call('SADD', KEYS[2], code)
redis.call('HSET', KEYS[3], code, cjson.encode(booking))
redis.call('SET', KEYS[5], code, 'EX', tonumber(ARGV[5]))
return {'ok', code}
