-- Remember a plaintext request's signed URL with the hash of its body, for as long as its timestamp is
-- inside the window. KEYS: {replay:<digest of timestamp, nonce, signature>}; ARGV: body hash, seconds
-- to keep. Returns 'new', 'retry' (the same body again: WeChat's retry) or 'replay' (another body).
local seen = redis.call('GET', KEYS[1])
if not seen then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 'new'
end
if seen == ARGV[1] then return 'retry' end
return 'replay'
