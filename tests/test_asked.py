"""What citizens asked: consultation questions kept scrubbed with how they went, and filed from the console."""
from __future__ import annotations

import re

import pytest

from bot.store.asked import scrub, worth_keeping


# The first test of a run to build a context embeds the sample's passages from a cold cache (minutes on a
# busy 2-core machine); this module comes early in the suite, so it may be that test.
pytestmark = pytest.mark.timeout(900)


def test_names_phones_and_id_numbers_are_scrubbed_and_greetings_and_bare_names_dropped():
    assert scrub("我叫张三，电话13800138000，身份证510122199001011234，低保怎么办") == \
        "我叫[姓名]，电话[电话]，身份证[证件号]，低保怎么办"
    assert not worth_keeping("你好") and not worth_keeping("您好！") and not worth_keeping("王芳")
    assert not worth_keeping("都不是") and not worth_keeping("2")
    assert worth_keeping("低保怎么办")


def test_each_consultation_is_kept_with_its_answer_and_how_it_went(chat, store):
    chat.send("你好", user="o_q1")
    chat.send("我叫李四，电话13900001111，乌龟养殖要办什么证", user="o_q1")
    chat.send("交党费", user="o_q2")
    rows = {r["question"]: r for r in store.asked.recent()}
    assert "你好" not in rows
    fallback = rows["我叫[姓名]，电话[电话]，乌龟养殖要办什么证"]
    assert fallback["mark"] in ("unanswered", "unsure")  # not in the base: no answer was given
    assert rows["交党费"]["mark"] == "answered" and rows["交党费"]["matter"] == "party-fee"


def test_none_of_these_and_a_pick_from_a_list_are_marked(chat, store):
    reply = chat.send("补贴", user="o_q3")
    assert "1." in reply or "1、" in reply, reply
    chat.send("都不是", user="o_q3")
    assert [r["mark"] for r in store.asked.recent()] == ["none"]
    chat.send("补助", user="o_q4")
    chat.send("2", user="o_q4")
    row = next(r for r in store.asked.recent() if r["question"] == "补助")
    assert row["mark"] == "unsure" and row["chosen"]


def signed_in(client, store, name="张书记", role="leader"):
    store.add_staff(name, f"o_{role}", role=role)
    store.set_password(name, "pass-123456789")
    login = client.get("/staff/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', login)[1]
    client.post("/staff/login", data={"csrf": csrf, "name": name, "password": "pass-123456789"})


def test_a_leader_files_a_question_under_a_matter_as_a_way_of_asking(client, chat, store, settings):
    chat.send("我叫李四，想问组织上的钱每月怎么上交", user="o_q5")
    signed_in(client, store)
    page = client.get("/staff/kb/asked?mark=queue").get_data(as_text=True)
    assert "我叫[姓名]，想问组织上的钱每月怎么上交" in page and "李四" not in page
    entry = re.search(r"/staff/kb/asked/(\w+)/file", page)[1]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    res = client.post(f"/staff/kb/asked/{entry}/file", data={"csrf": csrf, "matter": "党费缴纳"})
    assert res.status_code == 302
    from bot.kb_live import stores

    overlay = stores(settings, store.r)[0].overlay()[1]
    assert "想问组织上的钱每月怎么上交" in overlay["party-fee"]["keywords"]
    assert "已归入" in client.get("/staff/kb/asked").get_data(as_text=True)


def test_the_queue_is_for_leaders_and_admins(client, store):
    signed_in(client, store, name="王芳", role="window")
    assert client.get("/staff/kb/asked").status_code == 403
