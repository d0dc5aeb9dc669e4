"""First-responder records and delegation cases through the signed webhook, with staff on WeChat."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.worker import run_jobs

NUMBER = re.compile(r"编号：([A-Z]{2}\d{8}-\d{4,})")


def add_roster(store):
    """The sample center's roster: the A/B holders of center.yaml, a 代办员 and a leader."""
    store.add_staff("王芳", "o_wang", role="window")
    store.add_staff("李强", "o_li", role="window", backup="王芳")
    store.add_staff("赵敏", "o_zhao", role="delegate")
    store.add_staff("张书记", "o_leader", role="leader")


@pytest.fixture()
def staff(store):
    add_roster(store)


def last(store, openid):
    items = store.outbox_for_user(openid)
    return items[-1].payload["content"] if items else ""


def number_of(reply):
    m = NUMBER.search(reply)
    assert m, reply
    return m[1]


def complain(chat, user="o_cit"):
    chat.send("窗口工作人员态度太差了，问三遍都不理人", user=user)
    chat.send("张三", user=user)
    return chat.send("13800138000", user=user)


def test_a_complaint_dialogue_creates_one_record_and_hands_it_to_the_a_holder(chat, store, staff):
    first = chat.send("窗口工作人员态度太差了，问三遍都不理人", user="o_cit")
    assert "姓名" in first  # the content is not asked again
    assert "联系电话" in chat.send("张三", user="o_cit")
    done = chat.send("13800138000", user="o_cit")
    no = number_of(done)
    assert no.startswith("TS20261123-") and "投诉" in done and "李强" in done and "11月30日" in done
    handoff = last(store, "o_li")
    assert no in handoff and "投诉" in handoff and "138****8000" in handoff and "13800138000" not in handoff
    assert "11月30日" in handoff and "接单 " + no in handoff
    assert no in last(store, "o_leader") and "报领导" in last(store, "o_leader")
    assert len(store.records.of_user("o_cit")) == 1


def test_a_retried_last_message_creates_the_record_once(chat, store, staff):
    chat.send("窗口工作人员态度太差了", user="o_r")
    chat.send("张三", user="o_r")
    xml = chat.peer.xml("o_r", "text", "13800138000", msg_id=4242)
    chat.post(xml)
    store.r.delete(*store.r.keys("centerbot:{u:o_r}:seen:*"))
    store.save_session("o_r", {"flow": "records.form", "slots": {"form": {
        "type": "complaint", "content": "窗口工作人员态度太差了", "name": "张三"}, "asking": "phone"}})
    chat.post(xml)
    assert len(store.records.of_user("o_r")) == 1


def test_a_report_may_be_anonymous(chat, store, staff):
    chat.send("我要举报", user="o_anon")
    chat.send("有人在后山偷偷砍树拉出去卖", user="o_anon")
    chat.send("匿名", user="o_anon")
    done = chat.send("匿名", user="o_anon")
    assert number_of(done).startswith("JB")
    assert "匿名" in last(store, "o_li")


def test_an_invalid_phone_is_asked_again(chat, staff):
    chat.send("村里路灯坏了没人修", user="o_bad")
    chat.send("张三", user="o_bad")
    assert "不像一个电话号码" in chat.send("12345", user="o_bad")


def test_b_gets_it_when_a_is_away(chat, store, staff, clock):
    store.set_away("李强", (clock.now() + dt.timedelta(days=3)).timestamp())
    done = complain(chat)
    assert "王芳" in done
    assert number_of(done) in last(store, "o_wang")


def test_b_gets_it_when_a_does_not_take_it_in_time(chat, store, staff, clock, ctx):
    no = number_of(complain(chat))
    clock.advance(minutes=20)
    run_jobs(ctx)
    assert store.records.get(no)["responder"] == "李强"
    clock.advance(minutes=15)
    run_jobs(ctx)
    assert store.records.get(no)["responder"] == "王芳"
    assert no in last(store, "o_wang")
    assert any(e["action"] == "转B岗" for e in store.records.history(no))


def test_staff_take_reply_and_finish_and_the_citizen_rates(chat, store, staff):
    no = number_of(complain(chat))
    assert "已接单" in chat.send(f"接单 {no}", user="o_li")
    chat.send(f"回复 {no} 已批评教育当事人，向您致歉", user="o_li")
    assert "已批评教育当事人" in last(store, "o_cit")
    assert "已办结" in chat.send(f"办结 {no} 当事人已书面道歉", user="o_li")
    told = last(store, "o_cit")
    assert "当事人已书面道歉" in told and "非常满意" in told
    assert "谢谢您的评价" in chat.send("1", user="o_cit")
    assert store.records.get(no)["rating_label"] == "非常满意"


