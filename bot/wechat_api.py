"""The WeChat API client: wechatpy's, with a configurable base URL and one shared, locked token refresh."""
from __future__ import annotations

from wechatpy import WeChatClient

from bot.config import Settings
from bot.store import Store


class CenterClient(WeChatClient):
    """wechatpy's WeChatClient whose access token lives in Redis and is refreshed by one process at a time.

    Fetching a token invalidates the previous one a few minutes later, so several workers must not
    refresh at once: the refresh takes a Redis lock, then checks again whether another process already
    refreshed while it waited.
    """

    def __init__(self, settings: Settings, store: Store, timeout: float = 5.0):
        super().__init__(settings.app_id, settings.app_secret, session=store.token_storage(), timeout=timeout)
        self.store = store
        if settings.api_base:
            self.API_BASE_URL = settings.api_base.rstrip("/") + "/"

    @property
    def access_token(self):
        """The shared token; fetched (once, under the lock) only when there is none."""
        token = self.session.get(self.access_token_key)
        if token:
            return token
        self._refresh(stale=None)
        return self.session.get(self.access_token_key)

    def fetch_access_token(self):
        """Called by wechatpy when WeChat says the token is invalid (40001, 42001): replace that one."""
        return self._refresh(stale=self.session.get(self.access_token_key))

    def _refresh(self, stale):
        with self.store.token_lock():
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return {"access_token": current}  # another process refreshed while we waited
            return self._fetch_access_token(
                url=self.API_BASE_URL + "token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )


def make_client(settings: Settings, store: Store) -> CenterClient | None:
    """A client when the app id and secret are configured; None means the outbox is kept, not sent."""
    if not settings.can_send:
        return None
    return CenterClient(settings, store)
