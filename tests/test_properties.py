"""Property-based: random conversations from many people, with retries, never crash, never over-book,
never leave the seats and the bookings disagreeing, and never lose or duplicate what they confirmed."""
from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

USERS = [f"o_p{i}" for i in range(5)]
MESSAGES = [
    "预约 远程教育设备 周四 上午 张三 13800138000",
    "预约 远程教育设备 周四 下午 李四 13900001111",
    "预约 远程教育设备 周五 上午 王五 13700001111",
    "预约 会议室 明天 下午 赵六 13600001111",
    "预约 健身房 明天 下午3点 钱七 13500001111",
    "预约", "1", "2", "3", "取消", "我的预约", "取消预约", "都不是",
    "党费怎么交", "党员组织关系转接", "周六开门吗", "核对材料", "我有身份证",
    "我要投诉", "窗口态度太差了", "张三", "13800138000", "匿名", "我的办件",
]
STEP = st.tuples(st.sampled_from(USERS), st.sampled_from(MESSAGES), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=5, max_size=40))
@example(steps=[("o_p0", "我要投诉", False), ("o_p1", MESSAGES[0], True), ("o_p0", "窗口态度太差了", True),
                ("o_p0", "张三", False), ("o_p2", MESSAGES[0], False), ("o_p0", "13800138000", True)])
def test_random_conversations_never_crash_or_over_book(chat, store, kb, steps):
    store.r.flushall()
    ids = itertools.count(1)
    confirmed: dict[str, set[str]] = {"booking": set(), "record": set()}
    for user, text, retried in steps:
        msg_id = next(ids)
        reply = chat.send(text, user=user, msg_id=msg_id)  # asserts HTTP 200
        if retried:  # WeChat delivers it again: same answer, nothing done twice
            assert chat.send(text, user=user, msg_id=msg_id) == reply
        if m := re.search(r"预约编号：(\w+)", reply):
            confirmed["booking"].add(f"{user}|{m[1]}")
        if m := re.search(r"已登记.*\n编号：([\w-]+)", reply):
            confirmed["record"].add(f"{user}|{m[1]}")
    # nothing confirmed to a citizen is lost, nothing is stored twice
    booked = [f"{u}|{b['code']}" for u in USERS for b in store.bookings.of_user(u, 0)]
    assert confirmed["booking"] <= set(booked) and len(booked) == len(set(booked))
    recorded = [f"{u}|{r['no']}" for u in USERS for r in store.records.of_user(u)]
    assert confirmed["record"] == set(recorded) and len(recorded) == len(set(recorded))
    for day in ("20261126", "20261127", "20261124"):
        bookings = store.bookings.of_day(day)
        for resource in kb.resources.values():
            active = [b for b in bookings if b["resource"] == resource.id and b["status"] in ("confirmed", "pending")]
            slots = {b["slot"] for b in active}
            taken = store.bookings.seats_taken(resource.id, day, sorted(slots))
            for slot in slots:
                holders = [b for b in active if b["slot"] == slot]
                assert taken[slot] == len(holders) <= resource.capacity
    for user in USERS:
        mine = [b for b in store.bookings.of_user(user, 0) if b["status"] in ("confirmed", "pending")]
        assert len(mine) <= 3
        assert len({(b["resource"], b["day"]) for b in mine}) == len(mine)  # one per resource per day
    numbers = [r.partition("|")[2] for r in recorded]
    assert len(numbers) == len(set(numbers))
