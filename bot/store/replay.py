"""Remembers the signed requests the webhook has seen, so that a signed URL cannot carry another body.

WeChat signs only (token, timestamp, nonce): the signature says nothing of the body. Each accepted
(timestamp, nonce, signature) is kept with a hash of its body for as long as its timestamp is inside the
window: the same triple with the same body again is WeChat retrying its own request; the same triple
with another body is a replay of a leaked URL.

Key layout (prefix `centerbot:`): `{replay:<sha1 of timestamp, nonce and signature>}` -> body hash
(each key its own hash tag: on a Cluster the memory spreads over every master).
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

import redis

NEW, RETRY, REPLAY = "new", "retry", "replay"

# KEYS: the triple's key; ARGV: body hash, seconds to keep. Returns 'new', 'retry' or 'replay'.
_REMEMBER = """
local seen = redis.call('GET', KEYS[1])
if not seen then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 'new'
end
if seen == ARGV[1] then return 'retry' end
return 'replay'
"""


def triple_digest(timestamp: str, nonce: str, signature: str) -> str:
    return hashlib.sha1(f"{timestamp}\n{nonce}\n{signature}".encode()).hexdigest()


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class ReplayMemory:
    """The signed requests seen in the last window, in Redis (shared by every process of the app)."""

    def __init__(self, client: redis.Redis, prefix: str = "centerbot"):
        self.r = client
        self.prefix = prefix
        self._remember = client.register_script(_REMEMBER)

    def key(self, digest: str) -> str:
        return f"{self.prefix}:{{replay:{digest}}}"

    def remember(self, timestamp: str, nonce: str, signature: str, body: bytes, keep: int) -> str:
        """NEW the first time a triple is seen, RETRY for the same body again, REPLAY for another body."""
        verdict = self._remember(keys=[self.key(triple_digest(timestamp, nonce, signature))],
                                 args=[body_digest(body), max(1, int(keep))])
        return verdict.decode() if isinstance(verdict, bytes) else str(verdict)


class LocalReplayMemory:
    """The same, in this process only: what still holds while Redis is out of reach. Bounded in size
    (oldest forgotten first) and in time (each entry for `keep` seconds)."""

    def __init__(self, size: int = 50_000):
        self.size = size
        self._seen: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, timestamp: str, nonce: str, signature: str, body: bytes, keep: int) -> str:
        now = time.monotonic()
        key, digest = triple_digest(timestamp, nonce, signature), body_digest(body)
        with self._lock:
            while self._seen and (len(self._seen) >= self.size or next(iter(self._seen.values()))[1] < now):
                self._seen.popitem(last=False)
            seen = self._seen.get(key)
            if seen is None or seen[1] < now:
                self._seen[key] = (digest, now + keep)
                return NEW
            return RETRY if seen[0] == digest else REPLAY
