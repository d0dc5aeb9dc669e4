"""Staff: the roster, console passwords, away periods, the A/B holders set live, failed console logins
(绑定 codes: access.py)."""
from __future__ import annotations

import json

from bot.store.connection import Connection


PASSWORD_MIN, PASSWORD_MAX = 10, 200  # characters of a console password, wherever it is set
PASSWORD_RULE = f"a console password has {PASSWORD_MIN} to {PASSWORD_MAX} characters"
PASSWORD_RULE_ZH = f"密码应为{PASSWORD_MIN}至{PASSWORD_MAX}位"


class PasswordRefused(ValueError):
    """A password that breaks the rule: nothing was changed."""


class Staff(Connection):
    """Staff members and what the console and WeChat commands need to know of them."""

    # -- away periods: name -> JSON [[start, end], ...] (start 0: from now on); a bare number is the end of
    # the one period an older version kept
    def set_away(self, name: str, until: float | None) -> None:
        """Away from now until `until` (replacing every period), or back (None: no period left)."""
        if until is None:
            self.r.hdel(self.key("staff", "away"), name)
        else:
            self._save_away(name, [(0.0, float(until))])

    def add_away(self, name: str, start: float, end: float) -> None:
        """One more away period [start, end) (请假、出差 planned ahead), kept beside the others."""
        key = self.key("staff", "away")

        def add(pipe) -> None:
            periods = self._decode_away(pipe.hget(key, name))
            pipe.multi()
            pipe.hset(key, name, json.dumps(sorted(set(periods + [(float(start), float(end))]))))
        self.r.transaction(add, key)

    def remove_away(self, name: str, start: float, end: float) -> bool:
        """Cancel one away period; False when there was none such."""
        key = self.key("staff", "away")

        def remove(pipe) -> bool:
            periods = self._decode_away(pipe.hget(key, name))
            left = [p for p in periods if p != (float(start), float(end))]
            pipe.multi()
            if left:
                pipe.hset(key, name, json.dumps(left))
            else:
                pipe.hdel(key, name)
            return len(left) != len(periods)
        return self.r.transaction(remove, key, value_from_callable=True)

    def _save_away(self, name: str, periods: list[tuple[float, float]]) -> None:
        self.r.hset(self.key("staff", "away"), name, json.dumps(periods))

    @staticmethod
    def _decode_away(raw) -> list[tuple[float, float]]:
        if not raw:
            return []
        value = json.loads(raw)
        if isinstance(value, (int, float)):
            return [(0.0, float(value))]
        return sorted((float(a), float(b)) for a, b in value)

    def away_periods(self, name: str) -> list[tuple[float, float]]:
        """Every away period of a staff member, [start, end) as timestamps, earliest first."""
        return self._decode_away(self.r.hget(self.key("staff", "away"), name))

    def away_until(self, name: str) -> float:
        """The end of the last away period (0: none); whether they are away now is handlers.duty.away_at."""
        return max((end for _, end in self.away_periods(name)), default=0.0)

    # -- the A/B holders set in the console or the CLI over center.yaml's: "type:<id>" or "window:<id>" ->
    # JSON {"a": name or null, "b": [names in order]}
    def holder_overrides(self) -> dict[str, dict]:
        return {k: json.loads(v) for k, v in self.r.hgetall(self.key("staff", "holders")).items()}

    def set_holders(self, post: str, a: str | None, b: list[str]) -> None:
        self.r.hset(self.key("staff", "holders"), post, json.dumps({"a": a, "b": list(b)}, ensure_ascii=False))

    def reset_holders(self, post: str) -> bool:
        """Back to center.yaml's holders for `post`; False when it had none set."""
        return bool(self.r.hdel(self.key("staff", "holders"), post))

    def add_staff(self, name: str, openid: str, role: str = "window", backup: str = "") -> None:
        old = self.staff(name)
        pipe = self.r.pipeline(transaction=True)
        if old and old["openid"] != openid:
            pipe.hdel(self.key("staff", "by-openid"), old["openid"])
        member = {"name": name, "openid": openid, "role": role, "backup": backup}
        if old and old.get("password"):
            member["password"] = old["password"]
        pipe.hset(self.key("staff", "roster"), name, json.dumps(member, ensure_ascii=False))
        pipe.hset(self.key("staff", "by-openid"), openid, name)
        pipe.execute()

    def remove_staff(self, name: str) -> bool:
        old = self.staff(name)
        if not old:
            return False
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(self.key("staff", "roster"), name)
        pipe.hdel(self.key("staff", "by-openid"), old["openid"])
        pipe.execute()
        return True

    def staff(self, name: str) -> dict[str, str] | None:
        raw = self.r.hget(self.key("staff", "roster"), name)
        return json.loads(raw) if raw else None

    def staff_list(self) -> list[dict[str, str]]:
        return [json.loads(v) for _, v in sorted(self.r.hgetall(self.key("staff", "roster")).items())]

    def set_password(self, name: str, password: str) -> None:
        """Set a console password (only its hash is kept); PasswordRefused when it breaks PASSWORD_RULE,
        the one rule of the console and the CLI."""
        from werkzeug.security import generate_password_hash

        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise PasswordRefused(PASSWORD_RULE)
        member = self.staff(name)
        if member is None:
            raise KeyError(name)
        member["password"] = generate_password_hash(password)
        self.r.hset(self.key("staff", "roster"), name, json.dumps(member, ensure_ascii=False))

    def check_password(self, name: str, password: str) -> bool:
        from werkzeug.security import check_password_hash

        from bot.store.access import dummy_password_hash

        member = self.staff(name)
        stored = (member or {}).get("password")
        # an unknown name (or one without a password) costs the same hash work: timing reveals no names
        matches = check_password_hash(stored or dummy_password_hash(), password)
        return bool(stored) and matches

    def count_failed_login(self, who: str, window: int = 900) -> int:
        key = self.key("console", "failed", who)
        pipe = self.r.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window)
        return pipe.execute()[0]

    def clear_failed_logins(self, who: str) -> None:
        self.r.delete(self.key("console", "failed", who))

    def failed_logins(self, who: str) -> int:
        return int(self.r.get(self.key("console", "failed", who)) or 0)

    def staff_by_openid(self, openid: str) -> dict[str, str] | None:
        name = self.r.hget(self.key("staff", "by-openid"), openid)
        return self.staff(name) if name else None