def test_a_bad_rating_asks_why_and_opens_a_rectification_for_the_leaders(chat, store, staff):
    no = number_of(complain(chat))
    chat.send(f"办结 {no} 已处理", user="o_li")
    assert "哪里做得不好" in chat.send("5", user="o_cit")
    reply = chat.send("根本没有人联系我", user="o_cit")
    assert "整改" in reply
    zg = re.search(r"ZG\d{8}-\d{4,}", reply)[0]
    rec = store.records.get(zg)
    assert rec["type"] == "rectification" and no in rec["content"] and rec["responder"] == "张书记"


def test_staff_commands_check_who_and_what(chat, store, staff):
    no = number_of(complain(chat))
    assert "由李强负责" in chat.send(f"接单 {no}", user="o_zhao")
    assert "指令格式不对" in chat.send("延期 这不对", user="o_li")
    assert "没有找到" in chat.send("接单 TS20990101-0001", user="o_li")
    assert "接单" not in chat.send(f"接单 {no}", user="o_citizen_not_staff")  # not a staff command for citizens
    assert store.records.get(no)["status"] == "new"
    chat.send(f"办结 {no} 完成", user="o_li")
    assert f"{no} 已办结，不能再操作" in chat.send(f"办结 {no} 又一次", user="o_li")


def test_transfer_hands_off_to_the_new_holder(chat, store, staff):
    no = number_of(complain(chat))
    chat.send(f"转办 {no} 王芳", user="o_li")
    assert store.records.get(no)["responder"] == "王芳"
    assert no in last(store, "o_wang")
    assert no in chat.send("待办", user="o_wang")
    assert no not in chat.send("待办", user="o_li")


def test_yellow_then_red_then_escalation_to_the_leaders(chat, store, staff, clock, ctx):
    no = number_of(complain(chat))  # due 2026-11-30 17:30
    chat.send(f"接单 {no}", user="o_li")
    clock.set(dt.datetime(2026, 11, 27, 9, 0))
    run_jobs(ctx)
    assert "黄牌预警" in last(store, "o_li")
    clock.set(dt.datetime(2026, 11, 30, 17, 31))
    run_jobs(ctx)
    assert "红牌超期" in last(store, "o_li") and "红牌超期" in last(store, "o_leader")
    assert run_jobs(ctx) == 0  # once


def test_an_extension_moves_the_deadline_and_tells_the_citizen(chat, store, staff, clock, ctx):
    no = number_of(complain(chat))
    chat.send(f"延期 {no} 3 需要调取监控", user="o_li")
    chat.send(f"同意延期 {no}", user="o_leader")  # a leader approves it
    assert "12月3日" in last(store, "o_cit") and "需要调取监控" in last(store, "o_cit")
    clock.set(dt.datetime(2026, 11, 30, 17, 31))
    run_jobs(ctx)
    assert "红牌" not in last(store, "o_leader")


def test_the_citizen_sees_status_and_history(chat, staff):
    no = number_of(complain(chat))
    chat.send(f"接单 {no}", user="o_li")
    assert no in chat.send("我的办件", user="o_cit")
    detail = chat.send(f"查询 {no}", user="o_cit")
    assert "办理中" in detail and "登记" in detail and "接单" in detail
    assert "没有找到" in chat.send(f"查询 {no}", user="o_someone_else")


def test_a_delegation_case_runs_its_life_cycle(chat, store, staff):
    first = chat.send("想请你们帮我代办低保申请", user="o_del")
    assert "姓名" in first  # the matter and the mode were understood
    chat.send("王大妈", user="o_del")
    done = chat.send("13700001111", user="o_del")
    no = number_of(done)
    assert no.startswith("DB") and "免费" in done and "代办不包办" in done and "赵敏" in done
    assert "最低生活保障" in done
    chat.send(f"接单 {no}", user="o_zhao")
    assert "已受理" in last(store, "o_del")
    chat.send(f"补正 {no} 家庭收入证明、户口簿复印件", user="o_zhao")
    notice = last(store, "o_del")
    assert "补正" in notice and "家庭收入证明" in notice and "户口簿复印件" in notice
    assert "规定的原因" in chat.send(f"终止 {no} 不想办了", user="o_zhao")
    chat.send(f"终止 {no} 4", user="o_zhao")
    assert "申请人撤销" in last(store, "o_del")
    assert store.records.get(no)["status"] == "terminated"


def test_a_delegation_without_details_asks_matter_and_mode(chat, staff):
    assert "什么事项" in chat.event("CLICK", key="DELEGATION", user="o_d2")
    assert "帮办" in chat.send("新生儿参保", user="o_d2") and "代办" in chat.send("3", user="o_d2")
    assert "姓名" in chat.send("1", user="o_d2")


