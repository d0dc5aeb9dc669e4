"""Redis round trips per webhook message, by kind of message: the rows of its section of BENCHMARKS.md."""
from __future__ import annotations

import datetime as dt

import redis

from bench.matcher_bench import SAMPLE
from bot import create_app
from bot.config import Settings
from bot.embedded_redis import temporary_server
from bot.peer import WeChatPeer
from bot.store import Store
from handlers.clock import FixedClock
from handlers.context import Context
from knowledge.loader import load

TOKEN = "bench-token"


class Counting(redis.Redis):
    """A client that counts round trips: a command, a pipeline or a script call is one each."""

    trips = 0

    def execute_command(self, *args, **options):
        Counting.trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction=True, shard_hint=None):
        pipe = super().pipeline(transaction, shard_hint)
        original = pipe.execute

        def execute(raise_on_error=True):
            Counting.trips += 1
            return original(raise_on_error)

        pipe.execute = execute
        return pipe


def run() -> list[str]:
    kb = load(SAMPLE)
    clock = FixedClock(dt.datetime(2026, 11, 23, 9, 30))
    steps = [
        ("consultation (党费怎么交)", "o_a", "党费怎么交"),
        ("hours question (周六开门吗)", "o_a", "周六开门吗"),
        ("booking, whole form in one message", "o_b", "预约 健身房 明天 下午3点 张三 13800138000"),
        ("booking dialogue step (预约 健身房)", "o_c", "预约 健身房"),
        ("booking dialogue step (a number)", "o_c", "2"),
        ("complaint, first step", "o_d", "窗口工作人员态度太差了"),
        ("complaint, name step", "o_d", "张三"),
        ("complaint, last step (record created)", "o_d", "13800138000"),
    ]
    lines = ["| message | Redis round trips |", "|---|---|"]
    with temporary_server(fsync="no") as url:
        client = Counting.from_url(url, decode_responses=True)
        store = Store(client, clock)
        store.add_staff("李强", "o_li")
        store.add_staff("王芳", "o_wang")
        ctx = Context.build(kb, store, clock, "https://bot.example.cn")
        app = create_app(Settings.from_env({"WECHAT_TOKEN": TOKEN, "REDIS_URL": url}), context=ctx)
        web = app.test_client()
        peer = WeChatPeer(TOKEN)
        # a first pass loads the Lua scripts into Redis (once per server, not per message); the second counts
        for counted in (False, True):
            for label, user, text in steps:
                args, body = peer.sign(peer.xml(user + ("" if counted else "_warm"), "text", text))
                Counting.trips = 0
                web.post("/wechat", query_string=args, data=body)
                if counted:
                    lines.append(f"| {label} | {Counting.trips} |")
                    print(lines[-1], flush=True)
        args, body = peer.sign(peer.xml("o_a", "text", "党费怎么交", msg_id=99))
        web.post("/wechat", query_string=args, data=body)
        Counting.trips = 0
        web.post("/wechat", query_string=args, data=body)
        lines.append(f"| a WeChat retry of an answered message | {Counting.trips} |")
    return lines
