"""Fixtures: a real Redis server, the app with a fixed clock, a signed WeChat peer, the WeChat API stand-in."""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
import os
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from bot import create_app
from bot.store.calendar import CalendarStore
from bot.config import Settings
from bot.embedded_redis import temporary_server
from bot.peer import WeChatPeer
from bot.store import Store, connect
from handlers.clock import FixedClock
from handlers.context import Context
from knowledge.loader import load
from tests.standin import WeChatStandIn

TOKEN = "test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx0123456789abcdef"
SAMPLE = Path(__file__).resolve().parent.parent / "knowledge" / "sample"
# A Monday morning in office hours (2026-11-23 09:30 CST).
MONDAY_MORNING = dt.datetime(2026, 11, 23, 9, 30)


def pytest_sessionstart(session):
    """Embed the sample knowledge base once, before any test and outside every test's timeout: in a fresh
    clone on a busy machine that takes minutes, and the first test to build a matcher would otherwise
    pay it within its 120 s. The vectors then stay in this process's memory for every test, and in the
    bench's disk cache (var/bench-cache, shared with the gunicorn tests) for the next run."""
    from bench.matcher_bench import CACHE
    from knowledge import semantic
    from knowledge.matcher import Matcher

    if semantic.available():
        Matcher(load(SAMPLE), cache_dir=CACHE)


@pytest.fixture(scope="session")
def redis_url():
    """REDIS_URL when given (e.g. a cluster in CI); else a private real redis-server for the session."""
    if os.environ.get("CENTERBOT_TEST_REDIS_URL"):
        yield os.environ["CENTERBOT_TEST_REDIS_URL"]
        return
    with temporary_server(fsync="no") as url:
        yield url


@pytest.fixture()
def redis_client(redis_url):
    client = connect(redis_url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture()
def clock():
    return FixedClock(MONDAY_MORNING)


@pytest.fixture(scope="session")
def kb():
    return load(SAMPLE)


@pytest.fixture()
def store(redis_client, clock):
    return Store(redis_client, clock)


@pytest.fixture()
def settings_env(tmp_path, redis_url):
    return {"WECHAT_TOKEN": TOKEN, "REDIS_URL": redis_url, "CENTERBOT_DATA_DIR": str(tmp_path),
            "CENTERBOT_PUBLIC_URL": "https://bot.example.cn"}


@pytest.fixture()
def settings(settings_env):
    return Settings.from_env(settings_env)


@pytest.fixture()
def ctx(kb, store, clock):
    return Context.build(kb, store, clock, "https://bot.example.cn", calendar_source=CalendarStore(store))


@pytest.fixture()
def app(settings, ctx):
    app = create_app(settings, context=ctx)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


class Chat:
    """Sends signed messages through the webhook like WeChat does, and reads the replies."""

    def __init__(self, client, peer: WeChatPeer):
        self.client = client
        self.peer = peer
        self.last_response = None

    def post(self, xml: str):
        args, body = self.peer.sign(xml)
        self.last_response = self.client.post("/wechat", query_string=args, data=body,
                                              content_type="text/xml")
        return self.last_response

    def send(self, text: str = "", user: str = "o_citizen", kind: str = "text", **kw) -> str:
        """Post a message and return the reply's text ('' for `success`)."""
        res = self.post(self.peer.xml(user, kind, text, **kw))
        assert res.status_code == 200, res.data
        return self.peer.read_reply(res.get_data(as_text=True)).get("Content", "")

    def event(self, event: str, user: str = "o_citizen", key: str = "", **kw) -> str:
        return self.send(user=user, kind="event", event=event, key=key, **kw)


@pytest.fixture()
def chat(client):
    return Chat(client, WeChatPeer(TOKEN))


@contextlib.contextmanager
def live(app):
    """Serve `app` on a free loopback port in a thread; yields its root URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture()
def standin():
    server = WeChatStandIn()
    server.start()
    yield server
    server.stop()
