"""Booking the center's rooms and equipment through the signed webhook, with every rule enforced."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.worker import run_jobs
from handlers.slots import Rules

CODE = re.compile(r"预约编号：([A-Z]+\d{8,})")
ONE_SHOT = "预约 健身房 明天 下午3点 张三 13800138000"


def at(clock, *args):
    clock.set(dt.datetime(*args))


def code_of(reply):
    m = CODE.search(reply)
    assert m, reply
    return m[1]


def test_booking_in_one_message_when_everything_is_given(chat, clock):
    reply = chat.send(ONE_SHOT)  # Monday 2026-11-23 09:30
    assert "预约成功" in reply
    assert "健身房" in reply and "11月24日" in reply and "15:00-16:00" in reply
    assert "园区管委会五楼" in reply and "取消预约 " + code_of(reply) in reply


def test_booking_step_by_step_with_numbered_choices(chat, store):
    ask_resource = chat.send("我想预约", user="o_steps")
    assert "1. 健身房" in ask_resource and "会议室" in ask_resource
    ask_day = chat.send("1", user="o_steps")
    assert "哪一天" in ask_day and "1. 11月23日" in ask_day
    ask_slot = chat.send("2", user="o_steps")  # 11月24日
    assert "剩10个" in ask_slot and "下午14:00-15:00" in ask_slot
    assert "请问预约人的姓名" in chat.send("1", user="o_steps")
    assert "联系电话" in chat.send("李四", user="o_steps")
    done = chat.send("13900001111", user="o_steps")
    assert "预约成功" in done and "11月24日" in done and "09:00-10:00" in done and "李四" in done


def test_an_invalid_phone_is_asked_again(chat):
    chat.send("预约 健身房 明天 下午3点 张三", user="o_ph")
    assert "联系电话" in chat.send("12345", user="o_ph")


def test_booking_refuses_gym_less_than_half_a_day_ahead(chat, clock):
    at(clock, 2026, 11, 23, 9, 30)
    reply = chat.send("预约 健身房 今天 上午11点 张三 13800138000")
    assert "提前半天" in reply and "来不及" in reply
    assert "下午14:00-15:00" in reply  # the nearest valid alternatives: this afternoon
    assert "上午10:00" not in reply and "预约成功" not in reply


def test_reading_room_needs_only_half_an_hour(chat, clock):
    at(clock, 2026, 11, 23, 9, 30)
    assert "预约成功" in chat.send("预约 阅览室 今天 上午10点 张三 13800138000")
    refused = chat.send("预约 阅览室 今天 上午9点 王五 13800138001", user="o_late")
    assert "预约成功" not in refused


def test_remote_education_needs_three_working_days(chat, clock):
    at(clock, 2026, 11, 23, 9, 30)  # Monday
    refused = chat.send("预约 远程教育设备 周三 上午 张三 13800138000")
    assert "提前三个工作日" in refused and "11月26日" in refused  # Thursday is offered
    assert "预约成功" in chat.send("预约 远程教育设备 周四 上午 张三 13800138000", user="o_thu")


def test_working_day_notice_skips_the_weekend(kb, ctx):
    rules = Rules(kb.resources["meeting-room"], ctx.calendar, kb.center.hours)
    friday = dt.datetime(2026, 11, 27, 16, 0, tzinfo=ctx.clock.now().tzinfo)
    assert rules.next_days(friday)[0] == dt.date(2026, 11, 30)  # Monday: one working day ahead


def test_a_public_holiday_is_refused_with_the_next_open_days(chat, clock):
    at(clock, 2026, 9, 28, 10, 0)
    reply = chat.send("预约 健身房 10月2日 上午9点 张三 13800138000")
    assert "国庆节" in reply and "休息" in reply
    assert "10月8日" in reply  # the first working day after the break
    assert "预约成功" not in reply


def test_a_make_up_saturday_can_be_booked(chat, clock):
    at(clock, 2026, 10, 8, 10, 0)
    assert "预约成功" in chat.send("预约 健身房 10月10日 上午9点 张三 13800138000")


def test_the_lunch_break_is_refused(chat):
    reply = chat.send("预约 健身房 明天 12点半 张三 13800138000")
    assert "不在开放时间" in reply and "中午休息" in reply and "下午14:00-15:00" in reply


def test_a_full_slot_says_full_and_offers_the_nearest_free_slots(chat, clock):
    at(clock, 2026, 11, 23, 9, 30)
    assert "预约成功" in chat.send("预约 远程教育设备 周四 上午 张三 13800138000", user="o_first")
    reply = chat.send("预约 远程教育设备 周四 上午 李四 13900001111", user="o_second")
    assert "已约满" in reply and "下午14:00-17:30" in reply


def test_my_bookings_and_cancel_by_code_frees_the_seat_at_once(chat, store):
    code = code_of(chat.send("预约 远程教育设备 周四 上午 张三 13800138000", user="o_c"))
    assert "已约满" in chat.send("预约 远程教育设备 周四 上午 李四 13900001111", user="o_other")
    chat.send("取消", user="o_other")
    mine = chat.send("我的预约", user="o_c")
    assert code in mine and "远程教育设备" in mine
    assert "已为您取消" in chat.send(f"取消预约 {code}", user="o_c")
    assert "我的预约" in chat.send("我的预约", user="o_c") or "没有尚未使用" in chat.send("我的预约", user="o_c")
    assert "预约成功" in chat.send("预约 远程教育设备 周四 上午 李四 13900001111", user="o_other")


def test_cancel_by_picking_from_the_list(chat):
    code = code_of(chat.send(ONE_SHOT, user="o_pickc"))
    other = code_of(chat.send("预约 阅览室 明天 上午10点 张三 13800138000", user="o_pickc"))
    listed = chat.send("取消预约", user="o_pickc")
    assert "回复序号" in listed and code in listed and other in listed
    assert other in chat.send("1", user="o_pickc")  # the soonest first


def test_a_single_booking_is_shown_with_how_to_cancel_it_not_as_a_list_of_one(chat):
    code = code_of(chat.send(ONE_SHOT, user="o_pick1"))
    listed = chat.send("取消预约", user="o_pick1")
    assert f"取消预约 {code}" in listed and "1." not in listed


def test_someone_elses_code_cannot_be_cancelled(chat):
    code = code_of(chat.send(ONE_SHOT, user="o_owner"))
    assert "没有找到" in chat.send(f"取消预约 {code}", user="o_thief")


def test_cancelling_after_the_deadline_is_refused(chat, clock):
    code = code_of(chat.send(ONE_SHOT, user="o_dl"))
    at(clock, 2026, 11, 24, 14, 30)  # half an hour before 15:00; the gym's deadline is an hour
    assert "来不及在线取消" in chat.send(f"取消预约 {code}", user="o_dl")


def test_one_booking_per_resource_per_day(chat):
    first = code_of(chat.send(ONE_SHOT, user="o_day"))
    reply = chat.send("预约 健身房 明天 下午4点 张三 13800138000", user="o_day")
    assert "每人每天限约一次" in reply and first in reply


def test_at_most_three_open_bookings(chat):
    for day in ("明天", "后天", "周四"):
        assert "预约成功" in chat.send(f"预约 健身房 {day} 下午3点 张三 13800138000", user="o_many")
    assert "最多同时保留3个" in chat.send("预约 健身房 周五 下午3点 张三 13800138000", user="o_many")


def test_a_retried_booking_message_books_once(chat, store):
    xml = chat.peer.xml("o_retry", "text", ONE_SHOT, msg_id=31337)
    first = chat.peer.read_reply(chat.post(xml).get_data(as_text=True))["Content"]
    store.r.delete(*store.r.keys("centerbot:{u:o_retry}:seen:*"))  # even past the reply cache
    second = chat.peer.read_reply(chat.post(xml).get_data(as_text=True))["Content"]
    assert code_of(first) == code_of(second)
    assert len(store.bookings.of_user("o_retry", 0)) == 1


@pytest.fixture()
def staff(store):
    store.add_staff("李强", "o_staff_li", role="window")
    store.add_staff("王芳", "o_staff_wang", role="window")


def test_meeting_room_waits_for_approval_and_the_citizen_is_told(chat, store, staff):
    reply = chat.send("预约 会议室 明天 下午 张三 13800138000", user="o_meet")
    assert "待审核" in reply and "预约成功" not in reply
    code = code_of(reply)
    told_staff = store.outbox_for_user("o_staff_li")[-1].payload["content"]
    assert code in told_staff and "同意 " + code in told_staff and "13800138000" not in told_staff
    assert "已同意" in chat.send(f"同意 {code}", user="o_staff_li")
    told = store.outbox_for_user("o_meet")[-1].payload["content"]
    assert "审核通过" in told and code in told


def test_meeting_room_declined_with_a_reason_frees_the_room(chat, store, staff):
    code = code_of(chat.send("预约 会议室 明天 下午 张三 13800138000", user="o_m1"))
    assert "已拒绝" in chat.send(f"拒绝 {code} 当天有上级检查", user="o_staff_li")
    assert "当天有上级检查" in store.outbox_for_user("o_m1")[-1].payload["content"]
    assert "待审核" in chat.send("预约 会议室 明天 下午 李四 13900001111", user="o_m2")


def test_staff_commands_are_refused_to_citizens(chat, staff):
    code = code_of(chat.send("预约 会议室 明天 下午 张三 13800138000", user="o_m3"))
    assert "仅供中心工作人员" in chat.send(f"同意 {code}", user="o_m3")


def test_staff_are_told_of_new_bookings_and_cancellations_with_masked_phones(chat, store, staff):
    code = code_of(chat.send(ONE_SHOT, user="o_n"))
    chat.send(f"取消预约 {code}", user="o_n")
    texts = [i.payload["content"] for i in store.outbox_for_user("o_staff_wang")]
    assert any("新预约" in t and code in t and "138****8000" in t for t in texts)
    assert any("预约取消" in t and code in t for t in texts)
    assert not any("13800138000" in t or "张三" in t for t in texts)


def test_no_shows_stop_online_booking(chat, store, staff, clock):
    codes = []
    for day in ("明天", "后天", "周四"):
        codes.append(code_of(chat.send(f"预约 阅览室 {day} 上午10点 赵六 13700000000", user="o_noshow")))
    assert "还没有开始" in chat.send(f"爽约 {codes[0]}", user="o_staff_wang")
    at(clock, 2026, 11, 26, 11, 0)  # Thursday, after all three began
    for code in codes:
        assert "记录爽约" in chat.send(f"爽约 {code}", user="o_staff_wang")
    assert "未到场已达3次" in chat.send("预约 阅览室 周五 上午10点 赵六 13700000000", user="o_noshow")


def test_a_reminder_goes_out_before_the_booking(chat, ctx, store, clock):
    chat.send(ONE_SHOT, user="o_rem")  # 11-24 15:00: the reminder is due at 13:00
    at(clock, 2026, 11, 24, 12, 0)
    assert run_jobs(ctx) == 0
    at(clock, 2026, 11, 24, 13, 0)
    assert run_jobs(ctx) == 1
    assert run_jobs(ctx) == 0  # once
    assert "温馨提醒" in store.outbox_for_user("o_rem")[-1].payload["content"]


def test_a_cancelled_booking_gets_no_reminder(chat, ctx, store, clock):
    code = code_of(chat.send(ONE_SHOT, user="o_norem"))
    chat.send(f"取消预约 {code}", user="o_norem")
    at(clock, 2026, 11, 24, 13, 0)
    assert run_jobs(ctx) == 0


def test_every_menu_booking_key_works(chat):
    assert "请回复序号" in chat.event("CLICK", key="BOOK", user="o_menu")
    assert "没有尚未使用的预约" in chat.event("CLICK", key="MY_BOOKINGS", user="o_menu")


def test_a_new_question_in_the_middle_of_the_form_is_answered_and_the_form_kept(chat, store):
    chat.send("预约 健身房 明天 下午3点", user="o_switch")
    assert store.load_session("o_switch")["flow"] == "booking.form"
    reply = chat.send("党费怎么交", user="o_switch")
    assert "党费" in reply and "取消" in reply and "姓名" in reply
    assert store.load_session("o_switch").get("flow") == "booking.form"
    assert "电话" in chat.send("张三", user="o_switch")