def test_unsubscribing_unlinks_records_but_keeps_them(chat, store, staff):
    no = number_of(complain(chat, user="o_gone"))
    chat.event("unsubscribe", user="o_gone")
    record = store.records.get(no)
    assert record is not None and record["openid"] == "" and record["content"]
    assert store.records.of_user("o_gone") == []


def test_staff_bind_their_wechat_with_a_one_time_code(chat, store, staff):
    code = store.access.issue_bind_code("王芳")
    assert "已绑定" in chat.send(f"绑定 {code.lower()}", user="o_wang_new_phone")
    assert store.staff_by_openid("o_wang_new_phone")["name"] == "王芳"
    assert "无效" in chat.send(f"绑定 {code}", user="o_someone")


def test_press_visitors_go_straight_to_the_leaders(chat, store, staff):
    chat.send("我是市报记者，想来中心采访便民服务", user="o_press")
    chat.send("刘记者", user="o_press")
    done = chat.send("13600000000", user="o_press")
    no = number_of(done)
    assert no.startswith("LF") and store.records.get(no)["responder"] == "张书记"
    assert no in last(store, "o_leader")


def test_a_question_nobody_could_answer_can_be_left_for_staff(chat, store, staff):
    assert "留言" in chat.send("帮我推荐一部好看的电影", user="o_q")
    assert "情况告诉我们" in chat.send("留言", user="o_q")
    chat.send("想问问村里今年修路的计划", user="o_q")
    chat.send("张三", user="o_q")
    assert number_of(chat.send("13800138000", user="o_q")).startswith("ZX")


def test_a_suggestion_with_its_content_in_the_first_message(chat, store, staff):
    assert "姓名" in chat.send("建议在村口装一盏路灯，晚上太黑了", user="o_s")


def test_the_citizen_is_told_when_staff_take_and_transfer(chat, store, staff):
    no = number_of(complain(chat))
    chat.send(f"接单 {no}", user="o_li")
    assert "已由工作人员李强受理" in last(store, "o_cit")
    chat.send(f"转办 {no} 王芳", user="o_li")
    assert "转由王芳负责" in last(store, "o_cit")


def test_materials_complete_after_a_correction_resume_the_case(chat, store, staff):
    chat.send("想请你们帮我代办低保申请", user="o_res")
    chat.send("王大妈", user="o_res")
    no = number_of(chat.send("13700001111", user="o_res"))
    chat.send(f"补正 {no} 家庭收入证明", user="o_zhao")
    assert store.records.get(no)["status"] == "awaiting_materials"
    chat.send(f"办理 {no}", user="o_zhao")
    assert store.records.get(no)["status"] == "in_progress" and "材料已齐全" in last(store, "o_res")
    chat.send(f"办结 {no} 已批准，请于下周一到民政窗口领取通知书", user="o_zhao")
    assert "领取通知书" in last(store, "o_res")


def test_outside_the_48_hour_window_a_record_s_result_reaches_the_citizen_as_the_template_message(
        chat, store, staff, clock, ctx, standin, settings_env):
    import dataclasses

    from bot.config import Settings
    from bot.wechat_api import make_client
    from bot.worker import OutboxSender
    from knowledge.schema import Notifications

    settings = Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret",
                                      WECHAT_API_BASE=standin.base))
    sender = OutboxSender(store, make_client(settings, store), lambda: ctx.kb.center)
    no = number_of(complain(chat))
    sender.run_once()
    clock.advance(hours=49)
    chat.send(f"回复 {no} 仍在调查中", user="o_li")
    sender.run_once()  # no template configured: the text is kept, failed, for staff to see
    assert "48 hours" in store.outbox_for_user("o_cit")[-1].last_error
    fields = {"character_string1": "number", "thing2": "subject", "phrase3": "status", "time4": "time"}
    standin.templates["TPL-NOTICE"] = list(fields)
    config = Notifications(kind="template", template_id="TPL-NOTICE", fields=fields)
    ctx.kb = dataclasses.replace(ctx.kb, center=ctx.kb.center.model_copy(update={"notifications": config}))
    chat.send(f"办结 {no} 调查属实，已对窗口工作人员批评教育", user="o_li")
    sender.run_once()
    assert standin.accepted("/cgi-bin/message/template/send") == [{
        "touser": "o_cit", "template_id": "TPL-NOTICE",
        "data": {"character_string1": {"value": no}, "thing2": {"value": "投诉"}, "phrase3": {"value": "已办结"},
                 "time4": {"value": "2026年11月25日 10:30"}}}]


