"""Scheduled jobs (reminders, escalations): scheduled once, leased to a worker, acknowledged, or given up.
Lua: take_jobs.lua."""
from __future__ import annotations

import json
from typing import Any

from bot.store.connection import Connection

JOB_LEASE = 120  # seconds a worker owns a scheduled job before another may run it again
JOB_MAX_ATTEMPTS = 5  # takes of a job (crashes or errors included) before it is set aside


class Jobs(Connection):
    """Jobs the worker runs later, by due time."""

    SCRIPTS = {"_take_jobs": "take_jobs"}

    # Scheduled jobs run effectively exactly once: a worker leases the jobs due now (they move from
    # `due` to `inflight` with a deadline), carries each out, and acknowledges it (`finish_job`) only
    # once its effects are stored. A worker killed in between leaves the job in flight; when the lease
    # runs out another worker takes it again. Every effect of a job is idempotent (a one-time record
    # change, outbox messages with dedup keys), so running it a second time changes nothing.
    @staticmethod
    def _job(job: dict[str, Any]) -> str:
        return json.dumps(job, ensure_ascii=False, sort_keys=True)

    def schedule(self, job: dict[str, Any], at: float) -> None:
        """Run `job` at `at` (once: the member is the job itself, so scheduling it twice is one job)."""
        self.r.zadd(self.key("sched", "due"), {self._job(job): at})

    def unschedule(self, job: dict[str, Any]) -> None:
        member = self._job(job)
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self.key("sched", "due"), member)
        self._end_lease(pipe, member)
        pipe.execute()

    def take_due_jobs(self, limit: int = 50, lease: float = JOB_LEASE) -> list[tuple[dict[str, Any], int]]:
        """Lease the jobs due now (and those a dead worker left in flight) to this caller for `lease`
        seconds: [(job, how many times it has been taken)]. Acknowledge each with `finish_job`."""
        now = self.clock.timestamp()
        rows = self._take_jobs(keys=[self.key("sched", "due"), self.key("sched", "inflight"),
                                     self.key("sched", "attempts")], args=[now, now + lease, limit])
        return [(json.loads(rows[i]), int(rows[i + 1])) for i in range(0, len(rows), 2)]

    def finish_job(self, job: dict[str, Any]) -> None:
        """Acknowledge a job whose effects are stored: it is not taken again."""
        pipe = self.r.pipeline(transaction=True)
        self._end_lease(pipe, self._job(job))
        pipe.execute()

    def give_up_job(self, job: dict[str, Any]) -> None:
        """Set aside a job that failed every attempt (kept in `{sched}:failed` for staff to look at)."""
        member = self._job(job)
        pipe = self.r.pipeline(transaction=True)
        self._end_lease(pipe, member)
        pipe.zadd(self.key("sched", "failed"), {member: self.clock.timestamp()})
        pipe.execute()

    def _end_lease(self, pipe, member: str) -> None:
        """Off the in-flight set, with its count of takes (unscheduled, finished or given up)."""
        pipe.zrem(self.key("sched", "inflight"), member)
        pipe.hdel(self.key("sched", "attempts"), member)

    def jobs(self, which: str = "due") -> list[tuple[dict[str, Any], float]]:
        """Jobs scheduled (`due`), being run (`inflight`, by lease deadline) or given up (`failed`)."""
        if which not in ("due", "inflight", "failed"):
            raise ValueError(which)
        return [(json.loads(m), at) for m, at in self.r.zrange(self.key("sched", which), 0, -1, withscores=True)]
