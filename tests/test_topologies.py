"""Redis beyond one server: the REDIS_URL forms, a Redis Cluster, and a Sentinel failover during a run."""
from __future__ import annotations

import re
import time

import pytest
from redis.cluster import RedisCluster

from bot import create_app
from bot.app import open_store
from bot.config import ConfigError, Settings
from bot.peer import WeChatPeer
from bot.store import Store, connect
from bot.webhook import STORE_PAUSE
from handlers.context import Context
from tests.conftest import TOKEN, Chat
from tests.redis_servers import cluster, sentinel

BOOK = "预约 健身房 明天 下午{} 张三 13800138000"


def chat_on(url, kb, clock, tmp_path, prefix: str = "centerbot") -> tuple[Chat, Store]:
    store = Store(connect(url), clock, prefix=prefix)
    ctx = Context.build(kb, store, clock, "https://bot.example.cn")
    app = create_app(Settings.from_env({"WECHAT_TOKEN": TOKEN, "REDIS_URL": url,
                                        "CENTERBOT_DATA_DIR": str(tmp_path)}), context=ctx)
    return Chat(app.test_client(), WeChatPeer(TOKEN)), store


@pytest.mark.parametrize("url", ["memcached://localhost", "redis+mesh://localhost", "redis+cluster://",
                                 "redis+sentinel://127.0.0.1:26379"])
def test_a_redis_url_the_app_cannot_use_is_refused_with_a_clear_error(url):
    with pytest.raises(ValueError, match="REDIS_URL"):
        connect(url)


def test_a_cluster_url_reaches_every_master_and_the_app_books_through_it(kb, clock, tmp_path):
    with cluster(masters=3) as url:
        client = connect(url)
        assert isinstance(client, RedisCluster) and len(client.get_primaries()) == 3
        chat, store = chat_on(url, kb, clock, tmp_path)
        assert "预约成功" in chat.send(BOOK.format("3点"), user="o_cluster")
        assert "一次性告知" in chat.send("党费怎么交", user="o_cluster2")
        assert len(store.bookings.of_user("o_cluster", 0)) == 1
        # the app's keys are spread over the masters, not piled on one
        assert sum(1 for node in client.get_primaries() if client.dbsize(target_nodes=node)) >= 2


def test_bookings_survive_a_sentinel_failover_and_the_app_follows_the_new_master(kb, clock, tmp_path):
    with sentinel(sentinels=3, down_after_ms=1000) as topo:
        chat, store = chat_on(topo.url, kb, clock, tmp_path)
        first = chat.send(BOOK.format("3点"), user="o_before")
        assert "预约成功" in first
        code = re.search(r"[A-Z]\d{8}", first)[0]
        assert topo.master.client().execute_command("WAIT", 1, 2000) == 1  # the replica has it

        topo.master.kill()  # kill -9: the Sentinels must agree it is gone and promote the replica
        replies, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline:
            reply = chat.send(BOOK.format("4点"), user=f"o_during{len(replies)}")  # 200 every time
            replies.append(reply)
            if "预约成功" in reply:
                break
            assert "暂时不可用" in reply  # polite while there is no master, never an error page
            time.sleep(0.2)
            clock.advance(seconds=STORE_PAUSE)  # the app tries Redis again after each pause
        assert "预约成功" in replies[-1], replies[-3:]
        assert topo.master_port() == topo.replica.port
        assert [b["code"] for b in store.bookings.of_user("o_before", 0)] == [code]
        assert "一次性告知" in chat.send("党费怎么交", user="o_after")


def test_centers_sharing_one_redis_keep_apart_by_their_prefix(redis_url, redis_client, kb, clock, tmp_path):
    settings = Settings.from_env({"REDIS_URL": redis_url, "CENTERBOT_REDIS_PREFIX": "center-a",
                                  "CENTERBOT_DATA_DIR": str(tmp_path)})
    assert open_store(settings, clock).key("rec", "open") == "center-a:{rec}:open"
    one_seat = "预约 远程教育设备 11月26日 上午9点 张三 13800138000"
    a, _ = chat_on(redis_url, kb, clock, tmp_path, prefix="center-a")
    b, store_b = chat_on(redis_url, kb, clock, tmp_path, prefix="center-b")
    assert "预约成功" in a.send(one_seat, user="o_a")
    assert "预约成功" in b.send(one_seat, user="o_b")  # center B's equipment is its own
    assert store_b.bookings.of_user("o_a", 0) == []


def test_a_bad_redis_prefix_or_url_stops_the_start_with_the_reason(tmp_path):
    with pytest.raises(ConfigError, match="CENTERBOT_REDIS_PREFIX"):
        Settings.from_env({"CENTERBOT_REDIS_PREFIX": "center {a}", "CENTERBOT_DATA_DIR": str(tmp_path)}).validate()
    with pytest.raises(ConfigError, match="REDIS_URL must start with"):
        Settings.from_env({"REDIS_URL": "localhost:6379", "CENTERBOT_DATA_DIR": str(tmp_path)}).validate()
