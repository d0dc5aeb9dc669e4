"""The WeChat API client: wechatpy's, with a configurable base URL and one shared access token from
WeChat's stable_token API."""
from __future__ import annotations

import logging

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.config import Settings
from bot.store import Store
from bot.store.delivery import DeliveryStore

log = logging.getLogger(__name__)


class CenterClient(WeChatClient):
    """wechatpy's WeChatClient whose access token comes from WeChat's `stable_token` API
    (getStableAccessToken) and lives in Redis, fetched by one process at a time.

    The classic `token` API invalidates the previous token a few minutes after each call, so workers
    refreshing at once thrash it. `stable_token` in its normal mode returns the token still in force
    (WeChat renews it itself five minutes before it expires), so a fetch never invalidates another
    process's token; only a forced refresh does, which WeChat allows 20 times a day, 30 s apart. Here
    a fetch takes a Redis lock, then checks whether another process refreshed while it waited; a token
    WeChat refuses (40001, 42001) is first fetched again in normal mode, and forced only when WeChat
    hands back the very token it refused, at most once per 30 s across processes.
    """

    def __init__(self, settings: Settings, store: Store, timeout: float = 5.0):
        super().__init__(settings.app_id, settings.app_secret, session=store.token_storage(), timeout=timeout)
        self.store = store
        self.delivery = DeliveryStore(store)
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
        """Called by wechatpy when WeChat says the token is invalid (40001, 40014, 42001): replace that one."""
        return self._refresh(stale=self.session.get(self.access_token_key))

    def _refresh(self, stale):
        with self.store.token_lock():
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return {"access_token": current}  # another process refreshed while we waited
            result = self._stable_token(force=False)
            if stale and result["access_token"] == stale:
                if self.delivery.may_force_token_refresh():
                    log.warning("WeChat refused its own current access token: forcing a refresh")
                    result = self._stable_token(force=True)
                else:
                    log.warning("WeChat refused its current access token; a forced refresh was made in the "
                                "last 30 s, so this one is kept")
            self.session.set(self.access_token_key, result["access_token"], result.get("expires_in", 7200))
            return result

    def _stable_token(self, force: bool) -> dict:
        """POST /cgi-bin/stable_token (JSON only); raises WeChatClientException on an error answer."""
        res = self._http.post(self.API_BASE_URL + "stable_token", timeout=self.timeout,
                              json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                                    "force_refresh": force})
        try:
            res.raise_for_status()
            result = res.json()
        except ValueError as exc:
            raise WeChatClientException(None, f"stable_token: not JSON ({exc})", client=self, response=res)
        except Exception as exc:
            raise WeChatClientException(None, f"stable_token: {exc}", client=self, response=res)
        if result.get("errcode") or "access_token" not in result:
            raise WeChatClientException(result.get("errcode"), result.get("errmsg", "no access_token"),
                                        client=self, response=res)
        return result


def make_client(settings: Settings, store: Store) -> CenterClient | None:
    """A client when the app id and secret are configured; None means the outbox is kept, not sent."""
    if not settings.can_send:
        return None
    return CenterClient(settings, store)
