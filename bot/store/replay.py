"""Remembers the signed requests the webhook has seen, so that a signed URL cannot carry another body.

WeChat signs only (token, timestamp, nonce): the signature says nothing of the body. Each accepted
(timestamp, nonce, signature) is kept with a hash of its body for as long as its timestamp is inside the
window: the same triple with the same body again is WeChat retrying its own request; the same triple
with another body is a replay of a leaked URL.

Key layout (prefix `centerbot:`): `{replay:<sha1 of timestamp, nonce and signature>}` -> body hash
(each key its own hash tag: on a Cluster the memory spreads over every master). The shared memory is
remembered by Messages.claim_message, in the round trip that claims the message (remember_request.lua);
LocalReplayMemory is this process's own, which holds while Redis is out of reach.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

NEW, RETRY, REPLAY = "new", "retry", "replay"


def triple_digest(timestamp: str, nonce: str, signature: str) -> str:
    return hashlib.sha1(f"{timestamp}\n{nonce}\n{signature}".encode()).hexdigest()


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    """What the shared memory keeps of a plaintext request (Messages.claim_message remembers it in the
    claim's round trip): the digest of its signed URL, the hash of its body, and for how long."""

    url: str
    body: str
    keep: int

    @classmethod
    def of(cls, timestamp: str, nonce: str, signature: str, body: bytes, keep: int) -> "SignedRequest":
        return cls(triple_digest(timestamp, nonce, signature), body_digest(body), int(keep))


def _short(hex_digest: str) -> int:
    """The first 64 bits of a digest as an int: a third of the memory of the hex string, and two different
    requests share one only by a chance of about one in 10^19."""
    return int(hex_digest[:16], 16)


class LocalReplayMemory:
    """The same, in this process only: what still holds while Redis is out of reach. Bounded in size
    (oldest forgotten first) and in time (each entry for `keep` seconds). An entry is about 250 bytes, so
    the default bound holds 20,000 signed URLs (30 messages a second for the whole default window) in
    about 5 MiB of each web worker."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self._seen: OrderedDict[int, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request: SignedRequest) -> str:
        """NEW the first time a signed URL is seen, RETRY for the same body again, REPLAY for another."""
        now = time.monotonic()
        url, body = _short(request.url), _short(request.body)
        with self._lock:
            while self._seen and (len(self._seen) >= self.size or next(iter(self._seen.values()))[1] < now):
                self._seen.popitem(last=False)
            seen = self._seen.get(url)
            if seen is None or seen[1] < now:
                self._seen[url] = (body, now + request.keep)
                return NEW
            return RETRY if seen[0] == body else REPLAY

    def forget(self, request: SignedRequest) -> None:
        """Forget a body this process saw first but the shared memory refused (another process had the
        URL with another body): WeChat's own retry of that URL must not be refused here."""
        url = _short(request.url)
        with self._lock:
            if self._seen.get(url, (None,))[0] == _short(request.body):
                del self._seen[url]
