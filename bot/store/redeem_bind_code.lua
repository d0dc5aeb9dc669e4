-- Redeem a 绑定 code: the right secret ends the code and names the member; a wrong one counts a try
-- against the code, and voids it at the limit. KEYS: the code's hash; ARGV: sha256 of the secret, limit.
-- Returns {outcome, name}: ok, wrong, voided (this try reached the limit) or unknown.
local name = redis.call('HGET', KEYS[1], 'name')
if not name then return {'unknown', ''} end
if redis.call('HGET', KEYS[1], 'secret') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'ok', name}
end
if redis.call('HINCRBY', KEYS[1], 'tries', 1) >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return {'voided', name}
end
return {'wrong', name}
