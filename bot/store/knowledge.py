"""The center-made part of the knowledge base in Redis: matters imported or edited in the console, laid
over the YAML directory, with a numbered change history (who, when, what; one change can be reverted),
per-matter revisions for edit conflicts, and the shared passage vectors of the semantic channel.

Key layout (prefix `centerbot:`; one hash tag, so a change is one transaction on Cluster too):
  {kb}:overlay       hash: matter id -> the matter's JSON, or "null" where the center retired a YAML matter
  {kb}:rev           hash: matter id -> its revision (bumped by every change of it), for edit conflicts
  {kb}:version       the base's version: bumped by every change and by `centerbot kb reload`; every
                     process watches it (bot.live) and reloads
  {kb}:changes       hash: change number -> JSON {n, who, when, what, before, after} (raw overlay values,
                     "" where absent); the newest KEEP_CHANGES are kept
  {kb}:log           list of change numbers, newest first
  {kbvec}:v          hash: sha1 of a passage -> its embedding (base64 float32), computed by one process
  {kbvec}:lock       the process embedding a new base holds it
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import redis

KEEP_CHANGES = 200
RETIRED = "null"


class Conflict(Exception):
    """The matter changed since the editor read it: `ids` were changed by someone else."""

    def __init__(self, ids: list[str], message: str = ""):
        self.ids = ids
        super().__init__(message or f"changed meanwhile: {', '.join(ids)}")


@dataclass(frozen=True)
class Change:
    n: int
    who: str
    when: float
    what: str
    before: dict[str, str]
    after: dict[str, str]
    reverts: int | None = None

    @property
    def ids(self) -> list[str]:
        return sorted(set(self.before) | set(self.after))


def _raw(data: dict[str, Any] | None) -> str:
    return RETIRED if data is None else json.dumps(data, ensure_ascii=False, sort_keys=True)


def decode(raw: str) -> dict[str, Any] | None:
    return None if raw == RETIRED else json.loads(raw)


class KnowledgeStore:
    def __init__(self, client: redis.Redis, prefix: str = "centerbot", clock: Callable[[], float] = time.time):
        self.r = client
        self.prefix = prefix
        self.now = clock

    def key(self, tag: str, *parts: str) -> str:
        return ":".join((self.prefix, "{" + tag + "}", *parts))

    # -- reading -------------------------------------------------------------------------------
    def version(self) -> int:
        return int(self.r.get(self.key("kb", "version")) or 0)

    def overlay(self) -> tuple[int, dict[str, dict[str, Any] | None]]:
        """The base's version and the center-made matters (None: a retired YAML matter), read together."""
        with self.r.pipeline(transaction=True) as p:
            p.get(self.key("kb", "version"))
            p.hgetall(self.key("kb", "overlay"))
            version, raw = p.execute()
        return int(version or 0), {mid: decode(v) for mid, v in raw.items()}

    def revisions(self, ids: Iterable[str] | None = None) -> dict[str, int]:
        if ids is None:
            return {k: int(v) for k, v in self.r.hgetall(self.key("kb", "rev")).items()}
        ids = list(ids)
        if not ids:
            return {}
        return {i: int(v or 0) for i, v in zip(ids, self.r.hmget(self.key("kb", "rev"), ids))}

    def entry(self, mid: str) -> tuple[int, str]:
        """One matter's revision and raw overlay value ("" when the overlay does not hold it), read
        together: an editor sees the newest saved version even before its process has reloaded."""
        with self.r.pipeline(transaction=True) as p:
            p.hget(self.key("kb", "rev"), mid)
            p.hget(self.key("kb", "overlay"), mid)
            rev, raw = p.execute()
        return int(rev or 0), raw or ""

    def changes(self, limit: int = 50) -> list[Change]:
        numbers = self.r.lrange(self.key("kb", "log"), 0, limit - 1)
        if not numbers:
            return []
        raw = self.r.hmget(self.key("kb", "changes"), numbers)
        return [self._change(r) for r in raw if r]

    def change(self, n: int) -> Change | None:
        raw = self.r.hget(self.key("kb", "changes"), str(n))
        return self._change(raw) if raw else None

    @staticmethod
    def _change(raw: str) -> Change:
        d = json.loads(raw)
        return Change(d["n"], d["who"], d["when"], d["what"], d["before"], d["after"], d.get("reverts"))

    # -- writing -------------------------------------------------------------------------------
    def commit(self, writes: dict[str, dict[str, Any] | None], who: str, what: str,
               validate: Callable[[dict[str, dict[str, Any] | None]], None] | None = None,
               expect: dict[str, int] | None = None, reverts: int | None = None,
               removes: Iterable[str] = ()) -> Change:
        """Write matters (None: retired) and drop overlay entries (`removes`: back to the YAML), as one
        numbered change, if `validate` accepts the whole new overlay (it raises otherwise) and no matter
        in `expect` has moved past the revision the editor read (else Conflict). Retried while
        another change lands in between."""
        okey, rkey, vkey = self.key("kb", "overlay"), self.key("kb", "rev"), self.key("kb", "version")
        removes = list(removes)
        ids = list(dict.fromkeys([*writes, *removes]))
        for _ in range(20):
            with self.r.pipeline(transaction=True) as p:
                try:
                    p.watch(vkey)
                    if expect:
                        revs = self.revisions(expect)
                        moved = [i for i, rev in expect.items() if revs.get(i, 0) != rev]
                        if moved:
                            raise Conflict(moved)
                    current = {mid: v for mid, v in self.r.hgetall(okey).items()}
                    new_overlay = {mid: decode(v) for mid, v in current.items()}
                    for mid in removes:
                        new_overlay.pop(mid, None)
                    new_overlay.update(writes)
                    if validate is not None:
                        validate(new_overlay)
                    n = int(self.r.get(vkey) or 0) + 1
                    after = {mid: _raw(d) for mid, d in writes.items()}
                    after.update({mid: "" for mid in removes})
                    change = Change(n, who, self.now(), what, {mid: current.get(mid, "") for mid in ids},
                                    after, reverts)
                    p.multi()
                    if writes:
                        p.hset(okey, mapping={mid: after[mid] for mid in writes})
                    if removes:
                        p.hdel(okey, *removes)
                    for mid in ids:
                        p.hincrby(rkey, mid, 1)
                    p.set(vkey, n)
                    p.hset(self.key("kb", "changes"), str(n), json.dumps(change.__dict__, ensure_ascii=False))
                    p.lpush(self.key("kb", "log"), n)
                    p.execute()
                except redis.WatchError:
                    continue
            self._trim()
            return change
        raise Conflict(ids, "the base kept changing: try again")

    def _trim(self) -> None:
        old = self.r.lrange(self.key("kb", "log"), KEEP_CHANGES, -1)
        if old:
            self.r.ltrim(self.key("kb", "log"), 0, KEEP_CHANGES - 1)
            self.r.hdel(self.key("kb", "changes"), *old)

    def revert(self, n: int, who: str,
               validate: Callable[[dict[str, dict[str, Any] | None]], None] | None = None) -> Change:
        """Undo change n as a new change, if none of its matters changed since (else Conflict)."""
        change = self.change(n)
        if change is None:
            raise KeyError(n)
        current = self.r.hmget(self.key("kb", "overlay"), change.ids) if change.ids else []
        moved = [mid for mid, now in zip(change.ids, current) if (now or "") != change.after.get(mid, "")]
        if moved:
            raise Conflict(moved, "changed again since this change: revert the later change first")
        writes = {mid: decode(raw) for mid, raw in change.before.items() if raw}
        removes = [mid for mid, raw in change.before.items() if not raw]
        return self.commit(writes, who, f"revert change {n}: {change.what}", validate=validate,
                           reverts=n, removes=removes)

    def bump(self, who: str, what: str) -> Change:
        """A new version with no matter changed (the YAML directory was edited): processes reload."""
        return self.commit({}, who, what)


