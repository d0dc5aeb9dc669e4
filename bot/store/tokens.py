"""The WeChat access token shared by every process: wechatpy's session storage over the store, and its
refresh lock."""
from __future__ import annotations

import json
from typing import Any

from bot.store.connection import Connection


class Tokens(Connection):
    """The token storage wechatpy's client is given, and the lock around a refresh."""

    def token_storage(self) -> "TokenStorage":
        return TokenStorage(self)

    def token_lock(self, timeout: float = 15.0):
        return self.r.lock(self.key("wechat", "token-lock"), timeout=timeout, blocking_timeout=timeout)


class TokenStorage:
    """wechatpy's SessionStorage interface over the store, so every process shares one token."""

    def __init__(self, store: Connection):
        self.store = store

    def _key(self, key: str) -> str:
        return self.store.key("wechat", "token", key)

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.store.r.get(self._key(key))
        return json.loads(raw) if raw is not None else default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        # refresh five minutes early: WeChat's old token stays valid about five minutes after a new one
        ex = max(int(ttl) - 300, 60) if ttl else None
        self.store.r.set(self._key(key), json.dumps(value), ex=ex)

    def delete(self, key: str) -> None:
        self.store.r.delete(self._key(key))

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self.delete(key)
