-- Lease the jobs due now, and the jobs whose lease ran out (their worker died before acknowledging
-- them), to one caller: each moves to the in-flight set with its lease deadline, and its take is counted.
-- KEYS: due, in-flight, attempts (all {sched})
-- ARGV: now, lease deadline, limit
-- Returns job, attempts, job, attempts, ...
local limit = tonumber(ARGV[3])
local jobs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit)
if #jobs < limit then
  for _, job in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit - #jobs)) do
    table.insert(jobs, job)
  end
end
local out, seen = {}, {}
for _, job in ipairs(jobs) do
  if not seen[job] then
    seen[job] = true
    redis.call('ZREM', KEYS[1], job)
    redis.call('ZADD', KEYS[2], ARGV[2], job)
    table.insert(out, job)
    table.insert(out, redis.call('HINCRBY', KEYS[3], job, 1))
  end
end
return out
