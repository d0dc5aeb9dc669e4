-- Move a booking between states; `free` gives its seat back at once.
-- KEYS: slot set, person-day set, bookings hash
-- ARGV: code, allowed current states (comma separated), new state, free (1/0), extra fields JSON
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'missing', ''} end
local booking = cjson.decode(raw)
local allowed = ',' .. ARGV[2] .. ','
if not string.find(allowed, ',' .. booking['status'] .. ',', 1, true) then
  return {'state', booking['status']}
end
booking['status'] = ARGV[3]
for k, v in pairs(cjson.decode(ARGV[5])) do booking[k] = v end
local out = cjson.encode(booking)
redis.call('HSET', KEYS[3], ARGV[1], out)
if ARGV[4] == '1' then
  redis.call('SREM', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
return {'ok', out}
