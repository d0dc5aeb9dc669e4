"""Staff: the roster, console passwords, who is away, failed console logins (绑定 codes: access.py)."""
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

    def set_away(self, name: str, until: float | None) -> None:
        if until is None:
            self.r.hdel(self.key("staff", "away"), name)
        else:
            self.r.hset(self.key("staff", "away"), name, until)

    def away_until(self, name: str) -> float:
        return float(self.r.hget(self.key("staff", "away"), name) or 0)

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
