-- Claim a delivered message for handling, or take over a claim whose handler died (pending past its
-- lease); else say how it went. KEYS: seen key, session (both {u:<openid>}); ARGV: claim JSON, TTL, now
-- Returns {'new', session JSON} or {'seen', seen JSON}.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then
  local raw = redis.call('GET', KEYS[1]) or ''
  local ok, seen = pcall(cjson.decode, raw)
  if not (ok and type(seen) == 'table' and seen['state'] == 'pending' and tonumber(seen['until'] or '')
          and tonumber(seen['until']) < tonumber(ARGV[3])) then
    return {'seen', raw}
  end
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
end
return {'new', redis.call('GET', KEYS[2]) or ''}
