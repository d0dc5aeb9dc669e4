"""A leader asks on WeChat for the 延期 requests waiting for their 同意延期/不同意延期 (`待审批`): a numbered
list, oldest first, names and phone numbers masked, within WeChat's 2048 bytes, never cut silently."""
from __future__ import annotations

from handlers.render import utf8_len
from tests.test_records import complain, number_of
from tests import test_rules

staff = test_rules.staff  # the sample center's roster (a fixture)


def extension_asked(chat, user: str, reason: str) -> str:
    no = number_of(complain(chat, user=user))
    assert "待中心领导审批" in chat.send(f"延期 {no} 3 {reason}", user="o_li")
    return no


def test_a_leader_lists_the_pending_extensions_numbered_and_masked_then_decides_one(chat, store, staff):
    first = extension_asked(chat, "o_c1", "需调取监控，当事人电话13912345678待核实")
    second = extension_asked(chat, "o_c2", "需县局答复")
    number_of(complain(chat, user="o_c3"))  # no extension asked: not listed
    reply = chat.send("待审批", user="o_leader")
    assert "待审批的延期申请（共2件" in reply
    assert f"1. {first} 投诉（张*）李强申请延期3个工作日" in reply and f"2. {second} 投诉" in reply
    assert "139****5678" in reply and "13912345678" not in reply and "13800138000" not in reply
    assert "同意延期 编号" in reply
    chat.send(f"同意延期 {first}", user="o_leader")
    after = chat.send("待审批", user="o_leader")
    assert first not in after and f"1. {second}" in after and "共1件" in after


def test_only_leaders_see_the_pending_extensions(chat, store, staff):
    extension_asked(chat, "o_c1", "需调取监控")
    assert "由中心领导审批" in chat.send("待审批", user="o_li")
    reply = chat.send("待审批", user="o_citizen")  # a citizen: not a staff command, nothing of records shown
    assert "申请延期" not in reply and "TS2026" not in reply


def test_with_none_pending_the_leader_is_told_so(chat, staff):
    assert "目前没有待审批的延期申请" in chat.send("待批延期", user="o_leader")


def test_a_long_list_fits_2048_bytes_and_says_how_many_more_and_where(chat, store, staff):
    numbers = [extension_asked(chat, f"o_c{i}", f"第{i}件：" + "需多个部门联合核查并入户调查，" * 6)
               for i in range(16)]
    reply = chat.send("待审批", user="o_leader")
    assert utf8_len(reply) <= 2048 and "共16件" in reply
    shown = [no for no in numbers if no in reply]
    assert shown == numbers[:len(shown)] and 0 < len(shown) < 16
    assert f"还有{16 - len(shown)}件未列出" in reply and "https://bot.example.cn/staff/" in reply
    assert "…" in reply  # a long reason is shortened visibly; the whole is on the record's console page