class SharedVectors:
    """Passage embeddings shared by every process and host through Redis, and the lock that lets one
    process embed a new base while the others wait for its vectors (knowledge.semantic's `shared`)."""

    LOCK_TTL = 120_000  # ms; renewed by the embedding process at every batch

    def __init__(self, client: redis.Redis, prefix: str = "centerbot"):
        self.r = client
        self.vkey = f"{prefix}:{{kbvec}}:v"
        self.lkey = f"{prefix}:{{kbvec}}:lock"
        self.token = hashlib.sha1(f"{id(self)}{time.time()}".encode()).hexdigest()[:12]

    @staticmethod
    def _id(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def get_many(self, texts: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for i in range(0, len(texts), 500):
            chunk = texts[i:i + 500]
            for text, raw in zip(chunk, self.r.hmget(self.vkey, [self._id(t) for t in chunk])):
                if raw:
                    out[text] = base64.b64decode(raw)
        return out

    def put_many(self, vectors: dict[str, bytes]) -> None:
        if vectors:
            self.r.hset(self.vkey, mapping={self._id(t): base64.b64encode(v).decode() for t, v in vectors.items()})

    def acquire(self) -> bool:
        return bool(self.r.set(self.lkey, self.token, nx=True, px=self.LOCK_TTL))

    def renew(self) -> None:
        self.r.set(self.lkey, self.token, xx=True, px=self.LOCK_TTL)

    def held(self) -> bool:
        return self.r.exists(self.lkey) > 0

    def release(self) -> None:
        if self.r.get(self.lkey) == self.token:
            self.r.delete(self.lkey)
