"""First-responder records and delegation cases: each change one transaction with its history, the
one-time steps of jobs, numbering, indexes, ratings. Lua: create_record.lua."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from bot.store import Store

RECORD_IDEMPOTENCY_TTL = 7 * 24 * 3600


class RecordStore:
    """First-responder records and delegation cases, each change one transaction with its history."""

    SCRIPTS = {"_create_record": "create_record"}  # registered on the Store, run as self.s._create_record

    def __init__(self, store: "Store"):
        self.s = store
        self.r = store.r

    def _k(self, *parts: str) -> str:
        return self.s.key("rec", *parts)

    def next_number(self, prefix: str, day: str) -> str:
        """TS20261122-0007: unique across workers (one counter per day for every type)."""
        seq = self.r.incr(self._k("seq", day))
        self.r.expire(self._k("seq", day), 3 * 24 * 3600)
        return f"{prefix}{day}-{seq:04d}"

    def create(self, no: str, fields: dict[str, Any], event: dict[str, Any], due: float,
               idempotency: str) -> tuple[str, bool]:
        """Store a new record unless `idempotency` made one already: (number, created now)."""
        staff = fields.get("responder") or ""
        openid = fields.get("openid") or ""
        keys = [self._k("r", no), self._k("h", no), self._k("open"),
                self._k("staff", staff) if staff else self._k("r", no),
                self._k("user", openid) if openid else self._k("r", no), self._k("idem", idempotency),
                self._k("all")]
        flat = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in fields.items()}
        got = self.s._create_record(keys=keys, args=[no, json.dumps(flat, ensure_ascii=False),
                                                     json.dumps(event, ensure_ascii=False), due,
                                                     RECORD_IDEMPOTENCY_TTL, fields.get("created", 0)])
        return got, got == no

    def get(self, no: str) -> dict[str, Any] | None:
        return self._decode(self.r.hgetall(self._k("r", no.strip().upper())))

    @staticmethod
    def _decode(raw: dict[str, str]) -> dict[str, Any] | None:
        if not raw:
            return None
        out: dict[str, Any] = {}
        for k, v in raw.items():
            try:
                out[k] = json.loads(v) if v[:1] in "{[" or k in ("due", "created", "taken") else v
            except ValueError:
                out[k] = v
        return out

    def history(self, no: str) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.r.lrange(self._k("h", no), 0, -1)]

    def update(self, no: str, fields: dict[str, Any], event: dict[str, Any], *, staff: str = "",
               new_staff: str | None = None, close: bool = False, due: float | None = None) -> None:
        """Change a record: new fields, one history entry, and the indexes that follow, in one transaction.

        `staff` is who holds it now; `new_staff` who takes it over; `close` ends it (off every open index).
        """
        pipe = self.r.pipeline(transaction=True)
        self._update(pipe, no, fields, event, staff=staff, new_staff=new_staff, close=close, due=due)
        pipe.execute()

    def _update(self, pipe, no: str, fields: dict[str, Any], event: dict[str, Any], *, staff: str = "",
                new_staff: str | None = None, close: bool = False, due: float | None = None) -> None:
        if fields:
            pipe.hset(self._k("r", no), mapping={k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                                 for k, v in fields.items()})
        pipe.rpush(self._k("h", no), json.dumps(event, ensure_ascii=False))
        if new_staff is not None and new_staff != staff:
            if staff:
                pipe.srem(self._k("staff", staff), no)
            if new_staff and not close:
                pipe.sadd(self._k("staff", new_staff), no)
        if close:
            pipe.zrem(self._k("open"), no)
            for name in {staff, new_staff} - {None, ""}:
                pipe.srem(self._k("staff", name), no)
        elif due is not None:
            pipe.zadd(self._k("open"), {no: due})

    def update_once(self, no: str, once: str, fields: dict[str, Any], event: dict[str, Any], *,
                    when: Callable[[dict[str, Any]], bool] | None = None, **index: Any) -> str:
        """`update` at most once per `once` (a job's identity): "applied" now, "again" when it was applied
        before (a re-run of a job whose worker died), or "skipped" when `when(record)` says it does not
        apply. The check and the change are one optimistic transaction on the record."""
        record, marks = self._k("r", no), self._k("done", no)

        def apply(pipe) -> str:
            if pipe.sismember(marks, once):
                return "again"
            current = self._decode(pipe.hgetall(record))
            if current is None or (when is not None and not when(current)):
                return "skipped"
            pipe.multi()
            self._update(pipe, no, fields, event, **index)
            pipe.sadd(marks, once)
            return "applied"

        return self.r.transaction(apply, record, marks, value_from_callable=True)

    def mark(self, no: str, what: str) -> None:
        """Note that a step of a record's life (e.g. its registration's hand-offs) is complete."""
        self.r.sadd(self._k("done", no), what)

    def marked(self, no: str, what: str) -> bool:
        return bool(self.r.sismember(self._k("done", no), what))

    def of_staff(self, name: str) -> list[dict[str, Any]]:
        return [r for r in (self.get(no) for no in sorted(self.r.smembers(self._k("staff", name)))) if r]

    def of_user(self, openid: str) -> list[dict[str, Any]]:
        return [r for r in (self.get(no) for no in self.r.lrange(self._k("user", openid), 0, -1)) if r]

    def open_numbers(self) -> list[str]:
        return self.r.zrange(self._k("open"), 0, -1)

    def numbers_between(self, since: float, until: float, limit: int = 2000) -> list[str]:
        """Record numbers created in [since, until), newest first."""
        return self.r.zrevrangebyscore(self._k("all"), f"({until}", since, start=0, num=limit)

    def claim(self, no: str, openid: str) -> bool:
        """Link a record registered without WeChat (a window application, a phone call) to the citizen who
        proved it is theirs; False when it is linked already."""
        def apply(pipe) -> bool:
            if pipe.hget(self._k("r", no), "openid"):
                return False
            pipe.multi()
            pipe.hset(self._k("r", no), "openid", openid)
            pipe.rpush(self._k("user", openid), no)
            return True

        return self.r.transaction(apply, self._k("r", no), value_from_callable=True)

    def unlink_user(self, openid: str) -> None:
        """On unsubscribe: keep the center's records, forget whose WeChat they came from."""
        for no in self.r.lrange(self._k("user", openid), 0, -1):
            self.r.hset(self._k("r", no), "openid", "")
        self.r.delete(self._k("user", openid))

    def ask_rating(self, openid: str, no: str) -> None:
        self.r.set(self.s._user(openid, "rating"), no, ex=7 * 24 * 3600)

    def rating_asked(self, openid: str) -> str | None:
        return self.r.get(self.s._user(openid, "rating"))

    def rating_done(self, openid: str) -> None:
        self.r.delete(self.s._user(openid, "rating"))
