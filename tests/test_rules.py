"""The center's own rules end to end (issue 15): the whole delegation life cycle, 回避, records that
staff register, appointments, written notices, and the smaller rules; through the signed webhook and
the worker, with staff on WeChat."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.worker import run_jobs
from tests.test_records import add_roster, last, number_of


@pytest.fixture()
def staff(store):
    add_roster(store)
    store.add_staff("刘洋", "o_liu", role="window")
    store.add_staff("陈静", "o_chen", role="window")


def delegation(chat, user="o_del", text="想请你们帮我代办低保申请"):
    chat.send(text, user=user)
    chat.send("王大妈", user=user)
    return number_of(chat.send("13700001111", user=user))


def jobs_of(store, no):
    return [job for job, _ in store.jobs("due") if job.get("no") == no]


# -- the delegation life cycle ------------------------------------------------------------------------
def test_withdrawing_a_delegation_by_number_terminates_it_and_tells_the_delegate(chat, store, staff):
    no = delegation(chat)
    chat.send(f"接单 {no}", user="o_zhao")
    reply = chat.send(f"撤销代办 {no}", user="o_del")
    assert "已按您的意愿撤销" in reply and "编号" not in reply  # no new case was started
    record = store.records.get(no)
    assert record["status"] == "terminated" and record["reason"] == "申请人撤销"
    assert "申请人撤销" in last(store, "o_zhao") and no in last(store, "o_zhao")
    assert len(store.records.of_user("o_del")) == 1
    assert jobs_of(store, no) == []  # its escalations are cancelled


def test_withdrawing_a_delegation_in_plain_words(chat, store, staff):
    no = delegation(chat)
    assert "已按您的意愿撤销" in chat.send("我不想让你们代办了", user="o_del")
    assert store.records.get(no)["reason"] == "申请人撤销"
    assert "没有正在办理的代办申请" in chat.send("撤销代办", user="o_del")


def test_withdrawing_what_cannot_be_withdrawn_changes_nothing(chat, store, staff):
    no = delegation(chat)
    assert "没有找到" in chat.send(f"撤销代办 {no}", user="o_stranger")
    assert "没有找到" in chat.send("撤销代办 DB20990101-0001", user="o_del")
    assert store.records.get(no)["status"] == "new"
    chat.send(f"办结 {no} 已批准", user="o_zhao")
    assert "已办结，不能再撤销" in chat.send(f"撤销代办 {no}", user="o_del")
    assert store.records.get(no)["status"] == "done"


def test_a_delegation_is_due_by_its_matters_promised_time_limit(chat, store, staff, ctx):
    no = delegation(chat)
    record = store.records.get(no)
    assert record["matter"] == "subsistence-allowance"
    expected = ctx.calendar.add_working_days(dt.date(2026, 11, 23), 25)
    assert dt.datetime.fromtimestamp(float(record["due"])).date() == expected


def test_a_delegation_request_with_a_reason_keeps_the_matter(chat, store, staff):
    first = chat.send("想请你们帮我代办低保申请，我腿脚不方便", user="o_leg")
    assert "姓名" in first and "什么事项" not in first
    chat.send("王大妈", user="o_leg")
    no = number_of(chat.send("13700001111", user="o_leg"))
    assert store.records.get(no)["matter"] == "subsistence-allowance"


def test_one_correction_notice_only_with_items_split_on_spaces(chat, store, staff):
    no = delegation(chat)
    chat.send(f"接单 {no}", user="o_zhao")
    chat.send(f"补正 {no} 家庭收入证明 户口簿复印件、残疾证", user="o_zhao")
    notice = last(store, "o_del")
    assert "3项" in notice and "1. 家庭收入证明" in notice and "3. 残疾证" in notice
    second = chat.send(f"补正 {no} 银行卡", user="o_zhao")
    assert "不能再次发出补正通知" in second and "一次性告知" in second
    assert "银行卡" not in last(store, "o_del")
    assert store.records.get(no)["missing"] == ["家庭收入证明", "户口簿复印件", "残疾证"]


def test_staff_are_not_told_a_correction_was_sent_when_it_did_not_reach_the_citizen(chat, store, staff):
    no = delegation(chat)
    store.records.unlink_user("o_del")  # the applicant left the account
    reply = chat.send(f"补正 {no} 家庭收入证明", user="o_zhao")
    assert "已补正" not in reply and "未能通过微信送达" in reply and "电话" in reply


def test_an_extension_waits_for_a_leader_and_the_citizen_hears_the_reason_once_approved(chat, store, staff, clock, ctx):
    no = delegation(chat)
    due = float(store.records.get(no)["due"])
    asked = chat.send(f"延期 {no} 3 需县民政局入户核查", user="o_zhao")
    assert "待中心领导审批" in asked
    assert float(store.records.get(no)["due"]) == due
    assert "同意延期 " + no in last(store, "o_leader")
    assert "延期" not in last(store, "o_del")
    assert "正等待领导审批" in chat.send(f"延期 {no} 5 再延", user="o_zhao")
    assert "延期须由中心领导审批" in chat.send(f"同意延期 {no}", user="o_zhao")
    chat.send(f"同意延期 {no}", user="o_leader")
    assert float(store.records.get(no)["due"]) > due
    told = last(store, "o_del")
    assert "需县民政局入户核查" in told and "3个工作日" in told
    assert "已由张书记批准" in last(store, "o_zhao")
    assert "没有待审批的延期申请" in chat.send(f"同意延期 {no}", user="o_leader")


def test_a_declined_extension_keeps_the_due_date(chat, store, staff):
    no = delegation(chat)
    due = float(store.records.get(no)["due"])
    chat.send(f"延期 {no} 3 材料多", user="o_zhao")
    chat.send(f"不同意延期 {no} 请按时办结", user="o_leader")
    assert float(store.records.get(no)["due"]) == due and not store.records.get(no).get("extension")
    assert "未获张书记批准" in last(store, "o_zhao") and "请按时办结" in last(store, "o_zhao")


# -- 回避: no one handles a complaint about themselves -------------------------------------------------
def test_complaint_naming_the_a_holder_goes_to_b(chat, store, staff):
    chat.send("我要投诉李强，他在窗口对我态度很差", user="o_c1")
    chat.send("张三", user="o_c1")
    done = chat.send("13800138000", user="o_c1")
    no = number_of(done)
    record = store.records.get(no)
    assert record["responder"] == "王芳" and record["avoid"] == ["李强"]
    assert "回避" in done and "由王芳负责" in done
    assert no in last(store, "o_wang") and no not in last(store, "o_li")
    assert no in last(store, "o_leader")
    assert "不能转给李强" in chat.send(f"转办 {no} 李强", user="o_wang")


def test_a_complaint_naming_both_holders_goes_to_the_leaders(chat, store, staff):
    chat.send("投诉李强和王芳互相推诿，谁都不管", user="o_c2")
    chat.send("张三", user="o_c2")
    done = chat.send("13800138000", user="o_c2")
    assert store.records.get(number_of(done))["responder"] == "张书记" and "张书记" in done


def test_a_complaint_naming_a_role_and_a_record_number_avoids_that_records_handler(chat, store, staff):
    no = delegation(chat, user="o_c3")
    chat.send(f"投诉代办员，{no}这件事拖了很久没人管", user="o_c3")
    chat.send("王大妈", user="o_c3")
    ts = number_of(chat.send("13700001111", user="o_c3"))
    assert "赵敏" in store.records.get(ts)["avoid"]


def test_a_fee_complaint_about_a_delegate_is_a_complaint_for_the_leaders(chat, store, staff):
    no = delegation(chat, user="o_c4")
    first = chat.send("代办员收了我50块钱代办费", user="o_c4")
    assert "什么事项" not in first and "姓名" in first
    chat.send("王大妈", user="o_c4")
    done = chat.send("13700001111", user="o_c4")
    ts = number_of(done)
    record = store.records.get(ts)
    assert ts.startswith("TS") and record["type"] == "complaint" and record["responder"] != "赵敏"
    assert ts in last(store, "o_leader") and "领导" in done
    assert len([r for r in store.records.of_user("o_c4") if r["type"] == "delegation"]) == 1
    assert no != ts


# -- smaller rules --------------------------------------------------------------------------------------
def test_a_closed_records_escalations_are_cancelled_and_the_leader_gets_one_message(chat, store, staff, clock, ctx):
    chat.send("我是市报记者，想来中心采访便民服务", user="o_press")
    chat.send("刘记者", user="o_press")
    no = number_of(chat.send("13600000000", user="o_press"))
    assert len([i for i in store.outbox_for_user("o_leader") if no in i.payload.get("content", "")]) == 1
    assert jobs_of(store, no)
    chat.send(f"办结 {no} 已安排接待", user="o_leader")
    assert jobs_of(store, no) == []
    clock.set(dt.datetime(2026, 12, 31, 9, 0))
    run_jobs(ctx)
    assert "红牌" not in last(store, "o_leader")


# -- records staff register ----------------------------------------------------------------------------
def test_staff_register_a_phone_complaint_on_wechat_with_the_same_numbering_and_handoffs(chat, store, staff):
    reply = chat.send("登记 投诉 张三 13800138000 窗口推诿不办事，跑了三趟", user="o_wang")
    no = number_of(reply.replace("已登记：", "编号："))
    record = store.records.get(no)
    assert no.startswith("TS20261123-") and record["registered_by"] == "王芳" and record["openid"] == ""
    assert record["responder"] == "李强" and "电话联系13800138000" in reply
    assert no in last(store, "o_li") and "138****8000" in last(store, "o_li")
    assert no in last(store, "o_leader")
    answered = chat.send(f"回复 {no} 已约谈窗口人员", user="o_li")
    assert "请电话回复" in answered and "13800138000" in answered
    assert store.records.get(no)["callback"] == "1"
    assert any(e["action"] == "未能通过微信送达" for e in store.records.history(no))
    assert "没有找到" in chat.send(f"查询 {no} 1234", user="o_zhangsan")  # wrong digits: not linked
    assert "待接单" in chat.send(f"查询 {no} 8000", user="o_zhangsan")
    assert store.records.get(no)["openid"] == "o_zhangsan"
    chat.send(f"回复 {no} 已约谈窗口人员，向您致歉", user="o_li")
    assert "向您致歉" in last(store, "o_zhangsan") and not store.records.get(no)["callback"]


def test_a_registration_that_is_wrong_is_explained_and_creates_nothing(chat, store, staff):
    assert "登记格式" in chat.send("登记 吵架 张三 13800138000 内容", user="o_wang")
    assert "姓名须为" in chat.send("登记 投诉 Zhang 13800138000 窗口推诿", user="o_wang")
    assert "登记格式" in chat.send("登记 投诉", user="o_wang")
    assert store.records.open_numbers() == []
    chat.send("登记 投诉 张三 13800138000 窗口推诿", user="o_not_staff")  # a citizen: not a staff command
    assert all(store.records.get(n)["openid"] == "o_not_staff" for n in store.records.open_numbers())


def test_a_registered_delegation_follows_its_matter(chat, store, staff):
    reply = chat.send("登记 代办 王大妈 13700001111 腿脚不便，请代办低保申请", user="o_wang")
    no = number_of(reply.replace("已登记：", "编号："))
    record = store.records.get(no)
    assert record["type"] == "delegation" and record["matter"] == "subsistence-allowance"
    assert record["responder"] == "赵敏"


# -- 延时服务 and window appointments ---------------------------------------------------------------
def test_extended_service_is_explained_recorded_and_confirmed_by_the_windows_a_holder(chat, store, staff, clock, ctx):
    first = chat.send("我白天要上班，下班以后能来办理低保吗", user="o_late")
    assert "延时服务" in first and "姓名" in first  # one line, then only what is missing
    chat.send("王大妈", user="o_late")
    done = chat.send("13700001111", user="o_late")
    no = number_of(done)
    record = store.records.get(no)
    assert no.startswith("YY") and record["matter"] == "subsistence-allowance"
    assert record["responder"] == "赵敏" and "民政救助窗口" in done  # civil-affairs window: A 赵敏
    assert no in last(store, "o_zhao") and "确认 " + no in last(store, "o_zhao")
    assert "具体的日期和时间" in chat.send(f"确认 {no}", user="o_zhao")  # 下班以后 is no time yet
    chat.send(f"确认 {no} 11月25日18:00", user="o_zhao")
    told = last(store, "o_late")
    assert "已确认：11月25日18:00" in told and "民政救助窗口" in told
    clock.set(dt.datetime(2026, 11, 24, 16, 1))
    run_jobs(ctx)
    reminder = last(store, "o_late")
    assert "明天11月25日18:00" in reminder and "户口簿" in reminder
    clock.set(dt.datetime(2026, 11, 25, 19, 5))
    run_jobs(ctx)
    assert "评价" in last(store, "o_late") and store.records.get(no)["status"] == "done"
    assert "谢谢您的评价" in chat.send("1", user="o_late")
    assert store.records.get(no)["rating_label"] == "非常满意"


def test_an_appointments_messages_carry_its_number_time_and_a_short_status_for_a_template_message(
        chat, store, staff, clock, ctx):
    chat.send("我白天要上班，下班以后能来办理低保吗", user="o_late")
    chat.send("王大妈", user="o_late")
    no = number_of(chat.send("13700001111", user="o_late"))
    chat.send(f"确认 {no} 11月25日18:00", user="o_zhao")
    at = dt.datetime(2026, 11, 25, 18, 0, tzinfo=clock.now().tzinfo).timestamp()
    clock.set(dt.datetime(2026, 11, 24, 16, 1))
    run_jobs(ctx)
    clock.set(dt.datetime(2026, 11, 25, 19, 5))
    run_jobs(ctx)
    notices = [i.payload.get("notice") for i in store.outbox_for_user("o_late")]
    notices = [n for n in notices if n]  # the replies to the form carry none
    assert [(n["status"], n["kind"]) for n in notices] == [("预约成功", "progress"), ("明日办理", "reminder"),
                                                           ("待评价", "reminder")]
    assert all(n["number"] == no and "预约办事" in n["subject"] for n in notices)
    assert notices[0]["time"] == notices[1]["time"] == at  # the appointment's time, not when it was sent


def test_an_appointment_goes_to_the_windows_b_holder_when_a_is_away(chat, store, staff, clock):
    store.set_away("赵敏", (clock.now() + dt.timedelta(days=3)).timestamp())
    chat.send("能不能约个延时服务", user="o_b")
    chat.send("低保申请", user="o_b")
    chat.send("周六上午9点", user="o_b")
    chat.send("王大妈", user="o_b")
    no = number_of(chat.send("13700001111", user="o_b"))
    assert store.records.get(no)["responder"] == "王芳"
    chat.send(f"改约 {no} 周五下午5点半", user="o_wang")
    assert "建议改在11月27日17:30" in last(store, "o_b")
    assert "由王芳负责" in chat.send(f"确认 {no}", user="o_li")


# -- written notices: window applications ---------------------------------------------------------------
def test_an_accepted_application_gets_a_printable_promise_notice_and_progress_on_wechat(chat, store, staff, client, ctx):
    reply = chat.send("受理 低保 王大妈 13700001111", user="o_zhao")
    no = number_of(reply.replace("已受理：", "编号："))
    record = store.records.get(no)
    assert no.startswith("BJ") and record["responder"] == "赵敏" and record["days"] == "25"
    expected = ctx.calendar.add_working_days(dt.date(2026, 11, 23), 25)
    url = reply[reply.index("https://"):].split()[0]
    page = client.get(url.replace("https://bot.example.cn", ""))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "承诺通知单" in html and no in html and "最低生活保障" in html and "25个工作日" in html
    assert f"{expected.month}月{expected.day}日前" in html
    assert client.get(f"/application/{no}?k=wrong").status_code == 404
    assert "没有找到" in chat.send(f"查询 {no}", user="o_dama")
    assert "没有找到" in chat.send(f"查询 {no} 0000", user="o_dama")
    detail = chat.send(f"查询 {no} 1111", user="o_dama")
    assert "办理中" in detail or "待接单" in detail
    chat.send(f"办结 {no} 已审批通过", user="o_zhao")
    assert "已审批通过" in last(store, "o_dama")


def test_a_refusal_gets_a_written_reason_once_and_is_registered(chat, store, staff, client):
    reply = chat.send("不予受理 低保 王大妈 13700001111 家庭人均收入高于当地低保标准", user="o_zhao")
    no = number_of(reply.replace("已不予受理：", "编号："))
    record = store.records.get(no)
    assert record["status"] == "terminated" and "家庭人均收入高于" in record["reason"]
    html = client.get(reply[reply.index("https://"):].split()[0].replace("https://bot.example.cn", "")).get_data(as_text=True)
    assert "不予受理通知书" in html and "家庭人均收入高于当地低保标准" in html
    ledger = store.referrals(0)
    assert any(e["kind"] == "refusal" and no in e["reason"] for e in ledger)
    accepted = number_of(chat.send("受理 低保 李大爷 13700002222", user="o_zhao").replace("已受理：", "编号："))
    chat.send(f"退回 {accepted} 经入户核查不符合条件", user="o_zhao")
    assert "已终止，不能再操作" in chat.send(f"退回 {accepted} 再退一次", user="o_zhao")  # once
    assert len([e for e in store.referrals(0) if accepted in e["reason"]]) == 1
    assert "即办件" in chat.send("受理 就业登记 王大妈 13700001111", user="o_wang")
    assert "没有找到事项" in chat.send("受理 火星移民 王大妈 13700001111", user="o_wang")


def test_who_handles_a_matter_answers_its_window_and_ab_holders(chat, staff):
    reply = chat.send("低保是谁负责的", user="o_who")
    assert "民政救助窗口" in reply and "A岗：赵敏" in reply and "B岗：王芳" in reply


def test_an_outside_delegation_visit_goes_to_the_leaders_as_a_visit_record(chat, store, staff):
    chat.send("外地考察团下周想来中心参观", user="o_visit")
    chat.send("刘主任", user="o_visit")
    no = number_of(chat.send("13600000000", user="o_visit"))
    assert no.startswith("LF") and store.records.get(no)["responder"] == "张书记"
    assert no in last(store, "o_leader")


def test_a_booking_is_rated_after_it_took_place(chat, store, staff, clock, ctx):
    reply = chat.send("预约 健身房 明天 下午3点 张三 13800138000", user="o_gym")
    assert "预约编号" in reply
    code = reply.split("预约编号：")[1].split()[0]
    clock.set(dt.datetime(2026, 11, 24, 16, 1))
    run_jobs(ctx)
    assert "评价" in last(store, "o_gym") and code in last(store, "o_gym")
    assert "谢谢您的评价" in chat.send("2", user="o_gym")
    assert store.ratings.get(code)["label"] == "满意"


def test_a_cancelled_booking_is_not_rated(chat, store, staff, clock, ctx):
    reply = chat.send("预约 健身房 明天 下午3点 张三 13800138000", user="o_gym2")
    code = reply.split("预约编号：")[1].split()[0]
    chat.send(f"取消预约 {code}", user="o_gym2")
    clock.set(dt.datetime(2026, 11, 24, 16, 1))
    run_jobs(ctx)
    assert "评价" not in last(store, "o_gym2") and store.ratings.get(code) is None


def test_staff_commands_of_the_rules_refuse_bad_input_politely_and_change_nothing(chat, store, staff):
    no = delegation(chat, user="o_bad")
    assert "没有找到" in chat.send("确认 YY20990101-0001 明天下午3点", user="o_zhao")
    assert "不是预约办事记录" in chat.send(f"确认 {no} 明天下午3点", user="o_zhao")
    assert "不是窗口办件" in chat.send(f"退回 {no} 不符合条件", user="o_zhao")
    assert "由赵敏负责" in chat.send(f"补正 {no} 身份证", user="o_li")
    assert "没有待审批的延期申请" in chat.send(f"同意延期 {no}", user="o_leader")
    record = store.records.get(no)
    assert record["status"] == "new" and not record.get("missing") and not record.get("extension")


def test_withdrawal_words_during_a_delegation_request_drop_the_form(chat, store, staff):
    chat.send("我想找人代办", user="o_half")
    reply = chat.send("算了不要你们代办了", user="o_half")
    assert "取消" in reply and store.records.of_user("o_half") == []
    assert store.load_session("o_half").get("flow") is None
