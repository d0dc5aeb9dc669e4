"""Consultations: the complete one-time notification, the numbered choice, the fallback, the byte budget."""
from __future__ import annotations

import re

import pytest

from handlers.consult import notification
from handlers.render import WECHAT_TEXT_LIMIT, split_by_bytes, utf8_len


def by_name(kb, word):
    return next(m for m in kb.matters.values() if word in m.name)


def test_party_fee_question_gets_the_complete_notification(chat, kb):
    matter = by_name(kb, "党费")
    reply = chat.send("党费怎么交")
    assert f"【{matter.name}】" in reply and "一次性告知" in reply
    window = kb.center.window(matter.window)
    assert window.name in reply
    for mat in matter.materials:
        assert mat.name in reply
    for basis in matter.legal_basis:
        assert basis in reply
    for step in matter.procedure:
        assert step in reply
    assert ("当场办结" if matter.time_limit.promised_days == 0 else f"{matter.time_limit.promised_days}个工作日") in reply
    assert ("不收费" if matter.fee.free else matter.fee.items[0]) in reply
    assert (matter.phone or kb.center.phones.consult) in reply
    assert f"https://bot.example.cn/notice/{matter.id}" in reply
    assert utf8_len(reply) <= WECHAT_TEXT_LIMIT


def test_every_matter_notification_is_whole_and_within_the_byte_budget(ctx, kb):
    for matter in kb.matters.values():
        reply = notification(matter, ctx)
        assert utf8_len(reply.text) <= WECHAT_TEXT_LIMIT, matter.id
        assert all(utf8_len(p) <= WECHAT_TEXT_LIMIT for p in reply.followups), matter.id
        everything = reply.text + "\n".join(reply.followups)
        for mat in matter.materials + [m for d in matter.joint_departments for m in d.materials]:
            assert mat.name in everything, (matter.id, mat.name)
        for step in matter.procedure:
            assert step in everything, (matter.id, step)


def test_a_notification_over_2048_bytes_goes_in_parts_and_loses_nothing(chat, ctx, kb, store):
    matter = by_name(kb, "林木采伐")
    big = matter.model_copy(update={"materials": matter.materials * 12})
    reply = notification(big, ctx)
    assert reply.followups, "expected the long notification to be split"
    assert f"分{len(reply.followups)}条消息" in reply.text
    assert f"/notice/{matter.id}" in reply.text
    joined = "\n".join(p.split("\n", 1)[1] for p in reply.followups)
    full = ctx.render("consult/notice.txt", m=big, window=kb.center.window(big.window), center=kb.center,
                      url=ctx.notice_url(big.id))
    assert joined == full


def test_long_notification_through_the_webhook_queues_the_rest_in_the_outbox(chat, ctx, kb, store):
    long_ones = [m for m in kb.matters.values() if notification(m, ctx).followups]
    if not long_ones:
        pytest.skip("no sample matter is over the byte budget")
    matter = long_ones[0]
    reply = chat.send(matter.name, user="o_long")
    items = store.outbox_for_user("o_long")
    assert "紧接着发给您" in reply
    assert len(items) == len(notification(matter, ctx).followups)
    assert all(i.status == "queued" for i in items)


def test_split_by_bytes_never_exceeds_the_limit_and_drops_nothing():
    text = "\n".join(["甲" * 100, "乙" * 900, "丙丙", "丁" * 10])
    parts = split_by_bytes(text, 600)
    assert all(utf8_len(p) <= 600 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_ambiguous_question_offers_a_numbered_list_and_a_number_picks(chat, store):
    reply = chat.send("党员组织关系转接", user="o_amb")
    assert "1." in reply and "2." in reply and "回复序号" in reply
    assert "转入" in reply and "转出" in reply
    choices = store.load_session("o_amb")["slots"]["choices"]
    picked = chat.send("2", user="o_amb")
    assert "一次性告知" in picked
    assert store.load_session("o_amb").get("flow") is None
    assert choices[1]


def test_a_pick_by_name_works_too(chat, kb):
    chat.send("党员组织关系转接", user="o_name")
    matter = by_name(kb, "转出")
    assert f"【{matter.name}】" in chat.send(matter.name, user="o_name")


def test_an_out_of_range_number_asks_again(chat):
    chat.send("党员组织关系转接", user="o_range")
    assert "请回复1到" in chat.send("9", user="o_range")


def test_none_of_these_is_logged_as_unanswered(chat, store):
    chat.send("党员组织关系转接", user="o_none")
    reply = chat.send("都不是", user="o_none")
    assert "已记录" in reply
    assert ("党员组织关系转接", 1) in store.unanswered()


def test_a_new_question_during_a_pick_is_answered_as_a_question(chat):
    chat.send("党员组织关系转接", user="o_switch")
    assert "党费" in chat.send("党费怎么交", user="o_switch")


def test_unknown_question_gets_a_helpful_fallback_and_is_logged(chat, kb, store):
    reply = chat.send("帮我推荐一部好看的电影 13800138000")
    assert kb.center.phones.consult in reply
    assert kb.categories[0] in reply
    assert ("帮我推荐一部好看的电影 138****8000", 1) in store.unanswered()


def test_categories_menu_then_a_number_lists_that_category(chat, kb):
    chat.event("CLICK", key="CONSULT_CATEGORIES", user="o_cat")
    reply = chat.send("1", user="o_cat")
    first = kb.in_category(kb.categories[0])
    assert f"【{kb.categories[0]}】" in reply and first[0].name in reply
    assert "一次性告知" in chat.send("1", user="o_cat")


def test_traditional_characters_are_understood(chat):
    assert "党费" in chat.send("黨費怎麼交")


def test_printable_notice_page(client, kb):
    matter = by_name(kb, "党费")
    res = client.get(f"/notice/{matter.id}")
    assert res.status_code == 200
    page = res.get_data(as_text=True)
    assert "一次性告知单" in page and matter.name in page
    for mat in matter.materials:
        assert mat.name in page
    assert 'name="viewport"' in page
    assert client.get("/notice/no-such-matter").status_code == 404


def test_an_answer_with_close_runners_up_offers_them_and_a_number_switches(chat):
    reply = chat.send("困难补助怎么申请", user="o_close")
    assert "一次性告知" in reply and "您问的如果是其他事项" in reply
    offered = re.findall(r"^([23])\. (\S+)$", reply.partition("您问的如果是其他事项")[2], re.M)
    assert [n for n, _ in offered][:1] == ["2"]
    switched = chat.send("2", user="o_close")
    assert f"关于【{offered[0][1]}】" in switched


def test_a_clear_answer_offers_nothing_else(chat):
    assert "您问的如果是其他事项" not in chat.send("生了孩子要办哪些手续", user="o_clear")
