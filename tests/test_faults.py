"""Redis stopped and restarted during a run: the webhook keeps answering what it can, then recovers."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest
import redis

from bot import create_app
from bot.config import Settings
from bot.embedded_redis import redis_server_binary, temporary_server
from bot.peer import WeChatPeer
from bot.store import Store, connect
from bot.webhook import STORE_PAUSE
from handlers.context import Context
from tests.conftest import TOKEN, Chat


@pytest.fixture()
def fragile(kb, clock, tmp_path):
    """An app on its own Redis server, which the test may stop and start again."""
    with temporary_server(fsync="always") as url:
        socket = url.removeprefix("unix://")
        conf = str(socket).replace("redis.sock", "redis.conf")
        store = Store(connect(url), clock)
        ctx = Context.build(kb, store, clock, "https://bot.example.cn")
        app = create_app(Settings.from_env({"WECHAT_TOKEN": TOKEN, "REDIS_URL": url,
                                            "CENTERBOT_DATA_DIR": str(tmp_path)}), context=ctx)

        def stop():
            try:
                redis.Redis(unix_socket_path=socket).shutdown(save=True)
            except redis.ConnectionError:
                pass

        def start():
            subprocess.run([redis_server_binary(), conf], check=True, stdout=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    redis.Redis(unix_socket_path=socket).ping()
                    return
                except (redis.ConnectionError, FileNotFoundError):
                    time.sleep(0.05)

        yield Chat(app.test_client(), WeChatPeer(TOKEN)), store, stop, start


def test_with_redis_down_matters_are_answered_and_bookings_say_they_are_unavailable(fragile, clock):
    chat, store, stop, start = fragile
    code_reply = chat.send("预约 健身房 明天 下午3点 张三 13800138000", user="o_before")
    assert "预约成功" in code_reply
    stop()
    assert "一次性告知" in chat.send("党费怎么交", user="o_during")
    assert "星期" in chat.send("周六开门吗", user="o_during")
    down = chat.send("预约 健身房 明天 下午4点 李四 13900001111", user="o_during2")
    assert "暂时不可用" in down and "预约成功" not in down
    assert "暂时不可用" in chat.send("我要投诉", user="o_during3")
    start()
    clock.advance(seconds=STORE_PAUSE)  # the process tries Redis again after its pause, and finds it back
    assert "预约成功" in chat.send("预约 健身房 明天 下午4点 李四 13900001111", user="o_after")
    assert len(store.bookings.of_user("o_before", 0)) == 1  # what was accepted before is still there


class BlackHole:
    """A server that accepts connections and never answers: Redis unreachable behind a dead network path."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.received = 0
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._swallow, args=(conn,), daemon=True).start()

    def _swallow(self, conn):
        with conn:
            while data := conn.recv(4096):
                self.received += len(data)


def test_with_redis_unreachable_one_timeout_pauses_the_store_and_replies_come_from_memory(kb, clock, tmp_path):
    hole = BlackHole()
    store = Store(connect(hole.url), clock)
    ctx = Context.build(kb, store, clock, "https://bot.example.cn")
    app = create_app(Settings.from_env({"WECHAT_TOKEN": TOKEN, "REDIS_URL": hole.url,
                                        "CENTERBOT_DATA_DIR": str(tmp_path)}), context=ctx)
    chat = Chat(app.test_client(), WeChatPeer(TOKEN))
    assert "一次性告知" in chat.send("党费怎么交", user="o_1")  # after one socket timeout
    asked = hole.received
    assert asked > 0
    # while the store is paused, nothing waits on Redis again: not the claim, not the booking form
    assert "星期" in chat.send("周六开门吗", user="o_2")
    assert "暂时不可用" in chat.send("预约 健身房 明天 下午3点 张三 13800138000", user="o_3")
    assert "暂时不可用" in chat.send("我要投诉", user="o_4")
    assert "没有找到" in chat.send("啊啊啊随便说说", user="o_5")  # its ledger entry is lost, not the reply
    assert hole.received == asked
    clock.advance(seconds=STORE_PAUSE + 1)  # then Redis is tried again, so a recovery is noticed
    assert "一次性告知" in chat.send("党费怎么交", user="o_5")
    assert hole.received > asked