def test_handoff_and_reply_reach_wechat_through_the_api_stand_in(chat, store, staff, standin, settings_env):
    from bot.config import Settings
    from bot.wechat_api import make_client
    from bot.worker import OutboxSender

    settings = Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret",
                                      WECHAT_API_BASE=standin.base))
    sender = OutboxSender(store, make_client(settings, store))
    no = number_of(complain(chat))
    sender.run_once()
    to_li = [c for c in standin.sent() if c["touser"] == "o_li"]
    assert to_li and no in to_li[0]["text"]["content"]
    assert any(c["touser"] == "o_leader" for c in standin.sent())
    chat.send(f"回复 {no} 您好，已约谈当事人", user="o_li")
    sender.run_once()
    assert any(c["touser"] == "o_cit" and "已约谈当事人" in c["text"]["content"] for c in standin.sent())


def test_staff_replies_spend_the_citizen_s_five_texts_then_go_as_templates_until_the_citizen_writes(
        chat, store, staff, clock, ctx, standin, settings_env):
    import dataclasses

    from bot.config import Settings
    from bot.wechat_api import make_client
    from bot.worker import OutboxSender
    from knowledge.schema import Notifications

    settings = Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret",
                                      WECHAT_API_BASE=standin.base))
    fields = {"character_string1": "number", "phrase2": "status"}
    standin.templates["TPL-NOTICE"] = list(fields)
    config = Notifications(kind="template", template_id="TPL-NOTICE", fields=fields)
    ctx.kb = dataclasses.replace(ctx.kb, center=ctx.kb.center.model_copy(update={"notifications": config}))
    sender = OutboxSender(store, make_client(settings, store), lambda: ctx.kb.center)
    no = number_of(complain(chat))
    standin.user_wrote("o_cit")
    sender.run_once()
    for i in range(6):
        clock.advance(minutes=1)
        chat.send(f"回复 {no} 第{i + 1}次答复", user="o_li")
        sender.run_once()

    def to_citizen():
        return [m["text"]["content"] for m in standin.accepted() if m["touser"] == "o_cit"]

    assert [t.split("\n")[1] for t in to_citizen()] == [f"第{i}次答复" for i in range(1, 6)]
    assert standin.accepted("/cgi-bin/message/template/send") == [{
        "touser": "o_cit", "template_id": "TPL-NOTICE",
        "data": {"character_string1": {"value": no}, "phrase2": {"value": "有新答复"}}}]
    assert not [c for c in standin.calls if c.body.get("touser") == "o_cit" and not c.accepted]  # no 45047
    chat.send(f"查询 {no}", user="o_cit")  # the citizen writes: five texts may follow again
    standin.user_wrote("o_cit")
    chat.send(f"回复 {no} 第7次答复", user="o_li")
    sender.run_once()
    assert to_citizen()[-1].split("\n")[1] == "第7次答复"


def test_a_handoff_to_a_staff_member_whose_texts_are_used_goes_as_the_template_message(
        chat, store, staff, clock, ctx, standin, settings_env):
    import dataclasses

    from bot.config import Settings
    from bot.store.delivery import DeliveryStore
    from bot.wechat_api import make_client
    from bot.worker import OutboxSender
    from knowledge.schema import Notifications

    settings = Settings.from_env(dict(settings_env, WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret",
                                      WECHAT_API_BASE=standin.base))
    fields = {"character_string1": "number", "thing2": "subject", "phrase3": "status", "time4": "time",
              "thing5": "hint"}
    standin.templates["TPL-NOTICE"] = list(fields)
    config = Notifications(kind="template", template_id="TPL-NOTICE", fields=fields)
    ctx.kb = dataclasses.replace(ctx.kb, center=ctx.kb.center.model_copy(update={"notifications": config}))
    store.save_session("o_li", {})  # 李强 wrote; WeChat has already taken 5 texts to him since
    DeliveryStore(store).spend("o_li")
    no = number_of(complain(chat))
    OutboxSender(store, make_client(settings, store), lambda: ctx.kb.center).run_once()
    assert not [m for m in standin.sent() if m["touser"] == "o_li"]
    assert [m for m in standin.accepted("/cgi-bin/message/template/send") if m["touser"] == "o_li"] == [{
        "touser": "o_li", "template_id": "TPL-NOTICE",
        "data": {"character_string1": {"value": no}, "thing2": {"value": "投诉"}, "phrase3": {"value": "待接单"},
                 "time4": {"value": "2026年11月30日 17:30"}, "thing5": {"value": "回复“待办”查看详情"}}}]


def test_record_dates_are_the_centers_day_whatever_the_servers_time_zone(monkeypatch):
    """A server on UTC (most are) is still on the previous day from 00:00 to 08:00 in China: a record's
    history says the center's day."""
    import time

    from handlers.clock import CST
    from handlers.records import day_text

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        just_after_midnight = dt.datetime(2026, 12, 4, 0, 30, tzinfo=CST).timestamp()
        assert day_text(just_after_midnight) == "12月4日"
    finally:
        monkeypatch.undo()
        time.tzset()
